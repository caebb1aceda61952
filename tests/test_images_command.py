"""`chartkeeper images` end to end: a deployment tree rendered with the real Helm engine, kustomize patches,
and `--check` against the real docker-registry on loopback (anonymous, basic auth, bearer-token realm, dead)."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest

from chartkeeper.errors import InputError
from chartkeeper.settings import load_settings
from tests.support.charts import write_chart, write_tree
from tests.support.harness import invoke_cli
from tests.support.oci import OCI_MANIFEST_MEDIA, Registry, RegistryFront, free_port
from tests.test_images_extract import DIGEST, GPU_OPERATOR_TEMPLATES, GPU_OPERATOR_VALUES

HELMFILE = """\
environments:
  dev:
    values:
      - environments/dev.yaml
  prod:
    values:
      - environments/prod.yaml
---
releases:
  - name: gpu-operator
    namespace: gpu-operator
    chart: ./charts/gpu-operator
  - name: web
    namespace: web
    chart: ./charts/web
    values:
      - values/web.yaml.gotmpl
    postRenderer: ../patches/kustomize-post-renderer.sh
    postRendererArgs: [../patches/web]
  - name: cache
    namespace: web
    chart: bitnami/redis
    version: 20.1.0
"""
WEB_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: "{{ .Values.image.repository }}-migrate:{{ .Values.image.tag }}"
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        - name: proxy
          image: {{ .Values.proxy | quote }}
"""


@pytest.fixture
def deploy(tmp_path: Path) -> Path:
    root = tmp_path / "deploy"
    hf = root / "helmfile"
    write_tree(hf, {
        "helmfile.yaml": HELMFILE,
        "environments/dev.yaml": "webTag: \"1.4\"\n",
        "environments/prod.yaml": "webTag: \"1.3\"\n",
        "values/web.yaml.gotmpl": "image:\n  tag: {{ .Environment.Values.webTag | quote }}\n",
    })
    write_chart(hf / "charts", "gpu-operator", "v25.3.2", values=GPU_OPERATOR_VALUES, templates=GPU_OPERATOR_TEMPLATES,
                folder="gpu-operator")
    write_chart(hf / "charts", "web", "0.1.0", templates={"deploy.yaml": WEB_TEMPLATE}, folder="web",
                values={"image": {"repository": "registry.example/web", "tag": "1.0"}, "proxy": "envoyproxy/envoy:v1.33.0"})
    # our post-render patch moves the proxy image (kustomize `images:`): what the cluster pulls is the patched one
    write_tree(root / "patches" / "web", {"kustomization.yaml": (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
        "images:\n  - name: envoyproxy/envoy\n    newTag: v1.33.2\n")})
    return root


def images_json(root: Path, *args: str, env: dict | None = None):
    proc = invoke_cli(["-C", str(root), "images", "--json", *args], cwd=root, env=env)
    return proc, (json.loads(proc.stdout) if proc.stdout.strip() else None)


