"""`lint` and `diff` render at the configured cluster version with no `helm` binary anywhere.

The chart reads the version as kube-prometheus-stack and Harbor do (`default .Capabilities.KubeVersion.Version
.Values.kubeVersionOverride` in `_helpers.tpl`) and gates the apiVersion of an Ingress, a PodDisruptionBudget and
a CronJob on it; the site's cluster also serves ServiceMonitor (`apiVersions:` in chartkeeper.yaml)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.charts import build_index, package_chart, write_chart
from tests.support.harness import invoke_cli
from tests.test_render import GATED_EXPECTED, GATED_TEMPLATES

HELMFILE = """\
environments:
  default:
    values:
      - environments/default.yaml
---
releases:
  - name: web
    namespace: web
    chart: ./charts/external/gated-{version}
    skipDeps: true
"""


def _deployment(tmp_path: Path, server, kube_version: str) -> Path:
    src = tmp_path / "src"
    for version in ("1.0.0", "1.1.0"):  # 1.1.0 annotates every object
        templates = {k: v.replace("metadata:\n  name: web\n", "metadata:\n  annotations: {tier: web}\n  name: web\n")
                     if version == "1.1.0" else v
                     for k, v in GATED_TEMPLATES.items()}
        chart = write_chart(src, "gated", version, values={"kubeVersionOverride": ""}, templates=templates,
                            folder=f"gated-{version}")
        package_chart(chart, server.root)
    build_index(server.root)
    root = tmp_path / "deploy"
    hf = root / "helmfile"
    (hf / "environments").mkdir(parents=True)
    (hf / "environments" / "default.yaml").write_text("{}\n")
    (hf / "helmfile.yaml").write_text(HELMFILE.format(version="1.0.0"))
    (root / "chartkeeper.yaml").write_text(
        f"kubeVersion: {kube_version}\napiVersions:\n  - monitoring.coreos.com/v1/ServiceMonitor\n")
    proc = invoke_cli(["add", "gated", "--repo", server.url, "--version", "1.0.0"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root


def _no_helm(tmp_path: Path) -> dict[str, str]:
    """A PATH with git (gitpython needs it) and nothing else: no helm, helmfile or kubectl."""
    bin_dir = tmp_path / "git-only-bin"
    bin_dir.mkdir(exist_ok=True)
    git = shutil.which("git")
    assert git, "git is needed on PATH"
    (bin_dir / "git").symlink_to(git)
    return {"PATH": str(bin_dir), "CHARTKEEPER_HELM": ""}


@pytest.mark.parametrize("kube_version", sorted(GATED_EXPECTED))
def test_diff_and_lint_render_at_the_configured_cluster_without_helm(tmp_path: Path, repo_server, kube_version: str) -> None:
    root = _deployment(tmp_path, repo_server, kube_version)
    env = _no_helm(tmp_path)
    proc = invoke_cli(["diff", "gated", "1.1.0", "--format", "json"], cwd=root, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["kubeVersion"] == kube_version
    (rel,) = report["releases"]
    assert rel["engine"] == "embedded" and rel["error"] is None and rel["renderNotes"] == []
    seen = {}
    for change in rel["resources"]["changed"]:
        kind = change["resource"].split("/")[1]
        assert change["apiOld"] == change["apiNew"]
        seen[kind] = change["apiNew"]
    assert seen == {**GATED_EXPECTED[kube_version], "ServiceMonitor": "monitoring.coreos.com/v1"}

    proc = invoke_cli(["-v", "lint"], cwd=root, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "checked: render web/web (default)" in proc.stdout + proc.stderr
