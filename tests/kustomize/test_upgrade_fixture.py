"""An operator chart in two versions with the changes real upgrades make under an operator's patches,
through the whole upgrade analysis, with the embedded engine and with a real `kubectl kustomize`.

NEW (like the GPU Operator after v24.9): writes `namespace: {{ .Release.Namespace }}` on the operator
Deployment, drops a toleration our strategic patch re-adds, no longer mounts the volume our
`$patch: delete` removes, moves the operator's default tag our `images:` rule pins, changes the NFD
worker's tolerations under our index-based `remove` ops, and changes a ClusterPolicy default we set.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chartkeeper.analysis.report import render_json, render_markdown
from chartkeeper.analysis.upgrade import ReleaseInput, analyze_pair, patch_hooks
from chartkeeper.findings import Severity
from chartkeeper.lockfile import LockEntry
from chartkeeper.settings import Settings
from tests.kustomize.tools import needs_kubectl
from tests.support.charts import write_chart, write_tree

OPERATOR = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gpu-operator
{{- if .Values.namespaced }}
  namespace: {{ .Release.Namespace }}
{{- end }}
  labels: {app: gpu-operator}
spec:
  selector:
    matchLabels: {app: gpu-operator, app.kubernetes.io/component: gpu-operator}
  template:
    metadata:
      labels: {app: gpu-operator, app.kubernetes.io/component: gpu-operator}
    spec:
      tolerations: {{ toYaml .Values.operator.tolerations | nindent 8 }}
      containers:
      - name: gpu-operator
        image: "nvcr.io/nvidia/gpu-operator:{{ .Values.operator.version }}"
        args: {{ toYaml .Values.operator.args | nindent 8 }}
        volumeMounts:
        - {name: run-nvidia, mountPath: /run/nvidia}
        {{- if .Values.hostRoot }}
        - {name: host-root, mountPath: /host, readOnly: true}
        {{- end }}
      volumes:
      - name: run-nvidia
        hostPath: {path: /run/nvidia}
      {{- if .Values.hostRoot }}
      - name: host-root
        hostPath: {path: /}
      {{- end }}
"""
NFD_WORKER = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ .Release.Name }}-node-feature-discovery-worker
  namespace: {{ .Release.Namespace }}
spec:
  selector:
    matchLabels: {app: nfd-worker}
  template:
    metadata:
      labels: {app: nfd-worker}
    spec:
      tolerations: {{ toYaml .Values.nfd.tolerations | nindent 8 }}
      containers:
      - name: worker
        image: registry.k8s.io/nfd/node-feature-discovery:v0.16.6
"""
POLICY = """\
apiVersion: nvidia.com/v1
kind: ClusterPolicy
metadata:
  name: cluster-policy
  namespace: {{ .Release.Namespace }}
spec:
  operator:
    defaultRuntime: {{ .Values.operator.defaultRuntime }}
  driver:
    enabled: true
"""
CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clusterpolicies.nvidia.com
spec:
  group: nvidia.com
  scope: Cluster
  names: {kind: ClusterPolicy, plural: clusterpolicies, singular: clusterpolicy, listKind: ClusterPolicyList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""


def _toleration(key: str) -> dict:
    return {"key": key, "operator": "Exists", "effect": "NoSchedule"}


MASTER, CONTROL_PLANE, GPU = "node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane", "nvidia.com/gpu"
OLD_VALUES = {
    "namespaced": False, "hostRoot": True,
    "operator": {"version": "v24.9.2", "defaultRuntime": "docker", "tolerations": [_toleration(MASTER), _toleration(CONTROL_PLANE)],
                 "args": ["--leader-elect", "--zap-time-encoding=epoch"]},
    "nfd": {"tolerations": [_toleration(MASTER), _toleration(CONTROL_PLANE), _toleration(GPU)]},
}
NEW_VALUES = {
    "namespaced": True, "hostRoot": False,
    "operator": {"version": "v25.3.0", "defaultRuntime": "containerd", "tolerations": [_toleration(MASTER)],
                 "args": ["--leader-elect", "--zap-time-encoding=iso8601"]},
    "nfd": {"tolerations": [_toleration(CONTROL_PLANE), _toleration(GPU), _toleration("nvidia.com/mig")]},
}

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
patches:
  - path: operator-tolerations.yaml
    target: {group: apps, kind: Deployment, name: gpu-operator}
  - path: drop-host-root.yaml
    target: {group: apps, kind: Deployment, name: gpu-operator}
  - target: {group: apps, kind: DaemonSet, name: .*-node-feature-discovery-worker}
    patch: |-
      - {op: remove, path: /spec/template/spec/tolerations/0}
      - {op: remove, path: /spec/template/spec/tolerations/0}
  - target: {group: nvidia.com, kind: ClusterPolicy, name: cluster-policy}
    patch: |-
      - {op: replace, path: /spec/operator/defaultRuntime, value: crio}
images:
  - name: nvcr.io/nvidia/gpu-operator
    newName: harbor.local/nvidia/gpu-operator
    newTag: v24.9.2
"""
FILES = {
    "operator-tolerations.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: gpu-operator\nspec:\n  template:\n    spec:\n"
        "      tolerations:\n"
        f"      - {{key: {MASTER}, operator: Exists, effect: NoSchedule}}\n"
        f"      - {{key: {CONTROL_PLANE}, operator: Exists, effect: NoSchedule}}\n"
    ),
    "drop-host-root.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: gpu-operator\nspec:\n  template:\n    spec:\n"
        "      volumes:\n      - name: host-root\n        $patch: delete\n"
    ),
}
# kubectl applies a patch whole or not at all: a `test` that fails on NEW makes `kubectl kustomize` fail there
FAILS_ON_NEW = """\
  - target: {group: apps, kind: Deployment, name: gpu-operator}
    patch: |-
      - {op: test, path: /spec/template/spec/containers/0/args/1, value: --zap-time-encoding=epoch}
      - {op: add, path: /spec/template/spec/priorityClassName, value: system-node-critical}
"""


