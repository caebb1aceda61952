"""A GPU-Operator-like chart at two versions and a helmfile deployment using it, for the golden report test.

Real-world sized: an operator Deployment, a ClusterPolicy custom resource naming every operand's image in
parts (repository / image / version), and per operand a DaemonSet, ServiceAccount, Role, RoleBinding and
ConfigMap (~200 resources). Between OLD (v24.9.0) and NEW (v25.10.0):
- every resource's `helm.sh/chart` / `app.kubernetes.io/version` labels change (churn only for most);
- `operator.replicaCount` becomes `operator.replicas` (same default): a renamed key we override;
- the `driver.version` default moves 550 -> 570 while we pin 550 (a masked default, pinned in its own commit);
- every operand gets a new image version, a new argument and a new environment variable;
- the ClusterPolicy CRD (in crds/) drops v1alpha1, OLD's storage version.
Environments `default` and `astrago` render the same; `lab` disables the DCGM exporter.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.charts import build_index, package_chart, write_chart
from tests.support.deployment import git, vendor

OLD, NEW = "v24.9.0", "v25.10.0"
OPERANDS = ["toolkit", "devicePlugin", "dcgmExporter", "dcgm", "migManager", "gfd", "nodeStatusExporter", "validator",
            "sandboxDevicePlugin", "vfioManager", "ccManager", "kataManager", "gdrcopy", "gds", "driverManager",
            "psa", "cdi", "mps", "sandboxWorkloads", "nfd"] + [f"extra{i:02d}" for i in range(20)]

LABELS = """  labels:
    app.kubernetes.io/name: gpu-operator
    app.kubernetes.io/instance: {{ .Release.Name }}
    app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
    helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
"""

OPERATOR = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: gpu-operator
""" + LABELS + """spec:
  replicas: {{ .Values.operator.REPLICAS }}
  selector:
    matchLabels: {app: gpu-operator}
  template:
    metadata:
      labels: {app: gpu-operator}
    spec:
      serviceAccountName: gpu-operator
      containers:
        - name: gpu-operator
          image: "{{ .Values.operator.repository }}/{{ .Values.operator.image }}:{{ .Values.operator.version }}"
          args: ["--leader-elect"]
"""

CLUSTER_POLICY = """apiVersion: nvidia.com/v1
kind: ClusterPolicy
metadata:
  name: cluster-policy
""" + LABELS + """spec:
  driver:
    enabled: {{ .Values.driver.enabled }}
    repository: {{ .Values.driver.repository }}
    image: {{ .Values.driver.image }}
    version: {{ .Values.driver.version | quote }}
{{- range $name := list NAMES }}
  {{ $name }}: {{ toYaml (omit (index $.Values $name) "args" "env") | nindent 4 }}
{{- end }}
"""

DAEMONSET = """{{- if .Values.NAME.enabled }}
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: nvidia-NAME
""" + LABELS + """spec:
  selector:
    matchLabels: {app: nvidia-NAME}
  template:
    metadata:
      labels: {app: nvidia-NAME}
    spec:
      serviceAccountName: nvidia-NAME
      containers:
        - name: NAME
          image: "{{ .Values.NAME.repository }}/{{ .Values.NAME.image }}:{{ .Values.NAME.version }}"
          args: {{ toYaml .Values.NAME.args | nindent 12 }}
          env: {{ toYaml .Values.NAME.env | nindent 12 }}
{{- end }}
"""

SUPPORT = """apiVersion: v1
kind: ServiceAccount
metadata:
  name: nvidia-NAME
""" + LABELS + """---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: nvidia-NAME
""" + LABELS + """rules:
  - apiGroups: [""]
    resources: ["configmaps"]
    verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: nvidia-NAME
""" + LABELS + """roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: nvidia-NAME}
subjects:
  - {kind: ServiceAccount, name: nvidia-NAME, namespace: "{{ .Release.Namespace }}"}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: nvidia-NAME-config
""" + LABELS + """data:
  level: info
"""


