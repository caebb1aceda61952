"""The image extractor on real renders (the embedded Helm engine), each image's source asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from chartkeeper.analysis.images import ReferenceError, extract, parse_reference
from chartkeeper.helm.render import render_chart
from chartkeeper.kustomize import apply_kustomization
from tests.support.charts import write_chart, write_tree

KV = "v1.31.0"
DIGEST = "sha256:" + "3f" * 32

# A ClusterPolicy the way the GPU Operator chart renders it: every operand is repository/image/version.
GPU_OPERATOR_TEMPLATES = {
    "operator.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gpu-operator
spec:
  template:
    spec:
      containers:
        - name: gpu-operator
          image: "{{ .Values.operator.repository }}/{{ .Values.operator.image }}:{{ .Values.operator.version }}"
""",
    "clusterpolicy.yaml": """\
apiVersion: nvidia.com/v1
kind: ClusterPolicy
metadata:
  name: cluster-policy
spec:
{{- range $k := list "driver" "toolkit" "devicePlugin" "dcgm" "dcgmExporter" "migManager" "validator" "gds" }}
  {{ $k }}:
{{ toYaml (index $.Values $k) | indent 4 }}
{{- end }}
""",
}
GPU_OPERATOR_VALUES = {
    "operator": {"repository": "nvcr.io/nvidia", "image": "gpu-operator", "version": "v25.3.2"},
    "driver": {"enabled": True, "repository": "nvcr.io/nvidia", "image": "driver", "version": "550.144.03",
               "manager": {"repository": "nvcr.io/nvidia/cloud-native", "image": "k8s-driver-manager", "version": "v0.8.0"}},
    "toolkit": {"enabled": True, "repository": "nvcr.io/nvidia/k8s", "image": "container-toolkit", "version": "v1.17.8-ubuntu20.04"},
    "devicePlugin": {"repository": "nvcr.io/nvidia", "image": "k8s-device-plugin", "version": DIGEST},
    "dcgm": {"enabled": False, "repository": "nvcr.io/nvidia/cloud-native", "image": "dcgm", "version": "4.2.3-1-ubuntu22.04"},
    "dcgmExporter": {"repository": "nvcr.io/nvidia/k8s", "image": "dcgm-exporter", "version": "4.2.3-4.1.3-ubuntu22.04"},
    "migManager": {"enabled": True, "repository": "nvcr.io/nvidia/cloud-native", "image": "k8s-mig-manager", "version": "v0.12.1-ubuntu20.04"},
    "validator": {"repository": "nvcr.io/nvidia/cloud-native", "image": "gpu-operator-validator", "version": "v25.3.2",
                  "plugin": {"env": [{"name": "WITH_WORKLOAD", "value": "false"}]},
                  "cuda": {"repository": "nvcr.io/nvidia", "image": "cuda", "version": "12.8.1-base-ubi9"}},
    "gds": {"enabled": False, "repository": "nvcr.io/nvidia/cloud-native", "image": "nvidia-fs", "version": "2.20.5"},
}


def render(tmp_path: Path, name: str, templates: dict, values: dict, overrides: dict | None = None) -> list[dict]:
    chart = write_chart(tmp_path / "charts", name, "1.0.0", values=values, templates=templates)
    result = render_chart(chart, overrides or {}, release=name, namespace="ns", kube_version=KV, engine="embedded")
    return result.objects


def by_image(ex) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for i in ex.images:
        out.setdefault(i.image, []).append(i.source)
    return {k: sorted(v) for k, v in out.items()}


