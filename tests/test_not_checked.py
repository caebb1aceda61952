"""A check that cannot run is reported as NOT CHECKED, never as a finding: own section, exit 2 unless
`--allow-unchecked` (lint and diff)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.deployment import demo_chart_versions, make_deployment, publish
from tests.support.harness import invoke_cli
from tests.support.httpserver import ChartRepoServer

ENCRYPTED = """\
image:
  tag: ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]
sops:
  lastmodified: "2025-09-01T00:00:00Z"
  mac: ENC[AES256_GCM,data:xyz,iv:uvw,tag:rst,type:str]
  version: 3.9.0
"""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One deployment for the module: lint, diff and `bump --dry-run` write nothing to it."""
    tmp_path = tmp_path_factory.mktemp("not-checked")
    (tmp_path / "repo").mkdir()
    with ChartRepoServer(tmp_path / "repo") as repo_server:
        yield _deployment(tmp_path, repo_server)


def _deployment(tmp_path: Path, repo_server: ChartRepoServer) -> Path:
    publish(repo_server.root, demo_chart_versions(tmp_path / "src", "demo", {"1.0.0": {}, "1.1.0": {}}))
    root = make_deployment(tmp_path / "deploy", repo_server.url, {"demo": "1.0.0"})
    # the prod release also reads a sops-encrypted file: keys set only there cannot be looked at
    (root / "helmfile" / "values" / "demo.secrets.yaml").write_text(ENCRYPTED)
    state = root / "helmfile" / "helmfile.yaml"
    state.write_text(state.read_text().replace(
        "    values:\n      - values/demo.yaml\n  - name: demo-canary",
        "    values:\n      - values/demo.yaml\n      - values/demo.secrets.yaml\n  - name: demo-canary", 1))
    return root


def test_lint_lists_what_it_could_not_check_and_exits_2(deployment: Path) -> None:
    proc = invoke_cli(["lint", "--json"], cwd=deployment)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert {(n["what"], n["env"]) for n in data["notChecked"]} == {
        ("overrides of demo/demo set only in helmfile/values/demo.secrets.yaml", "dev"),
        ("overrides of demo/demo set only in helmfile/values/demo.secrets.yaml", "prod"),
    }
    assert all(n["why"] == "sops-encrypted values are not decrypted" for n in data["notChecked"])
    assert not [f for f in data["findings"] if "secrets" in f["message"] and f["severity"] != "info"]
    text = invoke_cli(["lint"], cwd=deployment)
    assert text.returncode == 2
    assert "NOT CHECKED (2)" in text.stdout and "- ok" not in text.stdout
    allowed = invoke_cli(["lint", "--allow-unchecked"], cwd=deployment)
    assert allowed.returncode == 1, allowed.stdout + allowed.stderr  # the findings' code (no skipDeps here), not 2
    assert "NOT CHECKED (2)" in allowed.stdout  # still said


def test_diff_has_a_not_checked_section_in_every_format(deployment: Path) -> None:
    proc = invoke_cli(["diff", "demo", "1.1.0", "--json"], cwd=deployment)
    assert proc.returncode == 2, proc.stderr
    items = json.loads(proc.stdout)["notChecked"]
    assert items == [{"what": "overrides of demo set only in helmfile/values/demo.secrets.yaml",
                      "why": "sops-encrypted values are not decrypted", "env": env} for env in ("dev", "prod")]
    md = invoke_cli(["diff", "demo", "1.1.0", "--format", "md"], cwd=deployment)
    assert md.returncode == 2 and "## Not checked" in md.stdout
    text = invoke_cli(["diff", "demo", "1.1.0"], cwd=deployment)
    assert text.returncode == 2 and "NOT CHECKED" in text.stdout
    assert invoke_cli(["diff", "demo", "1.1.0", "--allow-unchecked"], cwd=deployment).returncode == 0


def test_bump_says_what_it_could_not_check(deployment: Path) -> None:
    proc = invoke_cli(["bump", "demo", "1.1.0", "--dry-run", "--json"], cwd=deployment)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    res = json.loads(proc.stdout)
    assert res["notChecked"] == [f"overrides of demo set only in helmfile/values/demo.secrets.yaml [{env}]: "
                                 "sops-encrypted values are not decrypted" for env in ("dev", "prod")]
    assert res["report"]["notChecked"]
    text = invoke_cli(["bump", "demo", "1.1.0", "--dry-run"], cwd=deployment)
    assert text.returncode == 2 and "NOT CHECKED (2)" in text.stdout
    assert invoke_cli(["bump", "demo", "1.1.0", "--dry-run", "--allow-unchecked"], cwd=deployment).returncode == 0
