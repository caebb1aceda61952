"""`chartkeeper diff` on the project's own deployment tree (helmfile/, patches/), through the real helmfile model.

The external charts are not vendored in the repository and there is no network: stand-in gpu-operator
charts (v25.3.2 vendored, v26.3.0 published) are served on loopback and reached through `mirrors:`, the
way an air-gapped site reaches its Harbor. Everything else — the helmfile state, the environments, the
`.gotmpl` values, the kustomize patches — is the repository's own.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.charts import build_index, package_chart, write_chart
from tests.support.harness import invoke_cli, tree_state

REPO = Path(__file__).resolve().parents[1]
NGC = "https://helm.ngc.nvidia.com/nvidia"

OPERATOR = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: gpu-operator
  namespace: {{ .Release.Namespace }}
spec:
  replicas: 1
  selector:
    matchLabels: {app: gpu-operator}
  template:
    metadata:
      labels: {app: gpu-operator}
    spec:
      containers:
        - name: gpu-operator
          image: "{{ .Values.operator.repository }}/{{ .Values.operator.image }}:{{ .Values.operator.version }}"
          resources: {{ toYaml .Values.operator.resources | nindent 12 }}
"""
POLICY = """apiVersion: nvidia.com/v1
kind: ClusterPolicy
metadata:
  name: cluster-policy
spec:
  driver:
    enabled: {{ .Values.driver.enabled }}
    repository: {{ .Values.driver.repository }}
    version: {{ .Values.driver.version | quote }}
  toolkit:
    repository: {{ .Values.toolkit.repository }}
  devicePlugin:
    repository: {{ .Values.devicePlugin.repository }}
  dcgm:
    repository: {{ .Values.dcgm.repository }}
  dcgmExporter:
    repository: {{ .Values.dcgmExporter.repository }}
    serviceMonitor:
      enabled: {{ .Values.dcgmExporter.serviceMonitor.enabled }}
    {{- if .Values.dcgmExporter.config }}
    config:
      name: {{ .Values.dcgmExporter.config.name }}
    {{- end }}
  gfd:
    repository: {{ .Values.gfd.repository }}
  migManager:
    repository: {{ .Values.migManager.repository }}
  nodeStatusExporter:
    repository: {{ .Values.nodeStatusExporter.repository }}
  validator:
    repository: {{ .Values.validator.repository }}
  mig:
    strategy: {{ MIG }}
"""
CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clusterpolicies.nvidia.com
spec:
  group: nvidia.com
  names: {kind: ClusterPolicy, plural: clusterpolicies}
  scope: Cluster
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              REQUIRED
              properties:
                driver: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""


def _values(version: str, *, mig_under_operator: bool) -> dict:
    repo = {"repository": "nvcr.io/nvidia"}
    values = {
        "operator": {"repository": "nvcr.io/nvidia", "image": "gpu-operator", "version": version, "defaultRuntime": "docker",
                     "resources": {"limits": {"cpu": "500m", "memory": "350Mi"}}},
        "driver": {"enabled": True, "repository": "nvcr.io/nvidia", "version": "550.90.07" if version == "v25.3.2" else "570.124.06"},
        "toolkit": {"repository": "nvcr.io/nvidia/k8s"},
        "devicePlugin": dict(repo), "dcgm": {"repository": "nvcr.io/nvidia/cloud-native"},
        "dcgmExporter": {"repository": "nvcr.io/nvidia/k8s", "serviceMonitor": {"enabled": False}},
        "gfd": dict(repo), "migManager": {"repository": "nvcr.io/nvidia/cloud-native"},
        "nodeStatusExporter": {"repository": "nvcr.io/nvidia/cloud-native"}, "validator": {"repository": "nvcr.io/nvidia/cloud-native"},
        "node-feature-discovery": {"image": {"repository": "registry.k8s.io/nfd/node-feature-discovery"}},
    }
    if mig_under_operator:  # NEW moves `mig.strategy` under `operator.mig.strategy` (a rename we must catch)
        values["operator"]["mig"] = {"strategy": "single"}
        # and raises the operator's CPU limit, which patches/gpu-operator pins: a three-way conflict
        values["operator"]["resources"]["limits"]["cpu"] = "750m"
    else:
        values["mig"] = {"strategy": "single"}
    return values


def _nfd(parent: Path, version: str) -> Path:
    ds = ("apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: nfd-worker\nspec:\n  selector: {matchLabels: {app: nfd}}\n"
          "  template:\n    spec:\n      containers:\n        - name: worker\n"
          "          image: \"{{ .Values.image.repository }}:" + version + "\"\n")
    return write_chart(parent, "node-feature-discovery", version, values={"image": {"repository": "registry.k8s.io/nfd/node-feature-discovery"}},
                       templates={"worker.yaml": ds})


def gpu_operator(parent: Path, version: str, *, folder: str | None = None) -> Path:
    new = version != "v25.3.2"
    nfd = _nfd(parent / f"nfd-{version}", "v0.17.3" if new else "v0.16.6")
    mig = "{{ .Values.operator.mig.strategy }}" if new else "{{ .Values.mig.strategy }}"
    return write_chart(
        parent, "gpu-operator", version, app_version=version,
        values=_values(version, mig_under_operator=new),
        templates={"operator.yaml": OPERATOR, "clusterpolicy.yaml": POLICY.replace("{{ MIG }}", mig)},
        crds={"nvidia.com_clusterpolicies.yaml": CRD.replace("REQUIRED", "required: [driver]" if new else "")},
        dependencies=[{"name": "node-feature-discovery", "version": "0.17.3" if new else "0.16.6", "repository": "file://charts/node-feature-discovery"}],
        subcharts=[nfd], folder=folder,
    )


