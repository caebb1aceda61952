"""Writing where it should not: every place chartkeeper writes stays inside its own folder.

A small committed deployment (a real chart repository on loopback, a real git repository) is made
hostile one way per trial, as a bad merge, a careless edit or a malicious merge request leaves it:
lock entries whose `path:` lies inside another vendored chart, inside a chart no entry owns, is a
reserved name (`.treesums`, `.`), or leaves the lock's folder through a committed symlink; a
`.treesums` symlink out of the lock's folder; a `charts.json` naming `../…` or a name no lock
accepts; a committed `reports -> <outside>` symlink that `bump` would write its report through.

Each trial: exit 2 (never 3), one `error:` line naming the file or the entry (`diff`, whose job is to
report, names it in a breaking finding instead), `git status` and the tree's checksum exactly as
before, and nothing written in the folder outside the repository. Also a kustomization folder holding
`zero -> /dev/zero`, which the kubectl engine's copy of the folder would read forever.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.deployment import git, served_demo_deployment
from tests.support.harness import git_state, invoke_cli, tree_state

pytestmark = pytest.mark.reliability

EXTERNAL = "helmfile/charts/external"
ENTRY = """\
  - name: intruder
    chart: demo
    repository: {url}
    version: "1.1.0"
    path: {path}
"""


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory):
    with served_demo_deployment(tmp_path_factory.mktemp("hostile-writes")) as served:
        yield served


def _setup_lock_path(path: str):
    def setup(deploy: Path, url: str, outside: Path) -> None:
        lock = deploy / EXTERNAL / "versions.lock"
        lock.write_text(lock.read_text() + ENTRY.format(url=url, path=path))
    return setup


def _setup_symlinked_parent(deploy: Path, url: str, outside: Path) -> None:
    (deploy / EXTERNAL / "linked").symlink_to(outside, target_is_directory=True)
    _setup_lock_path("linked/intruder")(deploy, url, outside)


def _setup_unowned_chart(deploy: Path, url: str, outside: Path) -> None:
    legacy = deploy / EXTERNAL / "legacy"
    legacy.mkdir()
    (legacy / "Chart.yaml").write_text("apiVersion: v2\nname: legacy\nversion: 0.1.0\n")
    _setup_lock_path("legacy/charts/intruder")(deploy, url, outside)


def _setup_treesums_link(deploy: Path, url: str, outside: Path) -> None:
    sums = deploy / EXTERNAL / ".treesums"
    shutil.rmtree(sums)
    sums.symlink_to(outside, target_is_directory=True)
    (deploy / EXTERNAL / "demo-1.0.0" / "values.yaml").write_text("edited: by hand\n")  # drift: sync re-vendors


def _setup_reports_link(deploy: Path, url: str, outside: Path) -> None:
    (deploy / "reports").symlink_to(outside, target_is_directory=True)


def _setup_charts_json(name: str):
    def setup(deploy: Path, url: str, outside: Path) -> None:
        (deploy / "charts.json").write_text(json.dumps(
            {"repositories": {"up": url}, "charts": {name: {"repository": "up", "version": "1.1.0"}}}))
    return setup


def _setup_device_link(deploy: Path, url: str, outside: Path) -> None:
    (deploy / "patches" / "demo" / "zero").symlink_to("/dev/zero")


def _setup_broken_second_chart(deploy: Path, url: str, outside: Path) -> None:
    """Two unpinned folders: the first would be renamed to `other-1.1.0`, the second's Chart.yaml is not YAML."""
    first = deploy / EXTERNAL / "aaa-unpinned"
    first.mkdir()
    (first / "Chart.yaml").write_text("apiVersion: v2\nname: other\nversion: 1.1.0\n")
    broken = deploy / EXTERNAL / "zzz-unpinned"
    broken.mkdir()
    (broken / "Chart.yaml").write_text("name: [\n")
    _setup_charts_json("other")(deploy, url, outside)


