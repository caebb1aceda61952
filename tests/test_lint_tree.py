"""lint on files as committed: vendored-folder drift (what `verify` finds) and helmfile 1.x's YAML parts."""

from __future__ import annotations

import json
from pathlib import Path

from chartkeeper.lint import lint
from chartkeeper.settings import load_settings
from tests.support.deployment import demo_chart_versions, make_deployment, publish
from tests.support.harness import invoke_cli

ROOT = Path(__file__).resolve().parent.parent


def _deployment(tmp_path: Path, server) -> Path:
    publish(server.root, demo_chart_versions(tmp_path / "src", "demo", {"1.0.0": {}}))
    return make_deployment(tmp_path / "deploy", server.url, {"demo": "1.0.0"})


def test_lint_reports_a_hand_edit_of_a_vendored_chart_as_verify_does(tmp_path: Path, repo_server) -> None:
    root = _deployment(tmp_path, repo_server)
    assert not [f for f in lint(load_settings(root)).findings if f.code == "lint.vendored-drift"]
    values = root / "helmfile" / "charts" / "external" / "demo-1.0.0" / "values.yaml"
    values.write_text(values.read_text().replace("replicaCount: 1", "replicaCount: 2"))
    proc = invoke_cli(["lint", "--json"], cwd=root)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (drift,) = [f for f in json.loads(proc.stdout)["findings"] if f["code"] == "lint.vendored-drift"]
    assert drift["severity"] == "review" and drift["path"] == "demo"
    assert "modified values.yaml" in drift["message"] and "chartkeeper sync --force demo" in drift["message"]
    assert invoke_cli(["verify"], cwd=root).returncode == 1  # the same thing verify finds


def test_lint_flags_environments_sharing_a_part_with_releases(tmp_path: Path, repo_server) -> None:
    root = _deployment(tmp_path, repo_server)
    state = root / "helmfile" / "helmfile.yaml"
    text = state.read_text()
    assert not [f for f in lint(load_settings(root)).findings if f.code == "lint.helmfile-parts"]
    # one part: `bases:` then `releases:` with no `---` between them
    state.write_text(text.replace("---\n", "", 1))
    findings = [f for f in lint(load_settings(root)).findings if f.code == "lint.helmfile-parts"]
    assert len(findings) == 1
    f = findings[0]
    assert f.file == "helmfile/helmfile.yaml" and f.line == text.replace("---\n", "", 1).splitlines().index("releases:") + 1
    assert "`bases:` (line 2) and `releases:`" in f.message and "helmfile 1.x refuses" in f.message


def test_the_demo_and_this_repository_keep_environments_in_their_own_part() -> None:
    from chartkeeper.lint.committed import mixed_parts

    files = [p for base in (ROOT / "helmfile", ROOT / "examples") for p in base.rglob("*")
             if p.is_file() and p.name.endswith((".yaml", ".yml", ".gotmpl")) and "charts" not in p.relative_to(base).parts]
    assert files
    assert mixed_parts(files, str) == []