@pytest.fixture
def tree(tmp_path: Path, repo_server) -> Path:
    root = tmp_path / "astrago"
    shutil.copytree(REPO / "helmfile", root / "helmfile")
    shutil.copytree(REPO / "patches", root / "patches")
    gpu_operator(root / "helmfile" / "charts" / "external", "v25.3.2", folder="gpu-operator-v25.3.2")
    src = tmp_path / "upstream"
    for v in ("v25.3.2", "v26.3.0"):
        package_chart(gpu_operator(src / v, v), repo_server.root)
    build_index(repo_server.root, extra={"gpu-operator-v26.3.0": {"annotations": {
        "artifacthub.io/changes": "- kind: changed\n  description: mig.strategy moved under operator\n"}}})
    (root / "chartkeeper.yaml").write_text(f"kubeVersion: v1.31.0\nmirrors:\n  {NGC}: {repo_server.url}\n")
    return root


def test_diff_on_the_deployment_tree(tree: Path) -> None:
    before = tree_state(tree)
    out = tree.parent / "report.json"
    proc = invoke_cli(["-C", str(tree), "diff", "gpu-operator", "v26.3.0", "--json", "--output", str(out)], cwd=tree, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert tree_state(tree) == before
    data = json.loads(out.read_text())
    envs = {r["env"] for r in data["releases"]}
    assert envs == {"default", "dev", "stage", "prod"}
    assert all(r["release"] == "gpu-operator" and r["namespace"] == "gpu-operator" and r["error"] is None for r in data["releases"])
    by = {}
    for f in data["findings"]:
        by.setdefault(f["code"], []).append(f)
    # our `mig.strategy` (from values/templates/gpu-operator.yaml.gotmpl) is ignored by NEW: renamed
    (ren,) = [f for f in by["values.renamed-key"] if f["path"] == "mig"]
    assert ren["severity"] == "breaking" and ren["suggestion"] == "operator.mig"
    assert ren["file"] == "helmfile/values/templates/gpu-operator.yaml.gotmpl" and isinstance(ren.get("line"), int)
    # the operator image tag comes from the chart default: one change, one finding, reported with the new
    # images (to mirror: work, not a decision); driver.version changed upstream and is inherited the same way
    assert not any(f.get("path") in ("operator.version", "driver.version") for f in by.get("values.default-changed", []))
    folded = [c for f in by["images.new"] for c in f["details"].get("fromValues", [])]
    assert any(c.startswith("operator.version:") for c in folded) and any(c.startswith("driver.version:") for c in folded)
    assert all(f["severity"] == "info" for f in by["images.new"])
    assert any(a["text"].startswith("Mirror these") for a in data["actions"])
    # the CRD from crds/ changed: the manual step names the folder the bump will create
    assert data["crds"]["steps"] == [
        "kubectl apply --server-side --force-conflicts -f helmfile/charts/external/gpu-operator-v26.3.0/crds/"]
    assert by["crd.changed"][0]["details"]["newRequired"] == ["v1: spec.driver"]
    assert "nvcr.io/nvidia/gpu-operator:v26.3.0" in data["imagesToMirror"]
    assert any(s["code"] == "chart.subchart-version" for s in data["findings"])
    assert data["upstreamNotes"] == [{"version": "v26.3.0", "kind": "changed", "text": "mig.strategy moved under operator"}]
    assert data["verdict"] == "breaking"
    # the repository's own kustomize patch (patches/gpu-operator) is applied to both sides
    assert all(r["patched"] for r in data["releases"])
    assert any("kustomize patches applied with" in n for n in data["releases"][0]["renderNotes"])
    (conflict,) = [f for f in by["patch.upstream-changed"] if "limits.cpu" in json.dumps(f)]
    assert conflict["severity"] == "review" and conflict["old"] == "500m" and conflict["new"] == "750m" and conflict["ours"] == "1"
    # after the patch, upstream's new limit never reaches the output: our patch masks it
    assert "750m" not in json.dumps([c["edits"] for c in data["releases"][0]["resources"]["changed"]
                                     if c["resource"] == "apps/Deployment/gpu-operator/gpu-operator"])


def test_diff_one_environment_markdown(tree: Path) -> None:
    proc = invoke_cli(["-C", str(tree), "diff", "gpu-operator", "v26.3.0", "--env", "prod", "--format", "md"], cwd=tree, timeout=300)
    assert proc.returncode == 0, proc.stderr
    md = proc.stdout
    assert "### prod — release `gpu-operator` in namespace `gpu-operator`" in md and "### dev" not in md
    assert "helmfile/values/templates/gpu-operator.yaml.gotmpl" in md
    bad = invoke_cli(["-C", str(tree), "diff", "gpu-operator", "v26.3.0", "--env", "qa"], cwd=tree)
    assert bad.returncode == 2 and "unknown environment(s) qa" in bad.stderr
    assert "fetching" not in bad.stderr  # refused before the chart is downloaded