def test_cluster_policy_operands_are_images_with_their_sources(tmp_path: Path) -> None:
    objs = render(tmp_path, "gpu-operator", GPU_OPERATOR_TEMPLATES, GPU_OPERATOR_VALUES)
    ex = extract(objs)
    found = by_image(ex)
    assert found == {
        "nvcr.io/nvidia/gpu-operator:v25.3.2": ["Deployment/gpu-operator containers[gpu-operator]"],
        "nvcr.io/nvidia/driver:550.144.03": ["ClusterPolicy/cluster-policy spec.driver"],
        "nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.8.0": ["ClusterPolicy/cluster-policy spec.driver.manager"],
        "nvcr.io/nvidia/k8s/container-toolkit:v1.17.8-ubuntu20.04": ["ClusterPolicy/cluster-policy spec.toolkit"],
        f"nvcr.io/nvidia/k8s-device-plugin@{DIGEST}": ["ClusterPolicy/cluster-policy spec.devicePlugin"],
        "nvcr.io/nvidia/k8s/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04": ["ClusterPolicy/cluster-policy spec.dcgmExporter"],
        "nvcr.io/nvidia/cloud-native/k8s-mig-manager:v0.12.1-ubuntu20.04": ["ClusterPolicy/cluster-policy spec.migManager"],
        "nvcr.io/nvidia/cloud-native/gpu-operator-validator:v25.3.2": ["ClusterPolicy/cluster-policy spec.validator"],
        "nvcr.io/nvidia/cuda:12.8.1-base-ubi9": ["ClusterPolicy/cluster-policy spec.validator.cuda"],
    }
    # disabled components pull nothing; never a bare `nvidia-fs`
    assert {i.image: i.source for i in ex.disabled} == {
        "nvcr.io/nvidia/cloud-native/dcgm:4.2.3-1-ubuntu22.04": "ClusterPolicy/cluster-policy spec.dcgm",
        "nvcr.io/nvidia/cloud-native/nvidia-fs:2.20.5": "ClusterPolicy/cluster-policy spec.gds",
    }
    assert not any("nvidia-fs" in i and "cloud-native" not in i for i in ex.refs(all_components=True))
    assert ex.invalid == ()
    driver = next(i for i in ex.images if i.source.endswith("spec.driver"))
    assert "appends the node's OS" in driver.notes[0] and "driverOsSuffixes" in driver.notes[0]


def test_driver_os_suffixes_list_what_the_operator_pulls(tmp_path: Path) -> None:
    objs = render(tmp_path, "gpu-operator", GPU_OPERATOR_TEMPLATES, GPU_OPERATOR_VALUES)
    ex = extract(objs, os_suffixes=("ubuntu22.04", "rhel9.4"))
    refs = ex.refs()
    assert "nvcr.io/nvidia/driver:550.144.03-ubuntu22.04" in refs and "nvcr.io/nvidia/driver:550.144.03-rhel9.4" in refs
    assert "nvcr.io/nvidia/driver:550.144.03" not in refs
    # only the driver: other operands carry their OS in the version already
    assert "nvcr.io/nvidia/k8s/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04" in refs
    assert not any(r.endswith("-ubuntu22.04-ubuntu22.04") for r in refs)


def test_driver_pinned_by_digest_gets_no_suffix(tmp_path: Path) -> None:
    values = dict(GPU_OPERATOR_VALUES, driver={"repository": "nvcr.io/nvidia", "image": "driver", "version": DIGEST})
    ex = extract(render(tmp_path, "gpu-operator", GPU_OPERATOR_TEMPLATES, values), os_suffixes=("ubuntu22.04",))
    assert f"nvcr.io/nvidia/driver@{DIGEST}" in ex.refs()


BITNAMI_TEMPLATES = {
    "_helpers.tpl": """\
{{- define "img" -}}
{{- if .digest -}}{{ printf "%s/%s@%s" .registry .repository .digest }}{{- else -}}{{ printf "%s/%s:%s" .registry .repository .tag }}{{- end -}}
{{- end -}}
""",
    "statefulset.yaml": """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      initContainers:
        - name: volume-permissions
          image: {{ include "img" .Values.volumePermissions.image }}
      containers:
        - name: redis
          image: {{ include "img" .Values.image }}
        - name: metrics
          image: {{ include "img" .Values.metrics.image }}
""",
    "sentinel.yaml": """\
apiVersion: databases.example.com/v1
kind: RedisFailover
metadata:
  name: {{ .Release.Name }}
spec:
  redis:
    image:
{{ toYaml .Values.image | indent 6 }}
  sentinel:
{{ toYaml .Values.sentinel | indent 4 }}
  exporter:
    image: {{ .Values.metrics.image.registry }}/{{ .Values.metrics.image.repository }}
    tag: {{ .Values.metrics.image.tag | quote }}
""",
}
BITNAMI_VALUES = {
    "image": {"registry": "docker.io", "repository": "bitnami/redis", "tag": "7.4.2-debian-12-r0", "digest": ""},
    "metrics": {"image": {"registry": "docker.io", "repository": "bitnami/redis-exporter", "tag": "1.67.0", "digest": ""}},
    "volumePermissions": {"image": {"registry": "docker.io", "repository": "bitnami/os-shell", "tag": "12", "digest": DIGEST}},
    "sentinel": {"registry": "registry.example:5000", "repository": "bitnami/redis-sentinel", "tag": "7.4.2"},
}


