"""`chartkeeper diff` end to end: a real chart repository on loopback, a deployment tree, the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.charts import build_index, package_chart, write_chart
from tests.support.harness import assert_clean_failure, invoke_cli, tree_state

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: demo}
  template:
    metadata:
      labels: {app: demo}
    spec:
      containers:
        - name: main
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
"""
CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
"""


def _chart(parent: Path, version: str, tag: str, extra_values: dict | None = None, crd: str = CRD) -> Path:
    values = {"replicas": 1, "image": {"repository": "registry.example/demo", "tag": tag}, **(extra_values or {})}
    return write_chart(parent, "demo", version, values=values, templates={"deploy.yaml": DEPLOY}, crds={"widgets.yaml": crd},
                       app_version=tag, folder=f"demo-{version}")


@pytest.fixture
def deployment(tmp_path: Path, repo_server) -> Path:
    src = tmp_path / "src"
    v1 = _chart(src, "1.0.0", "1.0", {"metrics": {"enabled": False}})
    v2 = _chart(src, "1.1.0", "1.1", {"metrics": {"enabled": False}})
    v3 = _chart(src, "2.0.0", "2.0", {"monitoring": {"enabled": False}},
                crd=CRD + "    - name: v2\n      served: true\n      storage: false\n")
    for c in (v1, v2, v3):
        package_chart(c, repo_server.root)
    build_index(repo_server.root, extra={
        "demo-1.1.0": {"annotations": {"artifacthub.io/changes": "- kind: fixed\n  description: probe timeout\n"}},
        "demo-2.0.0": {"annotations": {"artifacthub.io/changes": "- kind: changed\n  description: metrics renamed to monitoring\n"}},
    })
    root = tmp_path / "deploy"
    ext = root / "helmfile" / "charts" / "external"
    ext.mkdir(parents=True)
    _chart(ext, "1.0.0", "1.0", {"metrics": {"enabled": False}})
    (ext / "versions.lock").write_text(
        "version: 1\ncharts:\n"
        f"  - name: demo\n    chart: demo\n    repository: {repo_server.url}\n    version: 1.0.0\n    constraint: 1.x\n"
    )
    (root / "chartkeeper.yaml").write_text("kubeVersion: v1.30.0\n")
    return root


def test_diff_writes_markdown_json_and_images_without_touching_the_repository(deployment: Path) -> None:
    before = tree_state(deployment)
    (deployment.parent / "out").mkdir()
    proc = invoke_cli(["-C", str(deployment), "diff", "--defaults-only", "demo", "2.0.0", "--format", "md", "--output", str(deployment.parent / "out" / "r.md")],
                   cwd=deployment)
    assert proc.returncode == 0, proc.stderr
    assert tree_state(deployment) == before  # nothing in the repository changes
    md = (deployment.parent / "out" / "r.md").read_text()
    assert md.startswith("# Upgrade report: demo 1.0.0 → 2.0.0")
    assert "🟠 **needs review**" in md or "🔴 **breaking**" in md
    assert "[changed] metrics renamed to monitoring" in md and "[fixed] probe timeout" in md
    assert "kubectl apply --server-side --force-conflicts -f helmfile/charts/external/demo-2.0.0/crds/" in md
    assert (deployment.parent / "out" / "r.images.txt").read_text() == "registry.example/demo:2.0\n"
    assert "demo 1.0.0 → 2.0.0:" in proc.stdout  # the terminal summary

    js = invoke_cli(["-C", str(deployment), "diff", "--defaults-only", "demo", "2.0.0", "--json"], cwd=deployment)
    assert js.returncode == 0, js.stderr
    data = json.loads(js.stdout)
    assert data["schemaVersion"] == 2 and data["newVersion"] == "2.0.0" and data["imagesToMirror"] == ["registry.example/demo:2.0"]
    assert {f["code"] for f in data["findings"]} >= {"crd.changed", "images.new", "chart.app-version"}
    assert any("defaults only" in n for n in data["notes"])


def test_diff_defaults_to_newest_in_constraint_and_prints_a_summary(deployment: Path) -> None:
    proc = invoke_cli(["-C", str(deployment), "diff", "--defaults-only", "demo"], cwd=deployment)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    # a routine bump (an inherited image tag, hence a new image) is safe, with the mirror action
    assert first.startswith("demo 1.0.0 → 1.1.0: SAFE (0 breaking, 0 review")
    assert "before merging:\n  1. Mirror this image into the air-gapped registry" in proc.stdout


def test_fail_on_and_errors(deployment: Path) -> None:
    proc = invoke_cli(["-C", str(deployment), "diff", "--defaults-only", "demo", "2.0.0", "--fail-on", "review"], cwd=deployment)
    assert proc.returncode == 1, proc.stderr
    assert_clean_failure(invoke_cli(["-C", str(deployment), "diff", "--defaults-only", "nope"], cwd=deployment), "nope")
    assert_clean_failure(invoke_cli(["-C", str(deployment), "diff", "--defaults-only", "demo", "9.9.9"], cwd=deployment), "9.9.9")
    assert_clean_failure(invoke_cli(["-C", str(deployment), "diff", "--defaults-only", "demo", "2.0.0", "--format", "pdf"], cwd=deployment), "--format")
    same = invoke_cli(["-C", str(deployment), "diff", "--defaults-only", "demo", "1.0.0"], cwd=deployment)
    assert same.returncode == 0 and "nothing to compare" in same.stderr


def test_diff_without_a_helmfile_state_refuses_unless_defaults_only(deployment: Path) -> None:
    """Without the state every key the deployment overrides would read as "we inherit it"."""
    before = tree_state(deployment)
    proc = invoke_cli(["diff", "demo", "2.0.0"], cwd=deployment)
    assert_clean_failure(proc, "no helmfile state at helmfile/helmfile.yaml")
    assert "--defaults-only" in proc.stderr
    assert tree_state(deployment) == before
    for args in ([], ["--json"], ["--format", "md"]):
        proc = invoke_cli(["diff", "demo", "2.0.0", "--defaults-only", *args], cwd=deployment)
        assert proc.returncode == 0, proc.stderr
        assert "warning: analysed demo with the chart defaults only: no helmfile state at helmfile/helmfile.yaml" in proc.stderr
