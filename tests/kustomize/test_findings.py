"""Every `patch.*` finding code from a small OLD/NEW manifest pair."""

from __future__ import annotations

import copy
from pathlib import Path

from chartkeeper.findings import Severity
from chartkeeper.kustomize.findings import check_patches, patch_findings
from tests.support.charts import write_tree


def _deployment(image: str = "nvcr.io/nvidia/gpu-operator:v25.3.2", cpu: str = "500m", replicas: int = 1,
                name: str = "gpu-operator", env: list | None = None) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "gpu-operator", "labels": {"app": "gpu-operator"}},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{
                "name": "gpu-operator", "image": image,
                "env": env if env is not None else [{"name": "OPERATOR_NAMESPACE", "value": "gpu-operator"}],
                "resources": {"limits": {"cpu": cpu, "memory": "350Mi"}},
            }]}},
        },
    }


def _kz(tmp_path: Path, text: str, **files: str) -> Path:
    folder = tmp_path / "patches" / "gpu-operator"
    write_tree(folder, {"kustomization.yaml": text, **files})
    (tmp_path / ".git").mkdir(exist_ok=True)  # file names come out relative to the repository
    return folder


LIMITS = (
    "patches:\n"
    "- path: limits.yaml\n"
)
LIMITS_FILE = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: gpu-operator\n  namespace: gpu-operator\n"
    "spec:\n  template:\n    spec:\n      containers:\n      - name: gpu-operator\n"
    "        resources:\n          limits: {cpu: '1', memory: 1Gi}\n"
)


def _codes(findings) -> list[str]:
    return sorted(f.code for f in findings)


def test_unchanged_chart_and_working_patch_gives_nothing(tmp_path: Path) -> None:
    folder = _kz(tmp_path, LIMITS, **{"limits.yaml": LIMITS_FILE})
    assert patch_findings([_deployment()], [_deployment()], folder) == []
    assert check_patches([_deployment()], folder) == []


def test_target_missing_in_new(tmp_path: Path) -> None:
    folder = _kz(tmp_path, LIMITS, **{"limits.yaml": LIMITS_FILE})
    (f,) = patch_findings([_deployment()], [_deployment(name="gpu-operator-controller")], folder, chart="gpu-operator")
    assert f.code == "patch.target-missing" and f.severity is Severity.BREAKING
    assert f.file == "patches/gpu-operator/limits.yaml" and f.line == 1
    assert "kustomize build fails" in f.message and f.message.startswith("gpu-operator: ")


def test_target_missing_already_in_old(tmp_path: Path) -> None:
    folder = _kz(tmp_path, (
        "patches:\n"
        "- target: {kind: DaemonSet, name: nvidia-driver-daemonset}\n"
        "  patch: |-\n"
        "    - {op: add, path: /spec/template/spec/priorityClassName, value: system-node-critical}\n"
    ))
    (f,) = patch_findings([_deployment()], [_deployment()], folder)
    assert f.code == "patch.target-missing-old" and f.severity is Severity.BREAKING
    assert "operator" in f.message and "skips it silently" in f.message
    assert f.file == "patches/gpu-operator/kustomization.yaml" and f.line == 2
    (lint,) = check_patches([_deployment()], folder)
    assert lint.code == "patch.target-missing"


def test_json6902_path_missing_per_op(tmp_path: Path) -> None:
    folder = _kz(tmp_path, (
        "patches:\n"
        "- target: {kind: Deployment}\n"
        "  patch: |-\n"
        "    - op: replace\n"
        "      path: /spec/template/spec/containers/0/env/0/value\n"
        "      value: custom\n"
        "    - op: remove\n"
        "      path: /spec/template/spec/containers/0/resources/limits/memory\n"
    ))
    new = _deployment(env=[])
    del new["spec"]["template"]["spec"]["containers"][0]["resources"]
    findings = patch_findings([_deployment()], [new], folder)
    assert _codes(findings) == ["patch.json6902-path-missing", "patch.json6902-path-missing"]
    assert sorted(f.line for f in findings) == [4, 7]
    assert all(f.severity is Severity.BREAKING for f in findings)