def test_bitnami_registry_repository_tag_and_digests(tmp_path: Path) -> None:
    ex = extract(render(tmp_path, "redis", BITNAMI_TEMPLATES, BITNAMI_VALUES))
    assert by_image(ex) == {
        f"docker.io/bitnami/os-shell@{DIGEST}": ["StatefulSet/redis initContainers[volume-permissions]"],
        "docker.io/bitnami/redis:7.4.2-debian-12-r0": ["RedisFailover/redis spec.redis.image", "StatefulSet/redis containers[redis]"],
        "docker.io/bitnami/redis-exporter:1.67.0": ["RedisFailover/redis spec.exporter", "StatefulSet/redis containers[metrics]"],
        "registry.example:5000/bitnami/redis-sentinel:7.4.2": ["RedisFailover/redis spec.sentinel"],
    }


WORKLOAD_TEMPLATES = {
    "workloads.yaml": """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: backup
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          initContainers:
            - name: wait
              image: busybox
          containers:
            - name: backup
              image: quay.io/example/backup:2.1
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
spec:
  template:
    spec:
      containers:
        - name: migrate
          image: "localhost:5000/tools/migrate:1@{{ .Values.digest }}"
---
apiVersion: v1
kind: Pod
metadata:
  name: debug
spec:
  containers:
    - name: main
      image: nginx:1.27
  ephemeralContainers:
    - name: debugger
      image: docker.io/nicolaka/netshoot:v0.13
  volumes:
    - name: models
      image:
        reference: registry.example/models/llama:3
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  template:
    spec:
      containers:
        - name: agent
          image: index.docker.io/grafana/alloy:v1.8.0
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: rs
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/example/app:1.0
---
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: nightly
spec:
  templates:
    - name: train
      podSpecPatch: ""
      podSpec:
        initContainers:
          - name: fetch
            image: registry.example/fetch:0.3
        containers:
          - name: train
            image: registry.example/train:0.3
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: not-an-image
data:
  image: registry.example/built-at-runtime:9
""",
}


def test_every_workload_kind_init_ephemeral_and_nested_pod_templates(tmp_path: Path) -> None:
    ex = extract(render(tmp_path, "apps", WORKLOAD_TEMPLATES, {"digest": DIGEST}))
    assert by_image(ex) == {
        "docker.io/library/busybox:latest": ["CronJob/backup initContainers[wait]"],
        "quay.io/example/backup:2.1": ["CronJob/backup containers[backup]"],
        f"localhost:5000/tools/migrate:1@{DIGEST}": ["Job/migrate containers[migrate]"],
        "docker.io/library/nginx:1.27": ["Pod/debug containers[main]"],
        "docker.io/nicolaka/netshoot:v0.13": ["Pod/debug ephemeralContainers[debugger]"],
        "registry.example/models/llama:3": ["Pod/debug volumes[models]"],
        "docker.io/grafana/alloy:v1.8.0": ["DaemonSet/agent containers[agent]"],
        "ghcr.io/example/app:1.0": ["ReplicaSet/rs containers[app]"],
        "registry.example/fetch:0.3": ["Workflow/nightly spec.templates[0].podSpec initContainers[fetch]"],
        "registry.example/train:0.3": ["Workflow/nightly spec.templates[0].podSpec containers[train]"],
    }
    busybox = next(i for i in ex.images if i.image.startswith("docker.io/library/busybox"))
    assert busybox.written == "busybox" and any("latest" in n for n in busybox.notes)


