"""`chartkeeper bump` end to end: real git repositories, a real chart repository on loopback, the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.deployment import demo_chart_versions, git, make_deployment, publish
from tests.support.harness import assert_clean_failure, git_state, invoke_cli, popen_cli, run_cli

LOCK = "helmfile/charts/external/versions.lock"


@pytest.fixture(autouse=True)
def _no_index_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    # The tests' own `git status` must not refresh the index file they compare byte for byte.
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")


@pytest.fixture
def upstream(repo_server, tmp_path: Path):
    charts = demo_chart_versions(
        tmp_path / "src", "demo", {"1.0.0": {"tag": "1.0.0"}, "1.1.0": {"tag": "1.1.0"}, "1.2.0-rc.1": {}, "2.0.0": {}}
    )
    publish(repo_server.root, charts)
    return repo_server


@pytest.fixture
def deploy(upstream, tmp_path: Path) -> Path:
    root = make_deployment(tmp_path / "deploy", upstream.url, {"demo": "1.0.0"}, constraint={"demo": "~1.0 || ~1.1"})
    (root / "notes.txt").write_text("my untracked notes\n")  # untracked work must survive untouched
    return root


def _bump(root: Path, *args: str, **kw) -> subprocess.CompletedProcess[str]:
    return invoke_cli(["-C", str(root), "bump", *args], cwd=root, **kw)


def _show(root: Path, ref: str, path: str) -> str:
    return git(root, "show", f"{ref}:{path}")


@pytest.mark.parametrize("renderer", ["embedded", "helmfile"])
def test_full_bump_on_a_branch(deploy: Path, renderer: str) -> None:
    if renderer == "helmfile" and not shutil.which("helmfile"):
        pytest.skip("no helmfile binary (scripts/install-tools.sh installs one)")
    before = git_state(deploy)
    base = git(deploy, "rev-parse", "HEAD")
    # helmfile proves the branch only when asked (`--allow-exec`): it runs the repository's templates
    proc = _bump(deploy, "demo", "--json", *(["--allow-exec"] if renderer == "helmfile" else []))
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["checks"] and all(("helmfile template" in c) == (renderer == "helmfile") for c in res["checks"][1:])
    branch = "chartkeeper/demo-1.1.0"
    assert (res["status"], res["branch"], res["old"], res["new"]) == ("bumped", branch, "1.0.0", "1.1.0")
    assert res["report"] == "reports/demo/1.0.0-to-1.1.0.md"
    assert res["ready"] is True, res["problems"]

    # the user's checkout, index, HEAD, branch and untracked files: byte-identical
    assert git_state(deploy) == before
    assert not (deploy / ".git" / "chartkeeper-worktrees").exists() or not any(
        (deploy / ".git" / "chartkeeper-worktrees").iterdir()
    )
    assert git(deploy, "worktree", "list", "--porcelain").count("worktree ") == 1

    # one commit on top of the base, with the promised message
    assert git(deploy, "rev-list", "--count", f"{base}..{branch}") == "1"
    assert git(deploy, "rev-parse", f"{branch}~1") == base
    message = git(deploy, "log", "-1", "--format=%B", branch)
    assert message.splitlines()[0] == "chore(charts): bump demo 1.0.0 → 1.1.0"
    assert "Verdict: " in message and "breaking" in message and "review" in message

    changed = sorted(git(deploy, "diff", "--no-renames", "--name-only", base, branch).splitlines())
    ext = "helmfile/charts/external"
    assert f"{ext}/demo-1.1.0/Chart.yaml" in changed and f"{ext}/demo-1.0.0/Chart.yaml" in changed
    others = [p for p in changed if not p.startswith((f"{ext}/demo-1.0.0/", f"{ext}/demo-1.1.0/"))]
    assert others == sorted(
        [
            "CHANGELOG.md",
            "helmfile/helmfile.yaml",
            LOCK,
            f"{ext}/.treesums/demo.sums",
            "reports/demo/1.0.0-to-1.1.0.images.txt",
            "reports/demo/1.0.0-to-1.1.0.json",
            "reports/demo/1.0.0-to-1.1.0.md",
        ]
    )
    # the old folder is gone, the new one is the upstream chart
    assert git(deploy, "ls-tree", "--name-only", branch, f"{ext}/").splitlines() == [
        f"{ext}/.treesums", f"{ext}/demo-1.1.0", f"{ext}/versions.lock"
    ]
    assert "version: 1.1.0" in _show(deploy, branch, f"{ext}/demo-1.1.0/Chart.yaml")

    # the lock: version, digest, checksum, fetch time; the constraint kept
    from chartkeeper.lockfile import parse_lock
    from chartkeeper.vendoring.treesum import tree_checksum

    entry = parse_lock(_show(deploy, branch, LOCK) + "\n").require("demo")
    assert entry.version == "1.1.0" and entry.constraint == "~1.0 || ~1.1"
    assert entry.digest and entry.digest.startswith("sha256:") and entry.fetched
    wt = deploy.parent / "check"
    git(deploy, "worktree", "add", "-q", str(wt), branch)
    try:
        assert tree_checksum(wt / ext / "demo-1.1.0") == entry.tree_checksum
    finally:
        git(deploy, "worktree", "remove", "--force", str(wt))

    # helmfile.yaml: only the two chart: lines changed, comments and quoting kept
    old_hf = _show(deploy, base, "helmfile/helmfile.yaml").splitlines()
    new_hf = _show(deploy, branch, "helmfile/helmfile.yaml").splitlines()
    diff = [(a, b) for a, b in zip(old_hf, new_hf) if a != b]
    assert len(old_hf) == len(new_hf) and diff == [
        ("    chart: ./charts/external/demo-1.0.0   # vendored by chartkeeper",
         "    chart: ./charts/external/demo-1.1.0   # vendored by chartkeeper"),
        ('    chart: "./charts/external/demo-1.0.0"', '    chart: "./charts/external/demo-1.1.0"'),
    ]

    # report, images, changelog
    report = _show(deploy, branch, "reports/demo/1.0.0-to-1.1.0.md")
    assert "demo" in report and "1.1.0" in report
    for committed in (report, message, _show(deploy, branch, "reports/demo/1.0.0-to-1.1.0.json")):
        assert str(deploy) not in committed and "chartkeeper-worktrees" not in committed  # no path of this machine
    assert json.loads(_show(deploy, branch, "reports/demo/1.0.0-to-1.1.0.json"))["newVersion"] == "1.1.0"
    changelog = _show(deploy, branch, "CHANGELOG.md")
    assert changelog.startswith(_show(deploy, base, "CHANGELOG.md").split("## [1.0.0]")[0].rstrip("\n"))
    unreleased = changelog.split("## [1.0.0]")[0]
    assert "### Changed\n- Bump `demo` 1.0.0 → 1.1.0" in unreleased
    assert "[upgrade report](reports/demo/1.0.0-to-1.1.0.md)" in unreleased


def test_base_ref_and_next_steps(deploy: Path) -> None:
    base = git(deploy, "rev-parse", "HEAD")
    (deploy / "helmfile" / "values" / "demo.yaml").write_text("# later work on main\nimage:\n  tag: newer\n")
    git(deploy, "commit", "-qam", "later work")
    proc = _bump(deploy, "demo", "--base", base, "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert git(deploy, "rev-parse", f"{res['branch']}~1") == base  # branched from --base, not HEAD
    assert _show(deploy, res["branch"], "helmfile/values/demo.yaml") == _show(deploy, base, "helmfile/values/demo.yaml")
    assert res["nextSteps"][0] == "git switch chartkeeper/demo-1.1.0"
    # the bundle to carry: the charts and only the images the branch adds to what the base pulled
    assert res["nextSteps"][1] == f"chartkeeper bundle demo-1.1.0.tgz --images --since {base}"
    assert "helmfile --file helmfile/helmfile.yaml --environment prod diff" in res["nextSteps"]


def test_next_steps_name_the_gotmpl_state_file_and_its_environments(deploy: Path) -> None:
    git(deploy, "mv", "helmfile/helmfile.yaml", "helmfile/helmfile.yaml.gotmpl")
    git(deploy, "commit", "-qm", "state file rendered as a template")
    proc = _bump(deploy, "demo", "--json")
    assert proc.returncode == 0, proc.stdout
    steps = json.loads(proc.stdout)["nextSteps"]
    assert "chartkeeper bundle demo-1.1.0.tgz --images --since main" in steps  # the branch it started from
    assert [s for s in steps if s.startswith("helmfile ")] == [
        "helmfile --file helmfile/helmfile.yaml.gotmpl --environment dev diff",
        "helmfile --file helmfile/helmfile.yaml.gotmpl --environment prod diff",
    ]


def test_already_at_target_creates_nothing(deploy: Path) -> None:
    before = git_state(deploy)
    branches = git(deploy, "branch", "--list")
    proc = _bump(deploy, "demo", "1.0.0")
    assert proc.returncode == 0, proc.stderr
    assert "already at 1.0.0" in proc.stdout
    assert git_state(deploy) == before and git(deploy, "branch", "--list") == branches


def test_downgrade_and_missing_version_refused(deploy: Path) -> None:
    make = git(deploy, "branch", "--list")
    assert_clean_failure(_bump(deploy, "demo", "0.9.0"), "no published version")
    assert git(deploy, "branch", "--list") == make


def test_dirty_tree_refused(deploy: Path) -> None:
    (deploy / "helmfile" / "values" / "demo.yaml").write_text("image:\n  tag: edited\n")
    before = git_state(deploy)
    line = assert_clean_failure(_bump(deploy, "demo"), "uncommitted changes", "helmfile/values/demo.yaml")
    assert line
    assert git_state(deploy) == before
    assert "chartkeeper/" not in git(deploy, "branch", "--list")


def test_drift_refused(deploy: Path) -> None:
    chart_values = deploy / "helmfile/charts/external/demo-1.0.0/values.yaml"
    chart_values.write_text(chart_values.read_text() + "handEdit: true\n")
    git(deploy, "commit", "-qam", "hand edit in a vendored chart")
    before = git_state(deploy)
    proc = _bump(deploy, "demo")
    assert proc.returncode == 2
    assert "drift" in proc.stderr and "demo (demo-1.0.0): drift" in proc.stderr
    assert "on branch" not in proc.stderr  # refused before announcing a branch it will not make
    assert [ln.split() for ln in proc.stderr.splitlines() if ln.strip().startswith("modified")] == [["modified", "values.yaml"]]
    assert "patches/demo/" in proc.stderr
    assert git_state(deploy) == before
    assert "chartkeeper/" not in git(deploy, "branch", "--list")


def test_not_a_git_repository(upstream, tmp_path: Path) -> None:
    root = make_deployment(tmp_path / "d", upstream.url, {"demo": "1.0.0"})
    import shutil

    shutil.rmtree(root / ".git")
    assert_clean_failure(_bump(root, "demo"), "not inside a git repository")


def test_unversioned_folder_is_refilled_and_helmfile_untouched(upstream, tmp_path: Path) -> None:
    root = make_deployment(tmp_path / "d", upstream.url, {"demo": "1.0.0"}, paths={"demo": "demo"})
    base = git(root, "rev-parse", "HEAD")
    proc = _bump(root, "demo", "1.1.0")
    assert proc.returncode == 0, proc.stderr
    branch = "chartkeeper/demo-1.1.0"
    changed = git(root, "diff", "--no-renames", "--name-only", base, branch).splitlines()
    assert "helmfile/helmfile.yaml" not in changed
    assert "helmfile/charts/external/demo/Chart.yaml" in changed
    assert "version: 1.1.0" in _show(root, branch, "helmfile/charts/external/demo/Chart.yaml")
    assert "path: demo\n" in _show(root, branch, LOCK)


def test_dry_run_writes_nothing(deploy: Path) -> None:
    before = git_state(deploy)
    proc = _bump(deploy, "demo", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "dry run: demo 1.0.0 → 1.1.0" in proc.stdout
    assert git_state(deploy) == before and "chartkeeper/" not in git(deploy, "branch", "--list")
    # the printed report links no diff file (none is written) but says how to get one
    assert "## Before merging" in proc.stdout and ".diff`](" not in proc.stdout


def test_fail_on_still_makes_the_branch(deploy: Path) -> None:
    proc = _bump(deploy, "demo", "2.0.0", "--fail-on", "review", "--json")
    res = json.loads(proc.stdout)
    if res["counts"].get("review", 0) + res["counts"].get("breaking", 0) == 0:
        pytest.skip("this upgrade has no review finding to fail on")
    assert proc.returncode == 1
    assert res["branch"] == "chartkeeper/demo-2.0.0"
    assert git(deploy, "rev-parse", "--verify", "chartkeeper/demo-2.0.0")


def test_push_to_bare_remote(deploy: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(deploy, "remote", "add", "origin", str(remote))
    proc = _bump(deploy, "demo", "--push")
    assert proc.returncode == 0, proc.stderr
    assert "pushed to origin" in proc.stdout
    assert git(remote, "rev-parse", "chartkeeper/demo-1.1.0") == git(deploy, "rev-parse", "chartkeeper/demo-1.1.0")


HOOK = """#!/bin/sh
# records the push options the client sent, one per line, as GitLab's receive hooks see them
out="{out}"
echo "count=${{GIT_PUSH_OPTION_COUNT:-none}}" > "$out"
i=0
while [ "$i" -lt "${{GIT_PUSH_OPTION_COUNT:-0}}" ]; do
  eval "value=\\$GIT_PUSH_OPTION_$i"
  printf '%s\\n' "$value" >> "$out"
  i=$((i + 1))