def _charts(tmp_path: Path) -> tuple[Path, Path]:
    templates = {"operator.yaml": OPERATOR, "nfd-worker.yaml": NFD_WORKER, "clusterpolicy.yaml": POLICY}
    old = write_chart(tmp_path / "old", "gpu-operator", "v24.9.2", values=OLD_VALUES, templates=templates,
                      crds={"clusterpolicy.yaml": CRD})
    new = write_chart(tmp_path / "new", "gpu-operator", "v25.3.0", values=NEW_VALUES, templates=templates,
                      crds={"clusterpolicy.yaml": CRD})
    return old, new


def _analyse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str, kustomization: str = KUSTOMIZATION):
    root = tmp_path / "repo"
    kdir = root / "patches" / "gpu-operator"
    write_tree(kdir, {"kustomization.yaml": kustomization, **FILES})
    (root / "chartkeeper.yaml").write_text("")
    monkeypatch.setenv("CHARTKEEPER_KUSTOMIZE", engine)
    entry = LockEntry("gpu-operator", "gpu-operator", "https://helm.ngc.nvidia.com/nvidia", "v24.9.2")
    releases = [ReleaseInput("prod", "gpu-operator", "gpu-operator", {}, kustomization=kdir, from_helmfile=True)]
    hooks, _ = patch_hooks(Settings(root=root), entry, releases)
    old, new = _charts(tmp_path)
    return analyze_pair(old, new, releases, chart="gpu-operator", kube_version="v1.31.0", patches=hooks)


def _summary(report) -> set[tuple[str, str, str, str]]:
    """What a reviewer acts on: code, severity, resource, field (engine-independent)."""
    return {(f.code, f.severity.value, f.path or "", str(dict(f.details).get("field", ""))) for f in report.findings}


def _patch_findings(report) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in report.findings:
        if f.code.startswith("patch."):
            out.setdefault(f.code, []).append(f)
    return out


def _assert_each_change_has_its_finding(report) -> None:
    found = _patch_findings(report)
    deploy = "apps/Deployment/gpu-operator/gpu-operator"
    changed = {(f.path, dict(f.details)["field"]) for f in found["patch.upstream-changed"]}
    # the namespace NEW writes does not hide the three-way checks on the operator Deployment
    assert (deploy, "spec.template.spec.tolerations") in changed  # upstream dropped the toleration we re-add
    assert (deploy, "spec.template.spec.containers[name=gpu-operator].image") in changed  # the pinned tag
    # a cluster-scoped custom resource has no namespace, whatever the template writes
    assert ("nvidia.com/ClusterPolicy/cluster-policy", "spec.operator.defaultRuntime") in changed
    (adopted,) = found["patch.no-op"]
    assert adopted.path == deploy and "upstream adopted it" in adopted.message and "drop-host-root" in adopted.file
    shifted = sorted(found["patch.json6902-index-shifted"], key=lambda f: f.line)
    assert [f.path for f in shifted] == ["apps/DaemonSet/gpu-operator/gpu-operator-node-feature-discovery-worker"] * 2
    assert all(f.severity is Severity.BREAKING for f in shifted)
    assert f"key {MASTER} in OLD" in shifted[0].message and f"key {CONTROL_PLANE} in NEW" in shifted[0].message
    assert f"key {CONTROL_PLANE} in OLD" in shifted[1].message and f"key {GPU} in NEW" in shifted[1].message
    assert not any("namespace" in f.message and f.code == "patch.target-missing" for f in report.findings)
    # no false "immutable selector" finding: both sides come from one engine, compared as data
    assert not [f for f in report.findings if "selector" in f.message and f.severity is Severity.BREAKING]


def test_each_upgrade_change_yields_its_finding_with_the_embedded_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = _analyse(tmp_path, monkeypatch, "embedded")
    _assert_each_change_has_its_finding(report)
    assert "kustomize patches applied with embedded" in report.releases[0].render_notes


@pytest.mark.tools
@needs_kubectl
def test_kubectl_gives_the_same_findings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    embedded = _analyse(tmp_path / "e", monkeypatch, "embedded")
    real = _analyse(tmp_path / "k", monkeypatch, "kubectl")
    notes = real.releases[0].render_notes
    assert any(n.startswith("kustomize patches applied with kubectl ") and "(kustomize v5." in n for n in notes), notes
    _assert_each_change_has_its_finding(real)
    assert _summary(real) == _summary(embedded)


@pytest.mark.tools
@needs_kubectl
def test_binary_failing_on_new_only_falls_back_on_both_sides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kustomization = KUSTOMIZATION.replace("images:", FAILS_ON_NEW + "images:")
    real = _analyse(tmp_path / "k", monkeypatch, "kubectl", kustomization)
    embedded = _analyse(tmp_path / "e", monkeypatch, "embedded", kustomization)
    notes = " ".join(real.releases[0].render_notes)
    assert "failed on NEW" in notes and "OLD and NEW were both patched with the embedded engine" in notes
    assert "kustomize patches applied with embedded" in notes
    assert "run.go" not in notes and "error:" not in notes  # the binary's own output never reaches the report
    for text in (render_markdown(real), render_json(real)):
        assert "failed on NEW" in text and "both patched with the embedded engine" in text
        assert "test operation failed" not in text.lower() and "run.go" not in text
    assert not [f for f in real.findings if f.code.startswith("manifest.") and f.severity is Severity.BREAKING]
    assert _summary(real) == _summary(embedded)
    assert "patch.json6902-test-failed" in {f.code for f in real.findings}