INVALID_TEMPLATES = {
    "bad.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: none-tag
          image: "registry.example/web:{{ .Values.tag }}"
        - name: empty-tag
          image: "registry.example/web:{{ .Values.empty }}"
        - name: spaces
          image: {{ .Values.spaced | quote }}
        - name: leftover
          image: {{ .Values.leftover | quote }}
        - name: host-only
          image: "nvcr.io/"
        - name: ok
          image: registry.example/web:1.0
---
apiVersion: example.com/v1
kind: Thing
metadata:
  name: thing
spec:
  sidecar:
    repository: registry.example/sidecar
    tag: {{ .Values.nothing | quote }}
""",
}


def test_invalid_references_are_findings_never_images(tmp_path: Path) -> None:
    values = {"tag": "None", "empty": "", "spaced": "my image:1", "leftover": "{{ .Values.image }}", "nothing": None}
    ex = extract(render(tmp_path, "web", INVALID_TEMPLATES, values))
    assert ex.refs() == ("registry.example/web:1.0",)
    bad = {(i.resource, i.field): i.reason for i in ex.invalid}
    assert set(bad) == {
        ("Deployment/web", "containers[none-tag].image"), ("Deployment/web", "containers[empty-tag].image"),
        ("Deployment/web", "containers[spaces].image"), ("Deployment/web", "containers[leftover].image"),
        ("Deployment/web", "containers[host-only].image"), ("Thing/thing", "spec.sidecar"),
    }
    assert "did not get" in bad[("Deployment/web", "containers[none-tag].image")]
    assert bad[("Deployment/web", "containers[empty-tag].image")] == "empty tag"
    assert bad[("Deployment/web", "containers[spaces].image")] == "contains spaces"
    assert bad[("Deployment/web", "containers[leftover].image")] == "template leftover"
    assert bad[("Deployment/web", "containers[host-only].image")] == "no repository path"


def test_kustomize_images_transformer_is_what_gets_pulled(tmp_path: Path) -> None:
    objs = render(tmp_path, "apps", WORKLOAD_TEMPLATES, {"digest": DIGEST})
    kdir = write_tree(tmp_path / "patches" / "apps", {"kustomization.yaml": """\
images:
  - name: quay.io/example/backup
    newName: harbor.example.internal/mirror/backup
    newTag: "2.1-patched"
  - name: nginx
    digest: sha256:%s
""" % ("ab" * 32)})
    res = apply_kustomization(objs, kdir, engine="embedded")
    found = by_image(extract(res.manifests))
    assert found["harbor.example.internal/mirror/backup:2.1-patched"] == ["CronJob/backup containers[backup]"]
    # kustomize: a new digest replaces the tag
    assert found["docker.io/library/nginx@sha256:" + "ab" * 32] == ["Pod/debug containers[main]"]
    assert "quay.io/example/backup:2.1" not in found


@pytest.mark.parametrize(("written", "normal"), [
    ("nginx", "docker.io/library/nginx:latest"),
    ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
    ("harbor.example.internal:8443/mirror/nvcr.io/nvidia/driver:550", "harbor.example.internal:8443/mirror/nvcr.io/nvidia/driver:550"),
    ("localhost/app", "localhost/app:latest"),
    (f"quay.io/x/y@{DIGEST}", f"quay.io/x/y@{DIGEST}"),
])
def test_normalisation(written: str, normal: str) -> None:
    assert str(parse_reference(written)) == normal


@pytest.mark.parametrize("bad", ["", "nvcr.io", "nvcr.io:5000", "App/Web:1", "x:None", "x:null", "a@sha256:12", "x:<no value>"])
def test_not_references(bad: str) -> None:
    with pytest.raises(ReferenceError):
        parse_reference(bad)


OPERATOR_TEMPLATES = {
    "operator.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: prometheus-operator
spec:
  template:
    spec:
      containers:
        - name: operator
          image: quay.io/prometheus-operator/prometheus-operator:v0.63.0
          args:
            - --prometheus-config-reloader={{ .Values.reloader }}
            - --config-reloader-cpu-limit=200m
            - --log-level=info
          env:
            - name: DRIVER_MANAGER_IMAGE
              value: nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.8.0
            - name: RELATED_IMAGE_VALIDATOR
              value: nvcr.io/nvidia/cloud-native/gpu-operator-validator@%s
            - name: IMAGE_PULL_POLICY
              value: IfNotPresent
            - name: OPERATOR_NAMESPACE
              value: monitoring
""" % DIGEST,
}


def test_images_an_operator_starts_at_run_time_from_its_args_and_env(tmp_path: Path) -> None:
    values = {"reloader": "quay.io/prometheus-operator/prometheus-config-reloader:v0.63.0"}
    found = by_image(extract(render(tmp_path, "kps", OPERATOR_TEMPLATES, values)))
    assert found == {
        "quay.io/prometheus-operator/prometheus-operator:v0.63.0": ["Deployment/prometheus-operator containers[operator]"],
        "quay.io/prometheus-operator/prometheus-config-reloader:v0.63.0": [
            "Deployment/prometheus-operator containers[operator] args[--prometheus-config-reloader]"],
        "nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.8.0": [
            "Deployment/prometheus-operator containers[operator] env[DRIVER_MANAGER_IMAGE]"],
        f"nvcr.io/nvidia/cloud-native/gpu-operator-validator@{DIGEST}": [
            "Deployment/prometheus-operator containers[operator] env[RELATED_IMAGE_VALIDATOR]"],
    }