def test_inventory_per_environment_with_releases_and_sources(deploy: Path) -> None:
    proc, data = images_json(deploy)
    assert proc.returncode == 0, proc.stderr
    by = {i["image"]: i for i in data["images"]}
    assert by["registry.example/web:1.4"]["environments"] == ["dev"]
    assert by["registry.example/web:1.3"]["environments"] == ["prod"]
    assert by["registry.example/web:1.3"]["releases"] == ["prod/web/web"]
    assert by["registry.example/web-migrate:1.3"]["sources"] == ["Deployment/web initContainers[migrate]"]
    envoy = by["docker.io/envoyproxy/envoy:v1.33.2"]  # after the kustomize images: rewrite
    assert envoy["environments"] == ["dev", "prod"] and envoy["sources"] == ["Deployment/web containers[proxy]"]
    assert "docker.io/envoyproxy/envoy:v1.33.0" not in by
    assert by["nvcr.io/nvidia/k8s/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04"]["sources"] == ["ClusterPolicy/cluster-policy spec.dcgmExporter"]
    assert by["nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.8.0"]["releases"] == ["dev/gpu-operator/gpu-operator", "prod/gpu-operator/gpu-operator"]
    # disabled components are left out; no mirror mapping: each image lives where it is rendered
    assert not any("nvidia-fs" in i or "/dcgm:" in i for i in by)
    assert all(i["mirror"] == i["image"] and i["present"] is None for i in data["images"])
    assert data["invalid"] == []
    assert any("cache" in n and "bitnami/redis" in n for n in data["notes"])
    assert len(data["images"]) == 14

    proc, only = images_json(deploy, "web", "-e", "prod", "--all-components")
    assert sorted(i["image"] for i in only["images"]) == [
        "docker.io/envoyproxy/envoy:v1.33.2", "registry.example/web-migrate:1.3", "registry.example/web:1.3"]
    proc, every = images_json(deploy, "gpu-operator", "--all-components")
    assert {"nvcr.io/nvidia/cloud-native/nvidia-fs:2.20.5", "nvcr.io/nvidia/cloud-native/dcgm:4.2.3-1-ubuntu22.04"} <= {
        i["image"] for i in every["images"] if i.get("enabled") is False}


def test_output_file_and_copy_pairs_with_mirror_settings(deploy: Path) -> None:
    (deploy / "chartkeeper.yaml").write_text(
        "images:\n  mirror: harbor.example.internal:8443/mirror\n  rewrite:\n    nvcr.io/nvidia: harbor.example.internal:8443/nvidia\n"
        "  driverOsSuffixes: [ubuntu22.04]\n")
    proc = invoke_cli(["-C", str(deploy), "images", "-e", "dev", "--output", "images.txt"], cwd=deploy)
    assert proc.returncode == 0, proc.stderr
    lines = (deploy / "images.txt").read_text().splitlines()
    assert "nvcr.io/nvidia/driver:550.144.03-ubuntu22.04" in lines and "registry.example/web:1.4" in lines
    assert lines == sorted(lines) and len(lines) == len(set(lines)) == 12
    assert "on the site" in proc.stdout and "Deployment/web containers[proxy]" in proc.stdout
    proc, data = images_json(deploy, "gpu-operator", "-e", "dev")
    driver = next(i for i in data["images"] if "/driver:" in i["image"])
    assert driver["mirror"] == "harbor.example.internal:8443/nvidia/driver:550.144.03-ubuntu22.04"
    assert "appends the node's OS" in driver["notes"][0]

    proc = invoke_cli(["-C", str(deploy), "images", "-e", "dev", "--format", "copy"], cwd=deploy)
    pairs = dict(line.split(" ") for line in proc.stdout.splitlines())
    assert pairs["nvcr.io/nvidia/driver:550.144.03-ubuntu22.04"] == "harbor.example.internal:8443/nvidia/driver:550.144.03-ubuntu22.04"
    assert pairs["docker.io/envoyproxy/envoy:v1.33.2"] == "harbor.example.internal:8443/mirror/docker.io/envoyproxy/envoy:v1.33.2"
    assert pairs[f"nvcr.io/nvidia/k8s-device-plugin@{DIGEST}"] == f"harbor.example.internal:8443/nvidia/k8s-device-plugin@{DIGEST}"


def test_bad_input_exit_2(deploy: Path) -> None:
    proc = invoke_cli(["-C", str(deploy), "images", "-e", "stage"], cwd=deploy)
    assert proc.returncode == 2 and "unknown environment" in proc.stderr
    proc = invoke_cli(["-C", str(deploy), "images", "--format", "yaml"], cwd=deploy)
    assert proc.returncode == 2 and "--format" in proc.stderr and "yaml" in proc.stderr
    (deploy / "chartkeeper.yaml").write_text("images:\n  mirror: https://harbor.example.internal\n")
    proc = invoke_cli(["-C", str(deploy), "images"], cwd=deploy)
    assert proc.returncode == 2 and "images.mirror" in proc.stderr


