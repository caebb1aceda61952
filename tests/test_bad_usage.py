"""Every failure a user can cause: exit 2, one `error:` line naming what to fix, nothing written.

Each command runs against a real committed deployment (its chart from a file:// repository) with
inputs people get wrong: output paths that are folders, under missing folders, under a file or
where the machine refuses to write; repository URLs chartkeeper cannot read; a `--from` bundle
that is not there; unknown charts, environments and options. Exit 3 means "chartkeeper bug", so
none of these may produce it, and none may print a traceback or change a file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chartkeeper.cli import COMMANDS
from tests.support.deployment import demo_chart_versions, git, make_deployment, publish
from tests.support.harness import error_lines, invoke_cli, tree_state


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("bad-usage")
    repo = base / "repo"
    repo.mkdir()
    publish(repo, demo_chart_versions(base / "src", "demo", {"1.0.0": {}, "1.1.0": {"tag": "1.1"}}))
    cache = base / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHARTKEEPER_CACHE_DIR", str(cache))
        deploy = make_deployment(base / "deploy", repo.as_uri(), {"demo": "1.0.0"})
    work = base / "work"  # the user's current folder: where relative output paths land
    (work / "outdir").mkdir(parents=True)
    (work / "afile").write_text("not a folder\n")
    return {"deploy": deploy, "work": work, "repo": repo, "cache": cache}


REPO = "{repo}"
# (arguments after `-C DEPLOY`, words the one error line must contain)
CASES: list[tuple[list[str], tuple[str, ...]]] = [
    # output paths
    (["diff", "demo", "--output", "outdir"], ("--output", "is a folder")),
    (["diff", "demo", "--output", "outdir/"], ("--output", "is a folder")),
    (["diff", "demo", "-o", "missing/r.md"], ("missing", "does not exist")),
    (["diff", "demo", "-o", "afile/r.md"], ("afile", "not a folder")),
    (["diff", "demo", "-o", "afile/deeper/r.md"], ("afile", "not a folder")),
    (["images", "--output", "outdir"], ("--output", "is a folder")),
    (["images", "--output", "missing/images.txt"], ("missing", "does not exist")),
    (["bundle", "outdir"], ("outdir", "is a folder")),
    (["bundle", "outdir/"], ("outdir", "is a folder")),
    (["bundle", "afile/x.tgz"], ("afile", "not a folder")),
    (["bundle", "missing/x.tgz"], ("missing", "does not exist")),
    (["bundle", "/sys/chartkeeper-bundle.tgz"], ("/sys",)),  # the kernel refuses new files there, even to root
    # repository URLs and bundles
    (["add", "other", "--repo", "ftp://charts.example.invalid/stable", "--version", "1.0.0"], ("--repo", "ftp")),
    (["add", "other", "--repo", "", "--version", "1.0.0"], ("--repo", "empty")),
    (["add", "other", "--repo", "https://", "--version", "1.0.0"], ("--repo", "no host")),
    (["add", "Other Chart", "--repo", REPO, "--version", "1.0.0"], ("not a valid chart name",)),
    (["add", "other", "--repo", REPO, "--version", "one"], ("--version", "one")),
    (["add", "demo", "--repo", REPO, "--version", "1.0.0"], ("already pinned",)),
    (["sync", "--from", "missing-bundle.tgz"], ("--from", "missing-bundle.tgz")),
    (["sync", "demo", "--from", "outdir/nothing-here"], ("--from",)),
    # names that do not exist
    (["check", "nosuch"], ("nosuch",)),
    (["verify", "nosuch"], ("nosuch",)),
    (["sync", "nosuch"], ("nosuch",)),
    (["diff", "nosuch"], ("nosuch",)),
    (["diff", "demo", "9.9.9"], ("9.9.9",)),
    (["bump", "nosuch"], ("nosuch",)),
    (["bundle", "b.tgz", "nosuch"], ("nosuch",)),
    (["values", "nosuch", "-e", "dev"], ("nosuch",)),
    (["values", "demo", "-e", "qa"], ("qa",)),
    (["values", "demo", "-e", "dev", "-e", "prod"], ("one environment",)),
    (["releases", "-e", "qa"], ("qa",)),
    (["env-diff", "dev", "qa"], ("qa",)),
    (["lint", "-e", "qa"], ("qa",)),
    (["images", "-e", "qa"], ("qa",)),
    (["import", "--charts-json", "missing.json"], ("missing.json",)),
    (["import", "--csv-lock", "missing.csv"], ("missing.csv",)),
    (["--lock", "missing.lock", "check"], ("missing.lock",)),
    (["check", "--lock", "missing.lock"], ("missing.lock",)),
    # options that do not fit
    (["bump"], ("--all",)),
    (["bump", "demo", "--push", "--in-place"], ("--push",)),
    (["bump", "demo", "--fail-on", "sometimes"], ("--fail-on", "sometimes")),
    (["diff", "demo", "--engine", "docker"], ("--engine", "docker")),
    (["diff", "demo", "--json", "--format", "md"], ("--json", "--format md")),
    (["images", "--json", "--format", "copy"], ("--json", "--format copy")),
    (["values"], ("CHART",)),
    (["env-diff", "dev"], ("ENV_B",)),
] + [([name, "--no-such-option"], ("--no-such-option",)) for name, _ in COMMANDS]


def _assert_one_line_failure(proc: subprocess.CompletedProcess[str], needles: tuple[str, ...]) -> None:
    detail = f"exit {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-2000:]}"
    assert proc.returncode == 2, detail
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, detail
    lines = error_lines(proc)
    assert len(lines) == 1, detail
    for n in needles:
        assert n.lower() in lines[0].lower(), f"{n!r} not in {lines[0]!r}\n{detail}"
    others = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith(("error:", "hint:", "warning:"))]
    assert others == [], detail


def test_the_bad_usage_list_covers_every_command() -> None:
    assert len(CASES) >= 25 + len(COMMANDS)
    assert {args[0] for args, _ in CASES if not args[0].startswith("-")} == {name for name, _ in COMMANDS}


@pytest.mark.parametrize("args, needles", CASES, ids=[" ".join(a) or "-" for a, _ in CASES])
def test_bad_input_is_exit_2_one_line_nothing_written(site: dict[str, Path], args: list[str], needles: tuple[str, ...]) -> None:
    deploy, work = site["deploy"], site["work"]
    args = [a.replace(REPO, site["repo"].as_uri()) for a in args]
    before = (tree_state(deploy), tree_state(work), git(deploy, "status", "--porcelain", "--ignored"))
    proc = invoke_cli(["-C", str(deploy), *args], cwd=work, env={"CHARTKEEPER_CACHE_DIR": str(site["cache"])})
    _assert_one_line_failure(proc, needles)
    after = (tree_state(deploy), tree_state(work), git(deploy, "status", "--porcelain", "--ignored"))
    changed = sorted(k for k in set(after[0]) | set(before[0]) if after[0].get(k) != before[0].get(k))
    changed += sorted(k for k in set(after[1]) | set(before[1]) if after[1].get(k) != before[1].get(k))
    assert after == before, f"`chartkeeper {' '.join(args)}` changed files: {changed} {after[2]!r}"


@pytest.mark.parametrize("args", [["--help"], ["releases", "-C", "{deploy}"], ["values", "demo", "-e", "dev", "-C", "{deploy}"],
                                  ["lint", "-C", "{deploy}"], ["check", "--json", "-C", "{deploy}"]])
def test_a_closed_pipe_ends_quietly(site: dict[str, Path], args: list[str]) -> None:
    """`chartkeeper … | head -0`: the reader is gone before the first write; chartkeeper stops the way
    `cat` does (killed by SIGPIPE, status 141 in a shell), with no bug report and no traceback."""
    args = [a.replace("{deploy}", str(site["deploy"])) for a in args]
    read_end, write_end = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "chartkeeper", *args], cwd=site["work"], stdout=write_end,
                            stderr=subprocess.PIPE, env=dict(os.environ, CHARTKEEPER_CACHE_DIR=str(site["cache"])))
    os.close(write_end)
    os.close(read_end)  # long before the child has imported anything
    _, err = proc.communicate(timeout=120)
    text = err.decode()
    assert "Traceback" not in text and "internal error" not in text and "Exception ignored" not in text, text
    assert text.strip() == "", text
    # click ends its own help output with status 1 on a closed pipe; our commands die of SIGPIPE
    assert proc.returncode == (1 if args == ["--help"] else -13), (proc.returncode, text)
