"""Commands run from anywhere inside the deployment repository find its root as git finds `.git`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.harness import invoke_cli
from tests.support.repo import make_repo


def _deployment(tmp_path: Path, server, *, config: bool) -> Path:
    make_repo(server.root, {"demo": ["1.0.0", "1.1.0"]})
    root = tmp_path / "deploy"
    (root / "helmfile").mkdir(parents=True)
    if config:
        (root / "chartkeeper.yaml").write_text("kubeVersion: v1.30.0\n")
    proc = invoke_cli(["add", "demo", "--repo", server.url, "--version", "1.0.0"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root


def test_check_from_the_helmfile_folder_and_a_vendored_chart(tmp_path: Path, repo_server) -> None:
    root = _deployment(tmp_path, repo_server, config=False)  # the lock is the only marker
    for where in (root / "helmfile", root / "helmfile" / "charts" / "external" / "demo-1.0.0" / "templates"):
        proc = invoke_cli(["check", "--json"], cwd=where)
        assert proc.returncode == 0, proc.stderr
        (chart,) = json.loads(proc.stdout)["charts"]
        assert (chart["name"], chart["latest"]) == ("demo", "1.1.0")


def test_chartkeeper_yaml_marks_the_root(tmp_path: Path, repo_server) -> None:
    root = _deployment(tmp_path, repo_server, config=True)
    sub = root / "docs" / "notes"
    sub.mkdir(parents=True)
    proc = invoke_cli(["verify", "--json"], cwd=sub)
    assert proc.returncode == 0, proc.stderr
    assert [c["name"] for c in json.loads(proc.stdout)["charts"]] == ["demo"]


def test_root_option_naming_a_missing_folder_is_its_own_error(tmp_path: Path) -> None:
    proc = invoke_cli(["-C", str(tmp_path / "nowhere"), "check"], cwd=tmp_path)
    assert proc.returncode == 2
    assert "nowhere" in proc.stderr and "does not exist" in proc.stderr
    assert "lock file not found" not in proc.stderr
