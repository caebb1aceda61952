"""Patch findings on manifests rendered by the real Helm engine from two versions of a chart."""

from __future__ import annotations

from pathlib import Path

import pytest

from chartkeeper.kustomize import apply_kustomization, patch_findings, sort_manifests
from chartkeeper.helm.render import render_chart
from tests.kustomize.tools import needs_kubectl
from tests.support.charts import write_chart, write_tree

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-operator
  labels: {app: operator}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: operator}}
  template:
    metadata: {labels: {app: operator}}
    spec:
      containers:
      - name: operator
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        resources:
          limits: {cpu: {{ .Values.cpu | quote }}, memory: 256Mi}
"""
DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ .Release.Name }}-{{ .Values.agentName }}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - name: agent
        image: "{{ .Values.image.repository }}-agent:{{ .Values.image.tag }}"
"""


def _render(tmp_path: Path, version: str, values: dict) -> list[dict]:
    chart = write_chart(tmp_path / version, "gpu-operator", version, values=values,
                        templates={"deployment.yaml": DEPLOYMENT, "daemonset.yaml": DAEMONSET})
    result = render_chart(chart, {}, release="gpu", namespace="gpu-operator", kube_version="v1.31.0",
                          engine="embedded")
    return result.objects


@pytest.fixture
def versions(tmp_path: Path) -> tuple[list[dict], list[dict]]:
    old = _render(tmp_path, "1.0.0", {"replicas": 1, "cpu": "500m", "agentName": "agent",
                                      "image": {"repository": "nvcr.io/nvidia/operator", "tag": "v1.0.0"}})
    new = _render(tmp_path, "2.0.0", {"replicas": 1, "cpu": "750m", "agentName": "node-agent",
                                      "image": {"repository": "nvcr.io/nvidia/operator", "tag": "v2.0.0"}})
    return old, new


@pytest.fixture
def patches(tmp_path: Path) -> Path:
    folder = tmp_path / "repo" / "patches" / "gpu-operator"
    write_tree(folder, {
        "kustomization.yaml": (
            "patches:\n"
            "- path: resources.yaml\n"
            "  target: {kind: Deployment, name: .*-operator}\n"
            "- target: {kind: DaemonSet, name: gpu-agent}\n"
            "  patch: |-\n"
            "    - {op: add, path: /spec/template/spec/priorityClassName, value: system-node-critical}\n"
            "images:\n"
            "- name: nvcr.io/nvidia/operator\n"
            "  newName: harbor.local/nvidia/operator\n"
        ),
        "resources.yaml": (
            "kind: Deployment\nmetadata: {name: any}\nspec:\n  template:\n    spec:\n      containers:\n"
            "      - name: operator\n        resources:\n          limits: {cpu: '2'}\n"
        ),
    })
    (tmp_path / "repo" / "chartkeeper.yaml").write_text("")
    return folder


def test_findings_between_two_rendered_versions(versions, patches: Path) -> None:
    old, new = versions
    findings = {f.code: f for f in patch_findings(old, new, patches, chart="gpu-operator")}
    assert set(findings) == {"patch.target-missing", "patch.upstream-changed"}
    assert "DaemonSet" in findings["patch.target-missing"].message
    assert findings["patch.target-missing"].line == 4
    conflict = findings["patch.upstream-changed"]
    assert (conflict.old, conflict.new, conflict.ours) == ("500m", "750m", "2")
    assert conflict.file == "patches/gpu-operator/resources.yaml"


@pytest.mark.tools
@needs_kubectl
def test_rendered_chart_patched_the_same_by_both_engines(versions, patches: Path) -> None:
    for manifests in versions:
        ours = apply_kustomization(manifests, patches, engine="embedded")
        real = apply_kustomization(manifests, patches, engine="binary")
        assert real.engine.startswith("kubectl")
        assert sort_manifests(ours.manifests) == sort_manifests(real.manifests)
