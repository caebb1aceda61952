"""The embedded engine with literal expected outputs, and the engine choice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chartkeeper.errors import InputError
from chartkeeper.kustomize import apply_kustomization
from chartkeeper.kustomize.images import split_image
from tests.kustomize.tools import needs_kubectl
from tests.support.charts import write_tree

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "op", "namespace": "gpu"},
    "spec": {
        "template": {
            "spec": {
                "initContainers": [{"name": "init", "image": "nvcr.io/nvidia/init:1.0"}],
                "containers": [
                    {"name": "op", "image": "nvcr.io/nvidia/operator:v25.3.2",
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                ],
            }
        }
    },
}


def _run(tmp_path: Path, kustomization: str, manifests=None, **files: str):
    write_tree(tmp_path, {"kustomization.yaml": kustomization, **files})
    return apply_kustomization(manifests or [DEPLOYMENT], tmp_path, engine="embedded")


def test_strategic_merge_env_and_resources(tmp_path: Path) -> None:
    result = _run(tmp_path, (
        "patches:\n- patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: op, namespace: gpu}\n"
        "    spec:\n      template:\n        spec:\n          containers:\n          - name: op\n"
        "            env:\n            - {name: C, value: '3'}\n            - {name: A, value: '9'}\n"
        "            resources: {limits: {cpu: '1'}}\n"
    ))
    container = result.manifests[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "C", "value": "3"}, {"name": "A", "value": "9"}, {"name": "B", "value": "2"}]
    assert container["resources"] == {"limits": {"cpu": "1"}}
    assert result.engine == "embedded"
    (effect,) = result.effects
    assert effect.matched == effect.changed == ("apps/Deployment/gpu/op",)
    assert DEPLOYMENT["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "1"  # input untouched


def test_images_rewrite_containers_and_init_containers(tmp_path: Path) -> None:
    result = _run(tmp_path, (
        "images:\n- name: nvcr.io/nvidia/operator\n  newName: harbor.local/nvidia/operator\n"
        "- name: nvcr.io/nvidia/init\n  digest: sha256:abc\n"
    ))
    spec = result.manifests[0]["spec"]["template"]["spec"]
    assert spec["containers"][0]["image"] == "harbor.local/nvidia/operator:v25.3.2"
    assert spec["initContainers"][0]["image"] == "nvcr.io/nvidia/init@sha256:abc"


def test_missing_target_and_failing_op_are_reported_not_raised(tmp_path: Path) -> None:
    result = _run(tmp_path, (
        "patches:\n- patch: |-\n    apiVersion: apps/v1\n    kind: DaemonSet\n    metadata: {name: gone}\n    spec: {x: 1}\n"
        "- target: {kind: Deployment}\n  patch: |-\n    - {op: remove, path: /spec/nope}\n"
        "    - {op: add, path: /spec/paused, value: true}\n"
    ))
    first, second = result.effects
    assert first.matched == () and "no resource matches" in (first.error or "")
    assert second.matched == ("apps/Deployment/gpu/op",) and second.changed == ()
    assert [f.index for _, f in second.op_failures] == [0]
    assert result.failed and "paused" not in result.manifests[0]["spec"]


def test_delete_resource_and_rename_protection(tmp_path: Path) -> None:
    result = _run(tmp_path, (
        "patches:\n- target: {kind: Deployment}\n  patch: |-\n    kind: Deployment\n    metadata: {name: other}\n"
        "    $patch: delete\n"
    ))
    assert result.manifests == [] and result.effects[0].deleted == ("apps/Deployment/gpu/op",)


def test_split_image() -> None:
    assert split_image("reg:5000/a/b:1@sha256:x") == ("reg:5000/a/b", "1", "sha256:x")
    assert split_image("a@sha256:x") == ("a", "", "sha256:x")
    assert split_image("reg:5000/a") == ("reg:5000/a", "", "")


def test_unknown_engine_and_missing_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path, {"kustomization.yaml": "patches: []\n"})
    with pytest.raises(InputError, match="unknown kustomize engine"):
        apply_kustomization([], tmp_path, engine="fast")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(InputError, match="no `kubectl` or `kustomize` binary"):
        apply_kustomization([], tmp_path, engine="binary")
    assert apply_kustomization([DEPLOYMENT], tmp_path).engine == "embedded"


@pytest.mark.tools
@needs_kubectl
def test_auto_uses_the_binary_and_keeps_input_order(tmp_path: Path) -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "gpu"}}
    result = _run(tmp_path, "images:\n- name: nvcr.io/nvidia/operator\n  newTag: v1\n", [DEPLOYMENT, service])
    write_tree(tmp_path, {"kustomization.yaml": "images:\n- name: nvcr.io/nvidia/operator\n  newTag: v1\n"})
    real = apply_kustomization([DEPLOYMENT, service], tmp_path, engine="auto")
    assert real.engine.startswith("kubectl ") and "kustomize" in real.engine
    assert [m["kind"] for m in real.manifests] == ["Deployment", "Service"]
    assert real.manifests == result.manifests
    assert os.listdir(tmp_path) == ["kustomization.yaml"]  # nothing written next to the user's files
