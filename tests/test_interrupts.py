"""Killed and concurrent runs: SIGKILL `sync` and `bump` at many seeded points, run two at once.

Kill points: for each command, CHARTKEEPER_KILL_POINTS (default 50) points chosen by
CHARTKEEPER_KILL_SEED. `sync` is killed after a random delay drawn across the measured length
of an uninterrupted run (its archive download is slowed down on the loopback server so the
window is wide); `bump` alternately at a random delay and at a randomly chosen named stage of
its own test hook (CHARTKEEPER_TEST_PAUSE_AT). After every kill:

* the user's checkout, index, HEAD and current branch are byte-identical (bump), and every
  written item -- the lock, each vendored folder, the tree-checksum manifests -- is either
  exactly as before or exactly as after a successful run (sync): never half-written;
* the next run succeeds, ends in exactly the state of an uninterrupted run, and leaves no
  staging folder, temp file or extra git worktree behind.

The first QUICK_POINTS points of each command run in the quick suite (`scripts/test.sh`); the
others are marked `slow` and run in CI and in `scripts/reliability.sh`.

Concurrency: two chartkeeper processes on one deployment; the second waits for the first or
refuses with a clear message, and the end state is that of one clean run."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from chartkeeper.fsutil import is_temp_file
from tests.support import faults as F
from tests.support.deployment import demo_chart_versions, make_deployment, publish
from tests.support.faults import FaultyRepoServer
from tests.support.harness import git, git_state, invoke_cli, leftovers, popen_cli, run_cli, tree_state

pytestmark = pytest.mark.reliability

SEED = int(os.environ.get("CHARTKEEPER_KILL_SEED", "20261126"))
POINTS = int(os.environ.get("CHARTKEEPER_KILL_POINTS", "50"))
QUICK_POINTS = 4  # the first points of each command run in the quick suite; the rest are marked slow (CI runs all)


def _points() -> list:
    return [p if p < QUICK_POINTS else pytest.param(p, marks=pytest.mark.slow) for p in range(POINTS)]

EXT = Path("helmfile/charts/external")
SLOW_ARCHIVE = 0.4  # seconds the loopback server takes to send a chart archive during killed runs
BUMP_STAGES = ["resolved", "worktree", "chart-staged", "staged", "journal-written", "swapping", "committed", "verified"]


@pytest.fixture(autouse=True)
def _no_index_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")
    monkeypatch.setenv("CHARTKEEPER_HELMFILE", "none")  # the embedded engine renders; no helmfile binary needed


def _items(deploy: Path) -> dict[str, object]:
    """What sync writes, item by item: the lock (fetch time masked), each vendored folder, the manifests."""
    ext = deploy / EXT
    items: dict[str, object] = {}
    lock = ext / "versions.lock"
    items["versions.lock"] = re.sub(r"(?m)^(\s*fetched:).*$", r"\1 <time>", lock.read_text()) if lock.exists() else None
    if ext.is_dir():
        for p in sorted(ext.iterdir()):
            if p.name.startswith(".chartkeeper-"):
                continue  # hidden staging work: leftovers, checked separately after the re-run
            if p.is_dir():
                # an atomic write's temp file (`.demo.sums.<pid>-<random>.tmp`) is not an item: a
                # kill between its write and its rename leaves it, the re-run sweeps it (checked below)
                items[p.name] = {k: v for k, v in tree_state(p, exclude=()).items() if not is_temp_file(Path(k).name)}
    return items


def _kill(proc: subprocess.Popen[bytes]) -> bool:
    """SIGKILL the whole process group; True when it was still running (a real kill point)."""
    alive = proc.poll() is None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return alive


@dataclass
class SyncWorld:
    server: FaultyRepoServer
    templates: dict[str, Path]  # scenario -> deployment before the sync
    after: dict[str, dict[str, object]]  # scenario -> items after an uninterrupted sync
    before: dict[str, dict[str, object]]
    duration: dict[str, float]  # seconds an uninterrupted, slowed-down sync takes
    tail: dict[str, float]  # of which after the archive's last byte (unpack, checksum, swap, lock)
    base: Path  # the committed deployment with demo 1.0.0 vendored


def _edit_lock_to(deploy: Path, version: str) -> None:
    """What a user does by hand: move the pin, drop the digests so sync pins the new archive."""
    lock = deploy / EXT / "versions.lock"
    text = lock.read_text().replace("1.0.0", version)
    lock.write_text("".join(ln for ln in text.splitlines(True) if not ln.strip().startswith(("digest:", "treeChecksum:", "fetched:"))))


@pytest.fixture(scope="module")
def sync_world(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("kill-sync")
    repo = tmp / "repo"
    repo.mkdir()
    publish(repo, demo_chart_versions(tmp / "src", "demo", {"1.0.0": {}, "1.1.0": {"tag": "1.1.0"}}))
    with FaultyRepoServer(repo) as server:
        base = make_deployment(tmp / "base", server.url, {"demo": "1.0.0"})
        templates: dict[str, Path] = {}
        t = tmp / "edited-lock"
        shutil.copytree(base, t, symlinks=True)
        _edit_lock_to(t, "1.1.0")
        templates["edited lock"] = t
        t = tmp / "wiped-folder"
        shutil.copytree(base, t, symlinks=True)
        shutil.rmtree(t / EXT / "demo-1.0.0")
        templates["wiped folder"] = t
        before, after, duration, tail = {}, {}, {}, {}
        for name, t in templates.items():
            ref = tmp / f"ref-{name.replace(' ', '-')}"
            shutil.copytree(t, ref, symlinks=True)
            before[name] = _items(ref)
            sent = threading.Event()
            server.always(re.compile(r"\.tgz$"), F.trickle(SLOW_ARCHIVE, sent=sent))
            start = time.monotonic()
            proc = popen_cli(["sync"], cwd=ref, env={"CHARTKEEPER_CACHE_DIR": str(tmp / f"cache-{ref.name}")})
            assert sent.wait(120)
            done = time.monotonic()
            _, err = proc.communicate(timeout=120)
            duration[name] = time.monotonic() - start
            tail[name] = time.monotonic() - done
            assert proc.returncode == 0, err.decode()
            after[name] = _items(ref)
            assert after[name] != before[name]
        server.clear()
        yield SyncWorld(server, templates, after, before, duration, tail, base)


@pytest.mark.parametrize("point", _points())
def test_sync_killed_at_a_seeded_point(sync_world: SyncWorld, point: int, tmp_path: Path, reliability) -> None:
    rng = random.Random(f"{SEED}/sync/{point}")
    scenario = sorted(sync_world.templates)[(point // 2) % len(sync_world.templates)]
    deploy = tmp_path / "deploy"
    shutil.copytree(sync_world.templates[scenario], deploy, symlinks=True)
    env = {"CHARTKEEPER_CACHE_DIR": str(tmp_path / "cache")}
    head = (git(deploy, "rev-parse", "HEAD"), git(deploy, "symbolic-ref", "HEAD"))
    # Half the points fall anywhere from start-up to the end of the download, half in the short
    # stretch after the archive's last byte (unpack, checksum, swap, lock write), timed from the
    # server's side so a loaded machine does not push them past the end of the run.
    after_download = point % 2 == 1
    frac = rng.random()
    with reliability.case("kill", f"sync ({scenario}; {'after' if after_download else 'before'} the download)") as row:
        for attempt in range(4):  # a kill that came too late is not a kill point: try earlier
            if attempt:
                shutil.rmtree(deploy)
                shutil.copytree(sync_world.templates[scenario], deploy, symlinks=True)
            sent = threading.Event()
            sync_world.server.always(re.compile(r"\.tgz$"), F.trickle(SLOW_ARCHIVE, sent=sent))
            proc = popen_cli(["sync"], cwd=deploy, env=env)
            if after_download:
                sent.wait(120)
                delay = frac * sync_world.tail[scenario] / (2**attempt)
            else:
                delay = frac * (sync_world.duration[scenario] - sync_world.tail[scenario]) / (2**attempt)
            time.sleep(delay)
            if _kill(proc):
                break
        else:
            raise AssertionError("sync always finished before the kill")
        row.update(delay=round(delay, 3), attempts=attempt + 1)
        got = _items(deploy)
        for item in set(got) | set(sync_world.after[scenario]) | set(sync_world.before[scenario]):
            assert got.get(item) in (sync_world.before[scenario].get(item), sync_world.after[scenario].get(item)), (
                f"{item} is neither as before nor as after a sync (killed after {delay:.2f}s)"
            )
        assert (git(deploy, "rev-parse", "HEAD"), git(deploy, "symbolic-ref", "HEAD")) == head
        sync_world.server.clear()
        again = invoke_cli(["sync"], cwd=deploy, env=env)
        assert again.returncode == 0, again.stderr
        assert _items(deploy) == sync_world.after[scenario]
        assert leftovers(deploy) == []
        if point % 10 == 0:  # and chartkeeper agrees (the byte comparison above is the stronger check)
            verify = invoke_cli(["verify"], cwd=deploy, env=env)
            # no chart is unclean: "verified N chart(s): clean", or "0 chart(s) not clean, K unowned folder(s)"
            # when the scenario leaves the previous version's folder behind
            clean = "chart(s): clean" in verify.stderr or "0 chart(s) not clean" in verify.stderr
            assert "demo (demo-1." in verify.stdout and clean, verify.stdout + verify.stderr


# --- bump ------------------------------------------------------------------------------------


@dataclass
class BumpWorld:
    server: FaultyRepoServer
    template: Path
    duration: float
    branch: str
    tree: dict[str, str]  # the bump branch's vendored folder and lock after an uninterrupted run


def _branch_payload(deploy: Path, branch: str) -> dict[str, str]:
    """The parts of the bump commit that must be exactly right: new vendored folder, lock (fetch time masked), helmfile."""
    out: dict[str, str] = {}
    listing = git(deploy, "ls-tree", "-r", branch, "--", str(EXT), "helmfile/helmfile.yaml")
    for line in listing.splitlines():
        meta, path = line.split("\t", 1)
        out[path] = meta
    lock = git(deploy, "show", f"{branch}:{EXT}/versions.lock")
    out[f"{EXT}/versions.lock"] = re.sub(r"(?m)^(\s*fetched:).*$", r"\1 <time>", lock)
    return out


@pytest.fixture(scope="module")
def bump_world(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("kill-bump")
    repo = tmp / "repo"
    repo.mkdir()
    publish(repo, demo_chart_versions(tmp / "src", "demo", {"1.0.0": {"tag": "1.0.0"}, "1.1.0": {"tag": "1.1.0"}}))
    with FaultyRepoServer(repo) as server:
        template = make_deployment(tmp / "template", server.url, {"demo": "1.0.0"}, constraint={"demo": "~1.0 || ~1.1"})
        (template / "notes.txt").write_text("untracked notes the user is writing\n")
        ref = tmp / "ref"
        shutil.copytree(template, ref, symlinks=True)
        start = time.monotonic()
        proc = run_cli(["bump", "demo"], cwd=ref, env={"CHARTKEEPER_CACHE_DIR": str(tmp / "cache-ref")})
        duration = time.monotonic() - start
        assert proc.returncode == 0, proc.stderr
        branch = "chartkeeper/demo-1.1.0"
        yield BumpWorld(server, template, duration, branch, _branch_payload(ref, branch))


def _pause_and_kill(deploy: Path, stage: str, env: dict[str, str]) -> bool:
    proc = popen_cli(["bump", "demo"], cwd=deploy, env={**env, "CHARTKEEPER_TEST_PAUSE_AT": stage})
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), False)
    seen = b""
    deadline = time.monotonic() + 120
    while f"paused at {stage}".encode() not in seen:
        chunk = proc.stderr.read()
        if chunk:
            seen += chunk
        if proc.poll() is not None:
            seen += proc.stderr.read() or b""
            raise AssertionError(f"bump exited {proc.returncode} before stage {stage}: {seen.decode(errors='replace')}")
        assert time.monotonic() < deadline, f"bump never reached {stage}"
        time.sleep(0.02)
    return _kill(proc)


@pytest.mark.parametrize("point", _points())
def test_bump_killed_at_a_seeded_point(bump_world: BumpWorld, point: int, tmp_path: Path, reliability) -> None:
    rng = random.Random(f"{SEED}/bump/{point}")
    deploy = tmp_path / "deploy"
    shutil.copytree(bump_world.template, deploy, symlinks=True)
    env = {"CHARTKEEPER_CACHE_DIR": str(tmp_path / "cache")}
    before = git_state(deploy)
    if point % 2 == 0:
        how, stage, delay = "stage", rng.choice(BUMP_STAGES), 0.0
    else:
        how, stage, delay = "delay", "", rng.uniform(0.0, bump_world.duration)
    with reliability.case("kill", f"bump (at a {'named stage' if how == 'stage' else 'random moment'})",
                          stage=stage, delay=round(delay, 3)) as row:
        if how == "stage":
            row["killed_running"] = _pause_and_kill(deploy, stage, env)
        else:
            for attempt in range(4):  # too late is not a kill point: try earlier
                if attempt:
                    shutil.rmtree(deploy)
                    shutil.copytree(bump_world.template, deploy, symlinks=True)
                proc = popen_cli(["bump", "demo"], cwd=deploy, env=env)
                time.sleep(delay / (2**attempt))
                if _kill(proc):
                    break
            else:
                raise AssertionError("bump always finished before the kill")
            row["killed_running"] = True
            row["attempts"] = attempt + 1
        assert git_state(deploy) == before, f"the checkout changed (killed at {stage or f'{delay:.2f}s'})"
        branches = git(deploy, "branch", "--list", "chartkeeper/*").split()
        if bump_world.branch in branches and git(deploy, "rev-parse", bump_world.branch) != git(deploy, "rev-parse", "HEAD"):
            # a branch that exists and moved must carry the whole upgrade, never part of it
            assert _branch_payload(deploy, bump_world.branch) == bump_world.tree
        again = invoke_cli(["bump", "demo", "--json"], cwd=deploy, env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert json.loads(again.stdout)["status"] in ("bumped", "exists")
        assert git_state(deploy) == before
        assert _branch_payload(deploy, bump_world.branch) == bump_world.tree
        assert git(deploy, "rev-list", "--count", f"HEAD..{bump_world.branch}").strip() == "1"
        assert git(deploy, "worktree", "list", "--porcelain").count("worktree ") == 1
        assert leftovers(deploy) == []


# --- two processes at once --------------------------------------------------------------------

PAIRS = [("sync", "sync"), ("sync", "add"), ("bump", "sync"), ("bump", "bump"), ("sync", "bump")]
ARGV = {
    "sync": ["sync", "--force"],  # re-vendors, so it holds the deployment while it downloads
    "add": ["add", "other", "--chart", "demo", "--repo", "{url}", "--version", "1.1.0"],
    "bump": ["bump", "demo", "1.1.0"],
}


@pytest.mark.parametrize("first,second", PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
def test_two_processes_never_interleave(sync_world: SyncWorld, first: str, second: str, tmp_path: Path, reliability) -> None:
    deploy = tmp_path / "deploy"
    shutil.copytree(sync_world.base, deploy, symlinks=True)
    url = sync_world.server.url
    env = {"CHARTKEEPER_CACHE_DIR": str(tmp_path / "cache")}
    with reliability.case("concurrency", f"{first} while {second} runs"):
        # the first holds the deployment for a few seconds: its archive download is slow
        sync_world.server.always(re.compile(r"\.tgz$"), F.trickle(3.0))
        a = popen_cli([x.replace("{url}", url) for x in ARGV[first]], cwd=deploy, env=env)
        time.sleep(1.0)
        b = run_cli([x.replace("{url}", url) for x in ARGV[second]], cwd=deploy, env=env, timeout=120)
        out_a, err_a = a.communicate(timeout=120)
        sync_world.server.clear()
        if b.returncode != 0:
            # refused: one clear line, exit 2, and nothing of its own written
            lines = [ln for ln in b.stderr.splitlines() if ln.startswith("error:")]
            assert b.returncode == 2 and len(lines) == 1, b.stderr
            assert "another chartkeeper" in lines[0] or "locked" in lines[0] or "in progress" in lines[0], lines[0]
        assert a.returncode == 0, err_a.decode()
        assert leftovers(deploy) == []
        verify = invoke_cli(["verify"], cwd=deploy, env=env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
