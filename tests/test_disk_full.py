"""A full disk: the deployment lives on a small tmpfs that the test fills up, and the real CLI runs.

Each run must fail with one `error:` line that says "no space left on <path>" (the path tells
which file system filled up), exit 2, leave the checkout as it was and no staging folder,
temp file, worktree or branch behind; once space is freed, the same command succeeds.

Mounting needs root (CI runs the suite as root); elsewhere these tests are skipped, saying why."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from chartkeeper.fsutil import free_bytes
from tests.support.charts import write_chart
from tests.support.deployment import demo_chart_versions, make_deployment, publish
from tests.support.harness import assert_clean_failure, git, git_state, leftovers, invoke_cli, user_state

pytestmark = pytest.mark.reliability

MiB = 1 << 20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs, unmounted afterwards."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs the reliability suite as root)")
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (no CAP_SYS_ADMIN in this container?): {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "--lazy", str(mnt)], capture_output=True)


def _fill(disk: Path, leave: int) -> Path:
    """Take all the space of `disk` but about `leave` bytes; remove the returned file to free it."""
    filler = disk / "filler"
    with open(filler, "wb") as fh:
        chunk = b"\0" * MiB
        while (free_bytes(disk) or 0) - leave > MiB:
            fh.write(chunk)
            fh.flush()
        rest = (free_bytes(disk) or 0) - leave
        if rest > 0:
            fh.write(b"\0" * rest)
    assert abs((free_bytes(disk) or 0) - leave) < 64 * 1024, free_bytes(disk)
    return filler


@pytest.fixture
def upstream(repo_server, tmp_path: Path):
    charts = demo_chart_versions(tmp_path / "src", "demo", {"1.0.0": {}, "1.1.0": {"tag": "1.1.0"}})
    # 4 MiB of one letter: a tiny archive (its download fits anywhere) that unpacks to 4 MiB
    charts.append(write_chart(tmp_path / "src-big", "big", "1.0.0", values={"v": "big"},
                              templates={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n"},
                              files={"files/blob.txt": "a" * (4 * MiB)}))
    # 3 MiB that do not compress: its download alone needs 3 MiB
    charts.append(write_chart(tmp_path / "src-wide", "wide", "1.0.0", values={"v": "wide"},
                              templates={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wide\n"},
                              files={"files/noise.bin": os.urandom(3 * MiB).hex()[: 3 * MiB]}))
    publish(repo_server.root, charts)
    return repo_server


def _env(tmp_path: Path) -> dict[str, str]:
    # the cache (and with it every per-run scratch folder) is on the big disk: only the
    # deployment's own file system fills up
    return {"CHARTKEEPER_CACHE_DIR": str(tmp_path / "cache"), "CHARTKEEPER_HELMFILE": "none", "GIT_OPTIONAL_LOCKS": "0"}


def test_bump_worktree_on_a_full_disk_says_no_space_left(small_disk: Path, upstream, tmp_path: Path, reliability) -> None:
    deploy = make_deployment(small_disk / "deploy", upstream.url, {"demo": "1.0.0"})
    # a committed 1 MiB file: the worktree's checkout needs it, the disk will not have it
    (deploy / "docs").mkdir()
    (deploy / "docs" / "manual.bin").write_bytes(os.urandom(MiB))
    git(deploy, "add", "-A")
    git(deploy, "commit", "-qm", "manual")
    env = _env(tmp_path)
    before = git_state(deploy)
    filler = _fill(small_disk, 256 * 1024)  # room for git's refs and admin files, not for the files
    with reliability.case("disk", "bump: creating the worktree on a full disk"):
        proc = invoke_cli(["bump", "demo", "1.1.0"], cwd=deploy, env=env)
        line = assert_clean_failure(proc, "no space left on", ".git/chartkeeper-worktrees", "creating the temporary worktree")
        assert line.startswith("error: no space left on "), line
        assert "Could not reset index file" not in line
        assert "MiB needed" in line, line
        assert git_state(deploy) == before
        assert git(deploy, "branch", "--list", "chartkeeper/*") == ""
        assert git(deploy, "worktree", "list", "--porcelain").count("worktree ") == 1
        assert leftovers(deploy) == []
        filler.unlink()
        again = invoke_cli(["bump", "demo", "1.1.0"], cwd=deploy, env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert git_state(deploy) == before


def test_unpack_on_a_full_disk_names_the_file(small_disk: Path, upstream, tmp_path: Path, reliability) -> None:
    deploy = make_deployment(small_disk / "deploy", upstream.url, {"demo": "1.0.0"})
    env = _env(tmp_path)
    before = user_state(deploy)
    filler = _fill(small_disk, 2 * MiB)  # the archive fits, its 4 MiB file does not
    with reliability.case("disk", "add: unpacking a chart on a full disk"):
        proc = invoke_cli(["add", "big", "--repo", upstream.url, "--version", "1.0.0"], cwd=deploy, env=env)
        line = assert_clean_failure(proc, "no space left on", "files/blob.txt", "unpacking big-1.0.0.tgz")
        assert line.startswith("error: no space left on "), line
        assert str(deploy / "helmfile/charts/external") in line  # the path, so the file system, is named
        assert user_state(deploy) == before
        assert leftovers(deploy) == []
        filler.unlink()
        again = invoke_cli(["add", "big", "--repo", upstream.url, "--version", "1.0.0"], cwd=deploy, env=env)
        assert again.returncode == 0, again.stdout + again.stderr


def test_download_on_a_full_disk_names_the_file(small_disk: Path, upstream, tmp_path: Path, reliability) -> None:
    deploy = make_deployment(small_disk / "deploy", upstream.url, {"demo": "1.0.0"})
    env = _env(tmp_path)
    before = user_state(deploy)
    filler = _fill(small_disk, 512 * 1024)  # less than the archive itself
    with reliability.case("disk", "add: downloading a chart on a full disk"):
        proc = invoke_cli(["add", "wide", "--repo", upstream.url, "--version", "1.0.0"], cwd=deploy, env=env)
        line = assert_clean_failure(proc, "no space left on", "wide-1.0.0.tgz", "downloading")
        assert line.startswith("error: no space left on "), line
        assert user_state(deploy) == before
        assert leftovers(deploy) == []
        filler.unlink()


@pytest.mark.parametrize("leave_kib", [0, 8, 16, 24, 32])
def test_in_place_bump_on_a_full_disk_changes_nothing(small_disk: Path, upstream, tmp_path: Path, leave_kib: int, reliability) -> None:
    # Whatever write fails first (staging the chart, the journal, a report, the lock), the run
    # says "no space left on <path>" and the tree is as it was; freed, the same command finishes.
    deploy = make_deployment(small_disk / "deploy", upstream.url, {"demo": "1.0.0"})
    env = _env(tmp_path)
    before = user_state(deploy)
    filler = _fill(small_disk, leave_kib * 1024)
    with reliability.case("disk", f"bump --in-place with {leave_kib} KiB free"):
        proc = invoke_cli(["bump", "demo", "1.1.0", "--in-place"], cwd=deploy, env=env)
        line = assert_clean_failure(proc, "no space left on", str(deploy))
        assert line.startswith("error: no space left on "), line
        assert user_state(deploy) == before
        assert leftovers(deploy) == []
        filler.unlink()
        again = invoke_cli(["bump", "demo", "1.1.0", "--in-place"], cwd=deploy, env=env)
        assert again.returncode in (0, 1), again.stdout + again.stderr  # 1: done, findings to review
        assert (deploy / "helmfile/charts/external/demo-1.1.0").is_dir()
        assert not (deploy / "helmfile/charts/external/demo-1.0.0").exists()
        verify = invoke_cli(["verify"], cwd=deploy, env=env)
        assert verify.returncode == 0, verify.stdout + verify.stderr


def test_bundle_on_a_full_disk_names_it_and_leaves_nothing(small_disk: Path, upstream, tmp_path: Path) -> None:
    # The deployment is on the big disk, the bundle goes to the small one: its charts fit, the packed bundle
    # does not. The bundle is hashed and written on a thread of its own (vendoring.bundle): the failure of
    # that thread is the run's error, with no half bundle left.
    deploy = make_deployment(tmp_path / "deploy", upstream.url, {"demo": "1.0.0"})
    env = _env(tmp_path)
    added = invoke_cli(["add", "wide", "--repo", upstream.url, "--version", "1.0.0"], cwd=deploy, env=env)
    assert added.returncode == 0, added.stderr
    filler = _fill(small_disk, 2 * MiB)
    out = small_disk / "carry.tgz"
    proc = invoke_cli(["bundle", str(out)], cwd=deploy, env=env)
    line = assert_clean_failure(proc, "no space left on")
    assert str(small_disk) in line, line
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]
    filler.unlink()
    again = invoke_cli(["bundle", str(out), "--json"], cwd=deploy, env=env)
    assert again.returncode == 0, again.stderr
    import hashlib
    import json

    assert json.loads(again.stdout)["digest"] == "sha256:" + hashlib.sha256(out.read_bytes()).hexdigest()