# -- --check against a real registry ------------------------------------------------------------------


def push_image(registry: Registry, repo: str, tag: str, *, index: bool = False) -> str:
    """A minimal image written through the registry API: config blob, OCI manifest (under an OCI index when
    `index`), pushed under `tag` (a digest reference when `tag` starts with sha256:). Returns the digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    cdigest = registry.push_blob(repo, config)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST_MEDIA,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": len(config)},
                "layers": []}
    body = json.dumps(manifest, separators=(",", ":")).encode()
    mdigest = "sha256:" + hashlib.sha256(body).hexdigest()
    status, _, resp = registry.request("PUT", f"/v2/{repo}/manifests/{mdigest if index else tag}", body,
                                       {"Content-Type": OCI_MANIFEST_MEDIA})
    assert status == 201, resp
    if not index:
        return mdigest
    idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                      "manifests": [{"mediaType": OCI_MANIFEST_MEDIA, "digest": mdigest, "size": len(body),
                                     "platform": {"architecture": "amd64", "os": "linux"}}]}, separators=(",", ":")).encode()
    status, _, resp = registry.request("PUT", f"/v2/{repo}/manifests/{tag}", idx,
                                       {"Content-Type": "application/vnd.oci.image.index.v1+json"})
    assert status == 201, resp
    return "sha256:" + hashlib.sha256(idx).hexdigest()


def mirror_config(root: Path, host: str, prefix: str) -> None:
    (root / "chartkeeper.yaml").write_text(f"timeout: 5\nretries: 1\nimages:\n  mirror: {host}/{prefix}\n")


def push_half(registry: Registry, prefix: str) -> list[str]:
    """Push the web release's prod images (one as a multi-arch index), not the envoy proxy."""
    push_image(registry, f"{prefix}/registry.example/web", "1.3", index=True)
    push_image(registry, f"{prefix}/registry.example/web-migrate", "1.3")
    return ["registry.example/web:1.3", "registry.example/web-migrate:1.3"]


def test_check_anonymous_registry_present_and_missing(deploy: Path, oci_registry: Registry) -> None:
    prefix = "m" + uuid.uuid4().hex[:8]
    mirror_config(deploy, oci_registry.host, prefix)
    pushed = push_half(oci_registry, prefix)
    proc, data = images_json(deploy, "web", "-e", "prod", "--check")
    assert proc.returncode == 1, proc.stderr
    by = {i["image"]: i for i in data["images"]}
    for img in pushed:
        assert by[img]["present"] is True and by[img]["mirror"] == f"{oci_registry.host}/{prefix}/{img}"
    assert by["docker.io/envoyproxy/envoy:v1.33.2"]["present"] is False
    proc = invoke_cli(["-C", str(deploy), "images", "web", "-e", "prod", "--check", "--format", "copy"], cwd=deploy)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [  # only what is still missing
        f"docker.io/envoyproxy/envoy:v1.33.2 {oci_registry.host}/{prefix}/docker.io/envoyproxy/envoy:v1.33.2"]
    push_image(oci_registry, f"{prefix}/docker.io/envoyproxy/envoy", "v1.33.2")
    proc, data = images_json(deploy, "web", "-e", "prod", "--check")
    assert proc.returncode == 0 and all(i["present"] is True for i in data["images"])


def test_check_with_basic_auth(deploy: Path, oci_registry_auth: Registry) -> None:
    prefix = "m" + uuid.uuid4().hex[:8]
    mirror_config(deploy, oci_registry_auth.host, prefix)
    push_half(oci_registry_auth, prefix)
    key = "CHARTKEEPER_AUTH_127_0_0_1_" + str(oci_registry_auth.port)
    proc, data = images_json(deploy, "web", "-e", "prod", "--check", env={key + "_USERNAME": "chartbot", key + "_PASSWORD": "oci-Secret-9f2"})
    assert proc.returncode == 1, proc.stderr
    assert {i["image"]: i["present"] for i in data["images"]} == {
        "docker.io/envoyproxy/envoy:v1.33.2": False, "registry.example/web-migrate:1.3": True, "registry.example/web:1.3": True}
    assert "oci-Secret-9f2" not in proc.stdout + proc.stderr
    # without credentials the registry cannot tell: an error (exit 2), never "missing"
    proc, data = images_json(deploy, "web", "-e", "prod", "--check")
    assert proc.returncode == 2 and all(i["present"] is None and i["error"] for i in data["images"])


