"""Commands run from anywhere inside the deployment repository find its root as git finds `.git`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.harness import assert_clean_failure, invoke_cli
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


# Each command with the arguments it needs to get past its own usage checks.
OUTSIDE = {
    "check": [], "diff": ["demo"], "bump": ["demo"], "sync": [], "verify": [], "recover": [],
    "bundle": ["out.tgz"], "releases": [], "values": ["demo"], "env-diff": ["dev", "prod"], "lint": [], "images": [],
}


def test_every_command_outside_a_deployment_says_so_the_same_way(tmp_path: Path) -> None:
    from chartkeeper.cli import COMMANDS, NEEDS_NO_DEPLOYMENT

    assert set(OUTSIDE) | set(NEEDS_NO_DEPLOYMENT) == {name for name, _ in COMMANDS}  # a new command is listed here
    nowhere = tmp_path / "not-a-deployment" / "sub"  # no chartkeeper.yaml nor lock here or above (tmp_path's parents hold none)
    nowhere.mkdir(parents=True)
    for command, args in OUTSIDE.items():
        for where in (["-C", str(nowhere)], []):
            proc = invoke_cli([*where, command, *args], cwd=nowhere)
            line = assert_clean_failure(proc)
            assert line == (
                f"error: no deployment found in {nowhere} or above (looked for chartkeeper.yaml or "
                "helmfile/charts/external/versions.lock); use -C DIR or run chartkeeper add/import"
            ), (command, proc.stderr)
    assert not any(nowhere.iterdir()) and not (nowhere / "out.tgz").exists()