done
cat > /dev/null
"""


def _forge_remote(deploy: Path, tmp_path: Path, url: str, *, push_options: bool) -> tuple[Path, Path]:
    """A real bare remote standing in for a forge: `origin` says `url`, pushes land in the bare repository."""
    remote = tmp_path / "forge.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    if push_options:
        git(remote, "config", "receive.advertisePushOptions", "true")
    recorded = tmp_path / "push-options.txt"
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(HOOK.format(out=recorded))
    hook.chmod(0o755)
    git(deploy, "remote", "add", "origin", url)
    git(deploy, "config", f"url.{remote}.pushInsteadOf", url)
    return remote, recorded


def test_push_to_a_gitlab_remote_creates_the_merge_request_with_push_options(deploy: Path, tmp_path: Path) -> None:
    remote, recorded = _forge_remote(deploy, tmp_path, "https://gitlab.example.invalid/platform/deploy.git", push_options=True)
    plain = _bump(deploy, "demo", "--merge-request")
    assert plain.returncode == 2 and "--push" in plain.stderr  # nothing to create without a push
    proc = _bump(deploy, "demo", "--push", "--merge-request", "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert git(remote, "rev-parse", "chartkeeper/demo-1.1.0") == res["commit"]
    assert res["mergeRequest"] == "requested from origin with push options (into main)"
    lines = recorded.read_text().splitlines()
    assert lines[0] == "count=4"
    opts = dict(line.split("=", 1) if "=" in line else (line, "") for line in lines[1:])
    assert set(opts) == {"merge_request.create", "merge_request.target", "merge_request.title", "merge_request.description"}
    assert opts["merge_request.target"] == "main"
    assert opts["merge_request.title"] == "chore(charts): bump demo 1.0.0 → 1.1.0"
    desc = opts["merge_request.description"]
    # the report's first screen on one line: verdict, the actions, where the full report is
    assert desc.startswith("chore(charts): bump demo 1.0.0 → 1.1.0: verdict needs review (0 breaking, 1 review,")
    assert "Before merging: 1. Decide on the masked default `image.tag`" in desc and "\n" not in desc
    assert f"Full report: {res['report']} on this branch." in desc


def test_push_to_a_github_remote_prints_the_compare_url(deploy: Path, tmp_path: Path) -> None:
    remote, recorded = _forge_remote(deploy, tmp_path, "git@github.com:acme/deploy.git", push_options=False)
    proc = _bump(deploy, "demo", "--push")
    assert proc.returncode == 0, proc.stderr
    assert "merge request: https://github.com/acme/deploy/compare/main...chartkeeper/demo-1.1.0?expand=1" in proc.stdout
    assert recorded.read_text() in ("count=none\n", "count=0\n")  # no push options were sent
    assert git(remote, "rev-parse", "chartkeeper/demo-1.1.0") == git(deploy, "rev-parse", "chartkeeper/demo-1.1.0")


def test_a_refused_push_shows_everything_git_said(deploy: Path, tmp_path: Path) -> None:
    """The remote's own explanation (a hook's message) is often not git's last line: show all of it."""
    remote, _ = _forge_remote(deploy, tmp_path, "https://git.example.invalid/platform/deploy.git", push_options=False)
    (remote / "hooks" / "pre-receive").write_text(
        "#!/bin/sh\necho 'policy: branches must be named feature/*' >&2\necho 'ask #platform for an exception' >&2\nexit 1\n")
    proc = _bump(deploy, "demo", "--push")
    line = assert_clean_failure(proc, "git push to 'origin' failed")
    assert "policy: branches must be named feature/*" in proc.stderr and "ask #platform for an exception" in proc.stderr, line
    assert git(deploy, "rev-parse", "--verify", "chartkeeper/demo-1.1.0")  # kept for a manual push
    # the hint says the branch is there and how to finish the job
    assert "branch chartkeeper/demo-1.1.0 holds the bump" in proc.stderr
    assert "`chartkeeper bump demo 1.1.0 --push --remote origin`" in proc.stderr
    assert "`git push origin chartkeeper/demo-1.1.0`" in proc.stderr


