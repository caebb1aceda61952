"""`diff` and `bump` ask the repository once: one index fetch per run, one archive download per chart.

Counted on the real loopback HTTP repository (every request it answers is logged), with the
real CLI in a subprocess: the listing, the analysis and the vendoring share what
`chartkeeper.upgrade` fetched and staged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.deployment import demo_chart_versions, git, make_deployment, publish
from tests.support.harness import invoke_cli

ENV = {"CHARTKEEPER_HELMFILE": "none"}  # the embedded engine: no helmfile process asks the repository


@pytest.fixture(autouse=True)
def _no_index_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")


@pytest.fixture
def deploy(repo_server, tmp_path: Path) -> Path:
    charts = demo_chart_versions(tmp_path / "src", "demo", {"1.0.0": {}, "1.1.0": {"tag": "1.1.0"}})
    charts += demo_chart_versions(tmp_path / "src2", "other", {"2.0.0": {}, "2.1.0": {}})
    publish(repo_server.root, charts)
    return make_deployment(tmp_path / "deploy", repo_server.url, {"demo": "1.0.0", "other": "2.0.0"})


def _requests_of(repo_server, args: list[str], root: Path) -> tuple[list[str], str]:
    before = len(repo_server.requests)
    proc = invoke_cli(["-C", str(root), *args], cwd=root, env=ENV)
    assert proc.returncode == 0, proc.stderr
    return repo_server.paths_requested()[before:], proc.stdout


def test_diff_lists_once_and_downloads_new_once(repo_server, deploy: Path) -> None:
    paths, _ = _requests_of(repo_server, ["diff", "demo", "--format", "json"], deploy)
    assert sorted(paths) == ["/demo-1.1.0.tgz", "/index.yaml"]


def test_bump_lists_once_and_vendors_the_analysed_download(repo_server, deploy: Path) -> None:
    paths, out = _requests_of(repo_server, ["bump", "demo", "--json"], deploy)
    assert sorted(paths) == ["/demo-1.1.0.tgz", "/index.yaml"]
    res = json.loads(out)
    assert (res["status"], res["ready"]) == ("bumped", True), res
    # what was vendored from that single download is the published chart, pinned with its digest
    from chartkeeper.lockfile import parse_lock

    lock = git(deploy, "show", f"{res['branch']}:helmfile/charts/external/versions.lock")
    assert parse_lock(lock + "\n").require("demo").version == "1.1.0"
    assert "version: 1.1.0" in git(deploy, "show", f"{res['branch']}:helmfile/charts/external/demo-1.1.0/Chart.yaml")


def test_bump_in_place_and_dry_run_download_once(repo_server, deploy: Path) -> None:
    paths, _ = _requests_of(repo_server, ["bump", "demo", "--dry-run", "--json"], deploy)
    assert sorted(paths) == ["/demo-1.1.0.tgz", "/index.yaml"]
    paths, _ = _requests_of(repo_server, ["bump", "demo", "--in-place", "--json"], deploy)
    assert sorted(paths) == ["/demo-1.1.0.tgz", "/index.yaml"]
    assert (deploy / "helmfile/charts/external/demo-1.1.0/Chart.yaml").is_file()


def test_bump_all_reads_the_index_once_for_every_chart(repo_server, deploy: Path) -> None:
    paths, out = _requests_of(repo_server, ["bump", "--all", "--json"], deploy)
    assert sorted(paths) == ["/demo-1.1.0.tgz", "/index.yaml", "/other-2.1.0.tgz"]
    assert sorted(r["status"] for r in json.loads(out)["results"]) == ["bumped", "bumped"]