def _crd(versions: list[tuple[str, bool, bool]]) -> str:
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return json.dumps({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "clusterpolicies.nvidia.com"},
        "spec": {"group": "nvidia.com", "scope": "Cluster",
                 "names": {"kind": "ClusterPolicy", "plural": "clusterpolicies", "singular": "clusterpolicy"},
                 "versions": [{"name": n, "served": s, "storage": st, "schema": schema} for n, s, st in versions]}})


def operator_chart(parent: Path, version: str) -> Path:
    new = version == NEW
    values: dict = {
        "operator": {("replicas" if new else "replicaCount"): 1, "repository": "nvcr.io/nvidia",
                     "image": "gpu-operator", "version": version},
        "driver": {"enabled": True, "repository": "nvcr.io/nvidia", "image": "driver",
                   "version": "570.86.10" if new else "550.54.15"},
    }
    for i, name in enumerate(OPERANDS):
        values[name] = {
            "enabled": True, "repository": "nvcr.io/nvidia/k8s", "image": name.lower(),
            "version": f"v{'1.1' if new else '1.0'}.{i}",
            "args": ["--log-level=info"] + (["--metrics-bind-address=:8080"] if new else []),
            "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]
                   + ([{"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "compute,utility"}] if new else []),
        }
    templates = {
        "operator.yaml": OPERATOR.replace("REPLICAS", "replicas" if new else "replicaCount"),
        "clusterpolicy.yaml": CLUSTER_POLICY.replace("NAMES", " ".join(json.dumps(n) for n in OPERANDS)),
    }
    for name in OPERANDS:
        templates[f"{name}-daemonset.yaml"] = DAEMONSET.replace("NAME", name)
        templates[f"{name}-support.yaml"] = SUPPORT.replace("NAME", name)
    crd = _crd([("v1", True, True)] if new else [("v1alpha1", True, True), ("v1", True, False)])
    return write_chart(parent / version, "gpu-operator", version, values=values, templates=templates,
                       app_version=version, crds={"clusterpolicy.yaml": crd})


HELMFILE = """\
environments:
  default:
    values: [environments/default.yaml]
  astrago:
    values: [environments/astrago.yaml]
  lab:
    values: [environments/lab.yaml]
---
releases:
  - name: gpu-operator
    namespace: gpu-operator
    chart: ./charts/external/gpu-operator-v24.9.0
    values:
      - values/gpu-operator.yaml
      - values/gpu-operator-env.yaml.gotmpl
"""

VALUES = """\
# GPU Operator overrides shared by every environment
operator:
  replicaCount: 2
driver:
  version: "550.54.15"
"""


def operator_deployment(root: Path, repo_dir: Path, repo_url: str) -> Path:
    """The deployment repository: OLD vendored and committed, the driver pin in a commit of its own."""
    for v in (OLD, NEW):
        package_chart(operator_chart(repo_dir.parent / "src", v), repo_dir)
    build_index(repo_dir)
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    admin = "--author=Site Admin <admin@example.invalid>"  # the pin's author, shown by the report's blame
    hf = root / "helmfile"
    (hf / "environments").mkdir(parents=True)
    (hf / "values").mkdir()
    for env, dcgm in (("default", "true"), ("astrago", "true"), ("lab", "false")):
        (hf / "environments" / f"{env}.yaml").write_text(f"dcgmExporterEnabled: {dcgm}\n")
    (hf / "helmfile.yaml").write_text(HELMFILE)
    (root / "chartkeeper.yaml").write_text("kubeVersion: v1.31.0\n")
    vendor(root, "gpu-operator", repo_url, OLD)
    (hf / "values" / "gpu-operator.yaml").write_text(VALUES.replace('  version: "550.54.15"\n', ""))
    (hf / "values" / "gpu-operator-env.yaml.gotmpl").write_text(
        "dcgmExporter:\n  enabled: {{ .Values.dcgmExporterEnabled }}\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", admin, "-m", "GPU Operator v24.9.0")
    (hf / "values" / "gpu-operator.yaml").write_text(VALUES)
    git(root, "add", "-A")
    git(root, "commit", "-q", admin, "-m", "driver 550 for A100 hosts", "--date", "2024-11-02T10:00:00Z")
    return root
