"""The one resource identity every OLD/NEW comparison uses (chartkeeper.resources)."""

from __future__ import annotations

from chartkeeper.analysis.manifests import diff_manifests
from chartkeeper.resources import ResourceKey, Scopes, index, resource_key

DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "op"}}
POLICY = {"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy", "metadata": {"name": "cluster-policy"}}
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "clusterpolicies.nvidia.com"},
    "spec": {"group": "nvidia.com", "scope": "Cluster", "names": {"kind": "ClusterPolicy", "plural": "clusterpolicies"}},
}


def _with_ns(m: dict, ns: str) -> dict:
    return {**m, "metadata": {**m["metadata"], "namespace": ns}}


def test_namespaced_resource_without_namespace_is_in_the_release_namespace() -> None:
    assert resource_key(DEPLOY, "gpu-operator") == resource_key(_with_ns(DEPLOY, "gpu-operator"), "gpu-operator")
    assert str(resource_key(DEPLOY, "gpu-operator")) == "apps/Deployment/gpu-operator/op"
    # an explicit other namespace is another object
    assert resource_key(_with_ns(DEPLOY, "other"), "gpu-operator").namespace == "other"


def test_builtin_cluster_scoped_kinds_have_no_namespace() -> None:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "r", "namespace": "x"}}
    assert resource_key(role, "gpu-operator") == ResourceKey("rbac.authorization.k8s.io", "ClusterRole", "", "r")
    assert str(resource_key({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})) == "core/Namespace/n"


def test_custom_kind_scope_comes_from_its_crd() -> None:
    # without the CRD, a custom kind is taken as namespaced
    assert resource_key(POLICY, "gpu-operator").namespace == "gpu-operator"
    scopes = Scopes.of([CRD])
    key = resource_key(_with_ns(POLICY, "gpu-operator"), "gpu-operator", scopes)
    assert key.namespace == "" and str(key) == "nvidia.com/ClusterPolicy/cluster-policy"
    namespaced = {**CRD, "spec": {**CRD["spec"], "scope": "Namespaced"}}
    assert Scopes.of([namespaced]).is_cluster_scoped("nvidia.com", "ClusterPolicy") is False


def test_version_is_not_part_of_the_identity() -> None:
    beta = {**DEPLOY, "apiVersion": "apps/v1beta2"}
    assert list(index([beta], "ns")) == list(index([DEPLOY], "ns"))


def test_manifest_diff_pairs_a_resource_that_gains_its_namespace() -> None:
    d = diff_manifests([DEPLOY, CRD, POLICY], [_with_ns(DEPLOY, "gpu-operator"), CRD, _with_ns(POLICY, "gpu-operator")],
                       namespace="gpu-operator")
    assert not d.added and not d.removed
    assert [str(c.key) for c in d.changed] == ["apps/Deployment/gpu-operator/op", "nvidia.com/ClusterPolicy/cluster-policy"]