def test_replace_of_a_vanished_key_is_flagged_although_kustomize_adds_it(tmp_path: Path) -> None:
    folder = _kz(tmp_path, (
        "patches:\n"
        "- target: {kind: Deployment}\n"
        "  patch: |-\n"
        "    - {op: replace, path: /spec/replicas, value: 2}\n"
    ))
    new = _deployment()
    del new["spec"]["replicas"]
    (f,) = [f for f in patch_findings([_deployment()], [new], folder) if f.code == "patch.json6902-path-missing"]
    assert "adds it instead" in f.message


def test_json6902_test_op_failing(tmp_path: Path) -> None:
    folder = _kz(tmp_path, (
        "patches:\n"
        "- target: {kind: Deployment}\n"
        "  patch: |-\n"
        "    - {op: test, path: /spec/replicas, value: 1}\n"
        "    - {op: replace, path: /spec/replicas, value: 3}\n"
    ))
    findings = patch_findings([_deployment()], [_deployment(replicas=2)], folder)
    assert "patch.json6902-test-failed" in _codes(findings)


def test_no_op_when_upstream_adopted_the_patch(tmp_path: Path) -> None:
    folder = _kz(tmp_path, LIMITS, **{"limits.yaml": LIMITS_FILE})
    new = _deployment(cpu="1")
    new["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "1Gi"
    (f,) = patch_findings([_deployment()], [new], folder)
    assert f.code == "patch.no-op" and f.severity is Severity.INFO and "upstream adopted it" in f.message


def test_upstream_changed_a_field_we_patch(tmp_path: Path) -> None:
    folder = _kz(tmp_path, LIMITS, **{"limits.yaml": LIMITS_FILE})
    (f,) = patch_findings([_deployment()], [_deployment(cpu="750m")], folder)
    assert f.code == "patch.upstream-changed" and f.severity is Severity.REVIEW
    assert (f.old, f.new, f.ours) == ("500m", "750m", "1")
    assert dict(f.details)["field"] == "spec.template.spec.containers[name=gpu-operator].resources.limits.cpu"
    assert f.path == "apps/Deployment/gpu-operator/gpu-operator"
    assert (f.file, f.line) == ("patches/gpu-operator/limits.yaml", 12)  # the `limits:` line of the patch


def test_images_rule_pinning_a_tag_upstream_moved(tmp_path: Path) -> None:
    folder = _kz(tmp_path, "images:\n- name: nvcr.io/nvidia/gpu-operator\n  newName: harbor.local/nvidia/gpu-operator\n"
                           "  newTag: v25.3.2-patched\n")
    findings = patch_findings([_deployment()], [_deployment(image="nvcr.io/nvidia/gpu-operator:v25.10.0")], folder)
    (f,) = findings
    assert f.code == "patch.upstream-changed" and f.ours == "harbor.local/nvidia/gpu-operator:v25.3.2-patched"
    assert f.new == "nvcr.io/nvidia/gpu-operator:v25.10.0" and f.line == 2


def test_images_rule_following_upstream_tag_is_quiet_but_renamed_image_is_breaking(tmp_path: Path) -> None:
    folder = _kz(tmp_path, "images:\n- name: nvcr.io/nvidia/gpu-operator\n  newName: harbor.local/nvidia/gpu-operator\n")
    assert patch_findings([_deployment()], [_deployment(image="nvcr.io/nvidia/gpu-operator:v25.10.0")], folder) == []
    (f,) = patch_findings([_deployment()], [_deployment(image="nvcr.io/nvidia/cloud-native/gpu-operator:v26")], folder)
    assert f.code == "patch.target-missing" and "air gap" in f.message


def test_lint_reports_failing_ops_and_no_ops(tmp_path: Path) -> None:
    folder = _kz(tmp_path, (
        "patches:\n"
        "- target: {kind: Deployment}\n"
        "  patch: |-\n"
        "    - {op: remove, path: /spec/template/spec/hostNetwork}\n"
        "- target: {kind: Deployment}\n"
        "  patch: |-\n"
        "    - {op: replace, path: /spec/replicas, value: 1}\n"
    ))
    findings = check_patches([copy.deepcopy(_deployment())], folder)
    assert _codes(findings) == ["patch.json6902-path-missing", "patch.no-op"]


def test_namespace_left_out_by_the_template_is_explained(tmp_path: Path) -> None:
    folder = _kz(tmp_path, (
        "patches:\n"
        "- target: {kind: Deployment, namespace: gpu-operator}\n"
        "  patch: |-\n"
        "    - {op: replace, path: /spec/replicas, value: 2}\n"
    ))
    rendered = _deployment()
    del rendered["metadata"]["namespace"]  # what Helm renders when the template omits it
    (f,) = patch_findings([rendered], [rendered], folder)
    assert f.code == "patch.target-missing-old" and "no metadata.namespace" in f.message
    (lint,) = check_patches([rendered], folder)
    assert "drop `namespace`" in lint.message


def test_old_and_new_pair_up_when_new_writes_the_release_namespace(tmp_path: Path) -> None:
    """v24.9 renders the Deployment without a namespace, later versions with `{{ .Release.Namespace }}`."""
    folder = _kz(tmp_path, (
        "patches:\n"
        "- target: {kind: Deployment, name: gpu-operator}\n"
        "  patch: |-\n"
        "    apiVersion: apps/v1\n"
        "    kind: Deployment\n"
        "    metadata: {name: gpu-operator}\n"
        "    spec:\n"
        "      template:\n"
        "        spec:\n"
        "          containers:\n"
        "          - name: gpu-operator\n"
        "            resources:\n"
        "              limits: {cpu: '1'}\n"
    ))
    old = _deployment()
    del old["metadata"]["namespace"]
    (f,) = patch_findings([old], [_deployment(cpu="750m")], folder, namespace="gpu-operator")
    assert f.code == "patch.upstream-changed" and (f.old, f.new, f.ours) == ("500m", "750m", "1")
    assert f.path == "apps/Deployment/gpu-operator/gpu-operator"


def _tolerations(*keys: str) -> dict:
    d = _deployment()
    d["spec"]["template"]["spec"]["tolerations"] = [{"key": k, "operator": "Exists", "effect": "NoSchedule"} for k in keys]
    return d


REMOVE_TWO_FIRST = (
    "patches:\n"
    "- target: {kind: Deployment}\n"
    "  patch: |-\n"
    "    - {op: remove, path: /spec/template/spec/tolerations/0}\n"
    "    - {op: remove, path: /spec/template/spec/tolerations/0}\n"
)


def test_index_addressed_ops_that_hit_other_elements_in_new(tmp_path: Path) -> None:
    folder = _kz(tmp_path, REMOVE_TWO_FIRST)
    old = _tolerations("node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane", "nvidia.com/gpu")
    new = _tolerations("node-role.kubernetes.io/control-plane", "nvidia.com/gpu")
    findings = patch_findings([old], [new], folder)
    assert _codes(findings) == ["patch.json6902-index-shifted"] * 2
    first, second = sorted(findings, key=lambda f: f.line or 0)
    assert first.severity is Severity.BREAKING and first.line == 4 and second.line == 5
    assert dict(first.details)["field"] == "spec.template.spec.tolerations[0]"
    assert first.message.startswith("spec.template.spec.tolerations[0] on apps/Deployment/gpu-operator/gpu-operator:")
    assert "key node-role.kubernetes.io/master in OLD" in first.message
    assert "key node-role.kubernetes.io/control-plane in NEW" in first.message
    assert "key nvidia.com/gpu in NEW" in second.message and "`test` op" in second.message
    assert (first.old["key"], first.new["key"]) == ("node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane")


def test_index_addressed_ops_on_an_unchanged_or_grown_list_are_quiet(tmp_path: Path) -> None:
    folder = _kz(tmp_path, REMOVE_TWO_FIRST)
    old = _tolerations("a", "b", "c")
    assert patch_findings([old], [copy.deepcopy(old)], folder) == []
    assert patch_findings([old], [_tolerations("a", "b", "c", "d")], folder) == []


def test_an_element_pinned_by_a_test_op_is_not_an_index_shift(tmp_path: Path) -> None:
    folder = _kz(tmp_path, (
        "patches:\n"
        "- target: {kind: Deployment}\n"
        "  patch: |-\n"
        "    - {op: test, path: /spec/template/spec/tolerations/0/key, value: a}\n"
        "    - {op: remove, path: /spec/template/spec/tolerations/0}\n"
    ))
    findings = patch_findings([_tolerations("a", "b")], [_tolerations("b")], folder)
    assert _codes(findings) == ["patch.json6902-test-failed"]


def test_index_into_a_container_compares_by_name(tmp_path: Path) -> None:
    folder = _kz(tmp_path, (
        "patches:\n"
        "- target: {kind: Deployment}\n"
        "  patch: |-\n"
        "    - {op: replace, path: /spec/template/spec/containers/0/image, value: harbor.local/op:1}\n"
    ))
    new = _deployment(image="nvcr.io/nvidia/gpu-operator:v25.10.0")  # same container, other image: not a shift
    assert _codes(patch_findings([_deployment()], [new], folder)) == ["patch.upstream-changed"]
    sidecar = copy.deepcopy(new)
    sidecar["spec"]["template"]["spec"]["containers"].insert(0, {"name": "init-sidecar", "image": "busybox"})
    (f,) = patch_findings([_deployment()], [sidecar], folder)
    assert f.code == "patch.json6902-index-shifted"
    assert "name gpu-operator in OLD" in f.message and "name init-sidecar in NEW" in f.message


def test_one_op_gives_one_finding(tmp_path: Path) -> None:
    """A list element replaced by index: the shift, not also an upstream-changed on the same field."""
    folder = _kz(tmp_path, (
        "patches:\n"
        "- target: {kind: Deployment}\n"
        "  patch: |-\n"
        "    - {op: replace, path: /spec/template/spec/containers/0/command/2, value: --zap-log-level=debug}\n"
    ))

    def with_command(*args: str) -> dict:
        d = _deployment()
        d["spec"]["template"]["spec"]["containers"][0]["command"] = ["gpu-operator", "--leader-elect", *args]
        return d

    # upstream inserted a flag before the one we replace: the op now overwrites another flag
    (f,) = patch_findings([with_command("--zap-log-level=info")],
                          [with_command("--zap-time-encoding=epoch", "--zap-log-level=info")], folder)
    assert f.code == "patch.json6902-index-shifted"
    assert '"--zap-log-level=info" in OLD' in f.message and '"--zap-time-encoding=epoch" in NEW' in f.message
    # upstream changed that flag's value in place: the op still addresses it, and masks the new value
    (f,) = patch_findings([with_command("--zap-log-level=info")], [with_command("--zap-log-level=error")], folder)
    assert f.code == "patch.upstream-changed" and (f.old, f.new, f.ours) == (
        "--zap-log-level=info", "--zap-log-level=error", "--zap-log-level=debug")


def test_a_whole_list_change_covers_its_elements(tmp_path: Path) -> None:
    folder = _kz(tmp_path, (
        "patches:\n"
        "- target: {kind: Deployment}\n"
        "  patch: |-\n"
        "    apiVersion: apps/v1\n"
        "    kind: Deployment\n"
        "    metadata: {name: gpu-operator}\n"
        "    spec:\n"
        "      template:\n"
        "        spec:\n"
        "          containers:\n"
        "          - name: gpu-operator\n"
        "            command: [gpu-operator, --debug, --x]\n"
    ))

    def with_command(*args: str) -> dict:
        d = _deployment()
        d["spec"]["template"]["spec"]["containers"][0]["command"] = list(args)
        return d

    findings = patch_findings([with_command("gpu-operator", "--a")], [with_command("gpu-operator", "--b", "--c")], folder)
    assert [dict(f.details)["field"] for f in findings] == ["spec.template.spec.containers[name=gpu-operator].command"]


def test_a_replace_of_a_vanished_field_is_one_breaking_finding(tmp_path: Path) -> None:
    folder = _kz(tmp_path, (
        "patches:\n"
        "- target: {kind: Deployment}\n"
        "  patch: |-\n"
        "    - {op: replace, path: /spec/replicas, value: 2}\n"
    ))
    new = _deployment()
    del new["spec"]["replicas"]
    (f,) = patch_findings([_deployment()], [new], folder)
    assert f.code == "patch.json6902-path-missing" and f.message.startswith("spec.replicas on ")


def test_a_targetless_patch_losing_its_resource_to_a_new_namespace_is_explained(tmp_path: Path) -> None:
    """kustomize matches a patch without `target:` by namespace too (none: `default`)."""
    folder = _kz(tmp_path, "patches:\n- path: replicas.yaml\n", **{"replicas.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: gpu-operator\nspec:\n  replicas: 2\n")})
    old = _deployment()
    del old["metadata"]["namespace"]
    (f,) = patch_findings([old], [_deployment()], folder, namespace="gpu-operator")
    assert f.code == "patch.target-missing" and "kustomize build fails" in f.message
    assert "add `namespace: gpu-operator` to the patch's metadata" in f.message