def _setup_external_link(deploy: Path, url: str, outside: Path) -> None:
    """The whole lock folder moved out of the repository and linked back in."""
    external = deploy / EXTERNAL
    shutil.move(str(external), str(outside / "external"))
    external.symlink_to(outside / "external", target_is_directory=True)
    (outside / "external" / "demo-1.0.0" / "values.yaml").write_text("edited: by hand\n")  # drift: sync re-vendors


# kind: (setup, command, what the error line names)
CASES = {
    "lock path inside another vendored chart": (_setup_lock_path("demo-1.0.0/templates"), ["sync", "intruder"], "versions.lock"),
    "lock path .treesums": (_setup_lock_path(".treesums"), ["sync"], "versions.lock"),
    "lock path .": (_setup_lock_path("."), ["sync"], "versions.lock"),
    "lock path through a symlink out of the lock's folder": (_setup_symlinked_parent, ["sync", "intruder"], "intruder"),
    "lock path inside a chart no entry owns": (_setup_unowned_chart, ["sync", "intruder"], "legacy"),
    ".treesums a symlink out of the lock's folder": (_setup_treesums_link, ["sync", "demo"], ".treesums"),
    "charts.json naming ../../../../x": (_setup_charts_json("../../../../x"), ["import", "--charts-json", "charts.json"], "charts.json"),
    "charts.json naming Extra-Chart": (_setup_charts_json("Extra-Chart"), ["import", "--charts-json", "charts.json"], "charts.json"),
    "a broken Chart.yaml after a folder import would rename": (_setup_broken_second_chart,
                                                                ["import", "--charts-json", "charts.json"], "Chart.yaml"),
    "the lock's folder a symlink out of the repository (sync)": (_setup_external_link, ["sync", "demo"], "repository"),
    "the lock's folder a symlink out of the repository (add)": (_setup_external_link, [
        "add", "other", "--repo", "{url}", "--chart", "demo", "--version", "1.1.0"], "repository"),
    "reports a symlink out of the repository (bump)": (_setup_reports_link, ["bump", "demo", "1.1.0"], "reports"),
    "patches/demo/zero -> /dev/zero, kubectl engine (diff)": (_setup_device_link, ["diff", "demo", "1.1.0"], "zero"),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_a_write_outside_its_place_is_refused_before_anything_is_written(
        upstream, kind: str, tmp_path: Path, reliability) -> None:
    if "kubectl" in kind and not shutil.which("kubectl"):
        pytest.skip("no kubectl binary (scripts/install-tools.sh installs one)")
    url, template = upstream
    setup, argv, named = CASES[kind]
    deploy = tmp_path / "deploy"
    shutil.copytree(template, deploy, symlinks=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    setup(deploy, url, outside)
    git(deploy, "add", "-A")
    git(deploy, "commit", "-q", "--allow-empty", "-m", kind)
    before, before_outside = git_state(deploy), tree_state(outside)
    argv = [a.replace("{url}", url) for a in argv]
    with reliability.case("writes", kind):
        proc = invoke_cli(["-C", str(deploy), *argv], cwd=deploy,
                          env={"CHARTKEEPER_CACHE_DIR": str(tmp_path / "cache"), "CHARTKEEPER_HELMFILE": "none",
                               "GIT_OPTIONAL_LOCKS": "0", "CHARTKEEPER_KUSTOMIZE": "kubectl"})
        both = proc.stdout + proc.stderr
        if argv[0] == "diff":  # diff's job is to report: a breaking finding naming the file (as for any broken patch)
            assert proc.returncode in (0, 1, 2) and "Traceback" not in both, both
            assert any("breaking" in ln and named in ln for ln in both.splitlines()), both
        else:
            assert proc.returncode == 2, both
            errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
            assert len(errors) == 1 and named in errors[0], both
        assert git_state(deploy) == before  # files, index, HEAD, branch, `git status`: as they were
        assert tree_state(outside) == before_outside, "written outside the repository"
        if argv[0] == "bump":  # no branch was left behind either
            assert "chartkeeper/demo-1.1.0" not in git(deploy, "branch", "--list")