def test_a_retried_push_after_a_failed_push_pushes(deploy: Path, tmp_path: Path) -> None:
    """The command a CI job retries must do what it was asked, not report success for the branch it finds."""
    remote, _ = _forge_remote(deploy, tmp_path, "https://git.example.invalid/platform/deploy.git", push_options=False)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'remote: temporarily unavailable' >&2\nexit 1\n")
    assert _bump(deploy, "demo", "1.1.0", "--push").returncode == 2
    branch = git(deploy, "rev-parse", "chartkeeper/demo-1.1.0")
    assert not git(remote, "branch", "--list")

    hook.write_text("#!/bin/sh\ncat > /dev/null\n")  # the remote is back
    proc = _bump(deploy, "demo", "1.1.0", "--push", "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert (res["status"], res["pushed"], res["commit"]) == ("exists", "origin", branch)
    assert git(remote, "rev-parse", "chartkeeper/demo-1.1.0") == branch  # the same commit, not a new bump


def test_push_to_a_remote_that_does_not_exist_is_refused_before_any_work(deploy: Path) -> None:
    before = git_state(deploy)
    proc = _bump(deploy, "demo", "--push", "--remote", "nosuch")
    assert_clean_failure(proc, "no git remote named 'nosuch'")
    assert "git remote add nosuch" in proc.stderr
    assert git_state(deploy) == before
    assert not git(deploy, "branch", "--list", "chartkeeper/*")  # no branch was made
    # --remote alone (without --push) would push nothing: refused, not ignored
    alone = _bump(deploy, "demo", "--remote", "nosuch")
    assert_clean_failure(alone, "--remote", "--push")
    assert not git(deploy, "branch", "--list", "chartkeeper/*")


def test_merge_request_push_options_refused_by_a_remote_that_does_not_take_them(deploy: Path, tmp_path: Path) -> None:
    remote, recorded = _forge_remote(deploy, tmp_path, "https://gitlab.example.invalid/platform/deploy.git", push_options=False)
    proc = _bump(deploy, "demo", "--push", "--merge-request")
    assert_clean_failure(proc, "git push to 'origin' failed", "push options")
    assert not git(remote, "branch", "--list")  # nothing arrived
    assert git(deploy, "rev-parse", "--verify", "chartkeeper/demo-1.1.0")  # the branch is kept for a manual push
    assert "--push --remote origin --merge-request`" in proc.stderr

    # once the remote takes push options, the same command creates the merge request for the branch it finds,
    # described from what the earlier run recorded in its commit
    git(remote, "config", "receive.advertisePushOptions", "true")
    retry = _bump(deploy, "demo", "--push", "--merge-request")
    assert retry.returncode == 0, retry.stderr
    assert "pushed to origin" in retry.stdout and "merge request: requested from origin" in retry.stdout
    opts = dict(line.split("=", 1) for line in recorded.read_text().splitlines()[1:] if "=" in line)
    assert opts["merge_request.title"] == "chore(charts): bump demo 1.0.0 → 1.1.0"
    desc = opts["merge_request.description"]
    assert desc.startswith("chore(charts): bump demo 1.0.0 → 1.1.0: verdict needs review (0 breaking, 1 review,"), desc
    assert "Full report: reports/demo/1.0.0-to-1.1.0.md on this branch." in desc


def test_all_continues_past_a_failing_chart(upstream, tmp_path: Path) -> None:
    other = demo_chart_versions(tmp_path / "src2", "other", {"3.0.0": {}, "3.0.1": {}})
    publish(upstream.root, other)
    root = make_deployment(tmp_path / "d", upstream.url, {"demo": "1.0.0", "other": "3.0.0"}, constraint={"demo": "~1.0 || ~1.1"})
    # the upstream now lies about other 3.0.1: its archive does not match the published digest
    (upstream.root / "other-3.0.1.tgz").write_bytes(b"not the archive the index describes")
    proc = _bump(root, "--all")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "summary:" in proc.stdout and "failed: other" in proc.stdout
    assert "bumped: demo 1.0.0 → 1.1.0" in proc.stdout
    branches = git(root, "branch", "--list", "chartkeeper/*")
    assert "chartkeeper/demo-1.1.0" in branches and "other" not in branches


def test_in_place_without_git(upstream, tmp_path: Path) -> None:
    root = make_deployment(tmp_path / "d", upstream.url, {"demo": "1.0.0"})
    import shutil

    shutil.rmtree(root / ".git")
    proc = _bump(root, "demo", "1.1.0", "--in-place")
    assert proc.returncode == 0, proc.stderr
    ext = root / "helmfile/charts/external"
    assert (ext / "demo-1.1.0" / "Chart.yaml").is_file() and not (ext / "demo-1.0.0").exists()
    assert "./charts/external/demo-1.1.0   # vendored" in (root / "helmfile/helmfile.yaml").read_text()
    assert (root / "reports/demo/1.0.0-to-1.1.0.md").is_file()
    assert not list(ext.glob(".chartkeeper-*"))


def test_not_ready_branch_is_kept_and_marked(upstream, tmp_path: Path) -> None:
    broken = demo_chart_versions(tmp_path / "src3", "demo", {"1.0.1": {"broken": "yes"}})
    publish(upstream.root, broken)
    root = make_deployment(tmp_path / "d", upstream.url, {"demo": "1.0.0"})
    proc = _bump(root, "demo", "1.0.1", env={"CHARTKEEPER_HELMFILE": "none"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "NOT READY (the branch is kept for inspection)" in proc.stdout
    assert "this chart version does not render" in proc.stdout
    assert git(root, "rev-parse", "--verify", "chartkeeper/demo-1.0.1")


def test_second_run_refused_while_one_holds_the_lock(deploy: Path) -> None:
    from chartkeeper import runlock

    before = git_state(deploy)
    with runlock.hold(deploy / ".git" / "chartkeeper.lock"):
        proc = _bump(deploy, "demo")
    assert_clean_failure(proc, "another chartkeeper bump process", "is working on this deployment")
    assert git_state(deploy) == before and "chartkeeper/" not in git(deploy, "branch", "--list")


# --- killed runs -------------------------------------------------------------------------------

STAGES = ["resolved", "worktree", "chart-staged", "staged", "journal-written", "swapping", "committed", "verified"]
# The quick suite kills at one stage before the commit and one after; CI kills at every stage.
QUICK_STAGES = {"staged", "committed", "swapping"}


def _stages(stages: list[str]) -> list:
    return [s if s in QUICK_STAGES else pytest.param(s, marks=pytest.mark.slow) for s in stages]



def test_all_names_a_failing_chart_once(upstream, tmp_path: Path) -> None:
    # The drift refusal names its chart itself; the per-chart warning and the FAILED line must
    # not name it again ("other: other: the vendored chart ...").
    other = demo_chart_versions(tmp_path / "src2", "other", {"3.0.0": {}, "3.0.1": {}})
    publish(upstream.root, other)
    root = make_deployment(tmp_path / "d", upstream.url, {"demo": "1.0.0", "other": "3.0.0"}, constraint={"demo": "~1.0 || ~1.1"})
    values = root / "helmfile/charts/external/other-3.0.0/values.yaml"
    values.write_text(values.read_text() + "# edited by hand\n")
    git(root, "commit", "-qam", "a hand edit in a vendored chart")
    proc = _bump(root, "--all")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "warning: other: the vendored chart" in proc.stderr, proc.stderr
    assert "other: FAILED: the vendored chart" in proc.stdout, proc.stdout
    assert "other: other:" not in proc.stdout + proc.stderr


def _kill_at(root: Path, stage: str, *args: str, sig: int = signal.SIGKILL) -> int:
    proc = popen_cli(["-C", str(root), "bump", *args], cwd=root, env={"CHARTKEEPER_TEST_PAUSE_AT": stage})
    deadline = time.monotonic() + 120
    seen = b""
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), False)
    while f"paused at {stage}".encode() not in seen:
        if proc.poll() is not None:
            seen += proc.stderr.read() or b""
            raise AssertionError(f"exited {proc.returncode} before {stage}: {seen.decode(errors='replace')}")
        assert time.monotonic() < deadline, f"never reached {stage}"
        chunk = proc.stderr.read()
        if chunk:
            seen += chunk
        time.sleep(0.05)
    if sig == signal.SIGKILL:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)  # Ctrl-C reaches the chartkeeper process
    return proc.wait(timeout=60)