def test_check_through_a_bearer_token_realm(deploy: Path, oci_registry: Registry) -> None:
    prefix = "m" + uuid.uuid4().hex[:8]
    push_half(oci_registry, prefix)
    with RegistryFront(oci_registry, require_basic=("robot", "tok-Pass-77")) as front:
        mirror_config(deploy, front.host, prefix)
        key = "CHARTKEEPER_AUTH_127_0_0_1_" + front.host.rsplit(":", 1)[1]
        proc, data = images_json(deploy, "web", "-e", "prod", "--check", env={key + "_USERNAME": "robot", key + "_PASSWORD": "tok-Pass-77"})
        assert proc.returncode == 1, proc.stderr
        assert {i["image"]: i["present"] for i in data["images"]} == {
            "docker.io/envoyproxy/envoy:v1.33.2": False, "registry.example/web-migrate:1.3": True, "registry.example/web:1.3": True}
        heads = [r for r in front.requests if r[0] == "HEAD"]
        assert heads and all("/manifests/" in path for _, path, _ in heads)
        assert any(path.startswith("/token") for _, path, _ in front.requests)
        assert any(h.get("Authorization", "").startswith("Bearer ") for _, _, h in heads)


def test_check_against_a_dead_registry_is_an_error_not_missing(deploy: Path) -> None:
    mirror_config(deploy, f"127.0.0.1:{free_port()}", "mirror")
    proc, data = images_json(deploy, "web", "-e", "prod", "--check")
    assert proc.returncode == 2
    assert all(i["present"] is None and "refused" in i["error"] for i in data["images"])
    assert "MISSING" not in proc.stdout + proc.stderr


def test_mirror_mapping_rules(tmp_path: Path) -> None:
    (tmp_path / "chartkeeper.yaml").write_text(
        "images:\n  mirror: harbor.example.internal/mirror/\n  rewrite:\n"
        "    nvcr.io/nvidia: harbor.example.internal/nvidia\n    nvcr.io/nvidia/k8s: harbor.example.internal/k8s\n"
        "    bitnami: harbor.example.internal/bitnami\n")
    s = load_settings(tmp_path)
    assert s.image_mirror_of("nvcr.io/nvidia/driver:550") == "harbor.example.internal/nvidia/driver:550"
    assert s.image_mirror_of("nvcr.io/nvidia/k8s/dcgm-exporter:4") == "harbor.example.internal/k8s/dcgm-exporter:4"  # longest wins
    assert s.image_mirror_of("nvcr.io/nvidia-x/a:1") == "harbor.example.internal/mirror/nvcr.io/nvidia-x/a:1"  # path boundary
    assert s.image_mirror_of("docker.io/bitnami/redis:7") == "harbor.example.internal/bitnami/redis:7"
    assert s.image_mirror_of("docker.io/library/nginx:1") == "harbor.example.internal/mirror/docker.io/library/nginx:1"
    assert s.image_mirror_of("harbor.example.internal/astrago/core:1") == "harbor.example.internal/astrago/core:1"  # already on site
    for bad in ("images: [a]\n", "images:\n  mirrors: x\n", "images:\n  driverOsSuffixes: ubuntu\n",
                "images:\n  rewrite:\n    nvcr.io: https://harbor\n"):
        (tmp_path / "chartkeeper.yaml").write_text(bad)
        with pytest.raises(InputError):
            load_settings(tmp_path)