@pytest.mark.parametrize("stage", _stages(STAGES))
def test_killed_bump_then_clean_rerun(deploy: Path, stage: str) -> None:
    before = git_state(deploy)
    _kill_at(deploy, stage, "demo")
    assert git_state(deploy) == before  # the checkout never sees anything, whatever the stage
    proc = _bump(deploy, "demo", "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["status"] in (("exists",) if stage in ("committed", "verified") else ("bumped",))
    assert git_state(deploy) == before
    branch = "chartkeeper/demo-1.1.0"
    assert git(deploy, "log", "-1", "--format=%s", branch) == "chore(charts): bump demo 1.0.0 → 1.1.0"
    assert git(deploy, "rev-list", "--count", f"HEAD..{branch}") == "1"
    assert git(deploy, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert "version: 1.1.0" in _show(deploy, branch, "helmfile/charts/external/demo-1.1.0/Chart.yaml")



def test_a_killed_run_leaves_nothing_in_the_system_temp_folder(deploy: Path, tmp_path: Path) -> None:
    # The tools chartkeeper runs (here `helmfile template` for the readiness check, a stand-in that
    # makes a temp file the way helmfile makes its values files, then hangs) get this run's scratch
    # folder as TMPDIR: when the run is killed, their files are in that folder, not in /tmp, and
    # the next command -- any command -- sweeps it.
    system_tmp, cache = tmp_path / "system-tmp", tmp_path / "cache"
    system_tmp.mkdir()
    marker = tmp_path / "temp-file-made"
    tool = tmp_path / "bin" / "helmfile"
    tool.parent.mkdir()
    tool.write_text('#!/bin/sh\nf=$(mktemp "${TMPDIR:-/tmp}/helmfile-values-XXXXXX")\necho "$f" > "$MARKER"\nexec sleep 60\n')
    tool.chmod(0o755)
    env = {"TMPDIR": str(system_tmp), "CHARTKEEPER_CACHE_DIR": str(cache), "CHARTKEEPER_HELMFILE": str(tool),
           "MARKER": str(marker)}
    proc = popen_cli(["-C", str(deploy), "--allow-exec", "bump", "demo", "1.1.0"], cwd=deploy, env=env)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() or not marker.read_text().strip():
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "the readiness check never ran helmfile"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    left = Path(marker.read_text().strip())
    assert left.exists() and left.parent.parent == cache / "tmp" and left.parent.name.startswith("run-")
    assert os.listdir(system_tmp) == []  # nothing of chartkeeper's, nothing of the tool's
    verify = run_cli(["-C", str(deploy), "verify"], cwd=deploy, env={"TMPDIR": str(system_tmp), "CHARTKEEPER_CACHE_DIR": str(cache)})
    assert verify.returncode in (0, 1), verify.stderr
    assert not left.parent.exists()  # swept by the next run
    assert os.listdir(system_tmp) == []


IN_PLACE_STAGES = ["resolved", "chart-staged", "staged", "journal-written", "swapping"]
JOURNALED = {"journal-written", "swapping"}  # killed after the journal: the swap is finished, else undone


def _verify(root: Path) -> subprocess.CompletedProcess[str]:
    return invoke_cli(["-C", str(root), "verify"], cwd=root)


def _assert_finished(root: Path, stage: str) -> None:
    ext = root / "helmfile/charts/external"
    want, gone = ("demo-1.1.0", "demo-1.0.0") if stage in JOURNALED else ("demo-1.0.0", "demo-1.1.0")
    assert (ext / want).is_dir() and not (ext / gone).exists()
    assert not list(ext.glob(".chartkeeper-*"))
    text = (root / "helmfile/helmfile.yaml").read_text()
    assert gone not in text and text.count(want) == 2
    proc = _verify(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.reliability
@pytest.mark.parametrize("stage", _stages(IN_PLACE_STAGES))
@pytest.mark.parametrize("recovery", ["bump --in-place", "recover"])
def test_killed_in_place_then_the_documented_recovery(upstream, tmp_path: Path, stage: str, recovery: str, reliability) -> None:
    root = make_deployment(tmp_path / "d", upstream.url, {"demo": "1.0.0"})
    with reliability.case("kill", f"bump --in-place (at stage {stage}; verify, then `{recovery}`)"):
        _kill_at(root, stage, "demo", "1.1.0", "--in-place")
        if stage not in JOURNALED:  # the run lock and staging folder it left are ignored by git
            assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
            assert list((root / "helmfile/charts/external").glob(".chartkeeper-*")) or stage == "resolved"
        first = _verify(root)
        if stage in JOURNALED:  # verify names the pending swap, never "missing — run sync"
            assert first.returncode == 1
            assert "interrupted bump pending (demo-1.0.0 -> demo-1.1.0)" in first.stdout
            assert "chartkeeper recover" in first.stdout and "sync" not in first.stdout
        if recovery == "recover":
            proc = invoke_cli(["-C", str(root), "recover"], cwd=root)
        else:  # no --allow-dirty: the half-swapped tree is the journal's own dirt, finished first
            proc = _bump(root, "demo", "1.1.0", "--in-place")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        if stage != "resolved":  # killed before anything was staged: nothing to clean up
            assert "cleaned up after an interrupted run" in proc.stderr
        _assert_finished(root, "swapping" if recovery == "bump --in-place" else stage)


@pytest.mark.reliability
@pytest.mark.parametrize("after_kill", ["git stash", "sync"])
def test_old_folder_brought_back_after_the_kill_is_still_swapped_out(upstream, tmp_path: Path, after_kill: str, reliability) -> None:
    # What users did before the journal came first: `git stash` (as the dirty-tree refusal told
    # them) restores the old folder, a `sync` of the still-old lock re-vendors it. The journal wins.
    root = make_deployment(tmp_path / "d", upstream.url, {"demo": "1.0.0"})
    then = "`git stash`, then `bump --in-place`" if after_kill == "git stash" else "`sync`"
    with reliability.case("kill", f"bump --in-place (at stage swapping; then {then})"):
        _kill_at(root, "swapping", "demo", "1.1.0", "--in-place")
        ext = root / "helmfile/charts/external"
        if after_kill == "git stash":
            git(root, "stash")
            assert (ext / "demo-1.0.0").is_dir()
            proc = _bump(root, "demo", "1.1.0", "--in-place")
        else:
            proc = invoke_cli(["-C", str(root), "sync"], cwd=root)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert not (ext / "demo-1.0.0").exists() and (ext / "demo-1.1.0").is_dir()
        assert not list(ext.glob(".chartkeeper-*"))
        assert 'version: "1.1.0"' in (ext / "versions.lock").read_text()
        assert _verify(root).returncode == 0


def test_recover_with_nothing_to_do(upstream, tmp_path: Path) -> None:
    root = make_deployment(tmp_path / "d", upstream.url, {"demo": "1.0.0"})
    before = git_state(root)
    proc = invoke_cli(["-C", str(root), "recover"], cwd=root)
    assert proc.returncode == 0 and "nothing to recover" in proc.stdout
    assert git_state(root) == before


def test_ctrl_c_removes_worktree_and_branch(deploy: Path) -> None:
    before = git_state(deploy)
    code = _kill_at(deploy, "chart-staged", "demo", sig=signal.SIGINT)
    assert code == 130
    assert git_state(deploy) == before
    assert "chartkeeper/" not in git(deploy, "branch", "--list")
    assert git(deploy, "worktree", "list", "--porcelain").count("worktree ") == 1
    home = deploy / ".git" / "chartkeeper-worktrees"
    assert not home.exists() or not any(home.iterdir())


def test_oci_only_chart_with_oci_subchart_in_an_unversioned_folder(oci_registry, tmp_path: Path) -> None:
    """The Astrago pattern: gpu-operator in `charts/external/gpu-operator`, from OCI, whose newer
    version depends on node-feature-discovery hosted in another OCI repository."""
    import uuid

    from tests.support.charts import package_chart, write_chart

    ns = "b" + uuid.uuid4().hex[:8]
    oci = f"oci://{oci_registry.host}/{ns}"
    pkg = tmp_path / "pkg"
    nfd = write_chart(tmp_path / "nfd", "node-feature-discovery", "0.17.3", values={"enabled": True},
                      templates={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nfd\n"})
    oci_registry.push_chart(package_chart(nfd, pkg), ns + "/nfd")
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  v: {{ .Values.v | quote }}\n"
    old = write_chart(tmp_path / "old", "gpu-operator", "v25.3.2", values={"v": "old"}, templates={"cm.yaml": cm})
    new = write_chart(
        tmp_path / "new", "gpu-operator", "v26.3.0", values={"v": "new", "nfd": {"enabled": True}},
        templates={"cm.yaml": cm},
        dependencies=[{"name": "node-feature-discovery", "version": "0.17.x", "repository": f"{oci}/nfd",
                       "condition": "nfd.enabled"}],
    )
    for c in (old, new):
        oci_registry.push_chart(package_chart(c, pkg), ns)
    settings_yaml = f"plainHttp: [{oci_registry.host}]\n"
    root = tmp_path / "d"
    root.mkdir()
    (root / "chartkeeper.yaml").write_text(settings_yaml)
    from tests.support import deployment

    deployment.make_deployment(root, oci, {"gpu-operator": "v25.3.2"}, paths={"gpu-operator": "gpu-operator"},
                               constraint={"gpu-operator": ">=v25"}, exist_ok=True)
    base = git(root, "rev-parse", "HEAD")
    proc = _bump(root, "gpu-operator", "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    branch = "chartkeeper/gpu-operator-v26.3.0"
    assert (res["new"], res["branch"], res["ready"]) == ("v26.3.0", branch, True), res
    changed = git(root, "diff", "--no-renames", "--name-only", base, branch).splitlines()
    assert "helmfile/helmfile.yaml" not in changed  # the folder name carries no version: no path changes
    ext = "helmfile/charts/external/gpu-operator"
    assert "version: v26.3.0" in _show(root, branch, f"{ext}/Chart.yaml")
    assert "repository: file://charts/node-feature-discovery" in _show(root, branch, f"{ext}/Chart.yaml")
    assert "name: node-feature-discovery" in _show(root, branch, f"{ext}/charts/node-feature-discovery/Chart.yaml")
    from chartkeeper.lockfile import parse_lock

    entry = parse_lock(_show(root, branch, LOCK) + "\n").require("gpu-operator")
    assert (entry.version, entry.path, entry.repository) == ("v26.3.0", "gpu-operator", oci)
    assert [(s.name, s.version, s.repository) for s in entry.subcharts] == [("node-feature-discovery", "0.17.3", f"{oci}/nfd")]
