"""Which Kubernetes object a rendered manifest is: one identity for every comparison.

Helm installs a namespaced object whose template writes no `metadata.namespace` into the release
namespace, so `Deployment/op` and `Deployment/gpu-operator/op` are the same object when the release
namespace is `gpu-operator` (charts add `namespace: {{ .Release.Namespace }}` between versions all the
time). Cluster-scoped kinds have no namespace whatever the manifest says: the built-in ones, and the
custom kinds whose CustomResourceDefinition says `scope: Cluster`. The version of `apiVersion` is not
part of the identity, so an object moving to another version of its group stays the same object.

The manifest diff, the kustomize patch findings, CRDs and images all pair OLD and NEW with this key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

# Cluster-scoped kinds of the Kubernetes API (group, kind), plus the cluster-scoped custom kinds charts
# very often use without shipping their CRD in the same chart.
BUILTIN_CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset({
    ("", "Namespace"), ("", "Node"), ("", "PersistentVolume"), ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("storage.k8s.io", "StorageClass"), ("storage.k8s.io", "CSIDriver"), ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"), ("storage.k8s.io", "VolumeAttributesClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("networking.k8s.io", "IngressClass"), ("networking.k8s.io", "IPAddress"), ("networking.k8s.io", "ServiceCIDR"),
    ("policy", "PodSecurityPolicy"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    ("certificates.k8s.io", "CertificateSigningRequest"), ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"), ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("resource.k8s.io", "DeviceClass"), ("resource.k8s.io", "ResourceSlice"),
    ("authentication.k8s.io", "TokenReview"), ("authentication.k8s.io", "SelfSubjectReview"),
    ("authorization.k8s.io", "SubjectAccessReview"), ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
    ("cert-manager.io", "ClusterIssuer"),
    ("snapshot.storage.k8s.io", "VolumeSnapshotClass"), ("snapshot.storage.k8s.io", "VolumeSnapshotContent"),
})


def group_of(api_version: Any) -> str:
    """`apps` for `apps/v1`, "" (the core group) for `v1`."""
    text = str(api_version or "")
    return text.rsplit("/", 1)[0] if "/" in text else ""


@dataclass(frozen=True)
class Scopes:
    """Which kinds are cluster-scoped: the built-in ones and those the given CRDs declare so.

    A CRD saying `scope: Namespaced` wins over the built-in guess for its kind.
    """

    cluster: frozenset[tuple[str, str]] = field(default=frozenset())
    namespaced: frozenset[tuple[str, str]] = field(default=frozenset())

    @classmethod
    def of(cls, *manifest_lists: Iterable[Any]) -> "Scopes":
        """Scopes from every CustomResourceDefinition in the lists (the first one naming a kind wins)."""
        cluster: set[tuple[str, str]] = set()
        namespaced: set[tuple[str, str]] = set()
        for manifests in manifest_lists:
            for m in manifests:
                crd = _crd_scope(m)
                if crd is None or crd[0] in cluster or crd[0] in namespaced:
                    continue
                (cluster if crd[1] == "Cluster" else namespaced).add(crd[0])
        return cls(frozenset(cluster), frozenset(namespaced))

    def is_cluster_scoped(self, group: str, kind: str) -> bool:
        gk = (group, kind)
        if gk in self.namespaced:
            return False
        return gk in self.cluster or gk in BUILTIN_CLUSTER_SCOPED


def _crd_scope(m: Any) -> tuple[tuple[str, str], str] | None:
    if not isinstance(m, dict) or m.get("kind") != "CustomResourceDefinition":
        return None
    spec = m.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("names"), dict):
        return None
    group, kind, scope = spec.get("group"), spec["names"].get("kind"), spec.get("scope")
    if not isinstance(group, str) or not isinstance(kind, str) or scope not in ("Cluster", "Namespaced"):
        return None
    return (group, kind), str(scope)


BUILTIN = Scopes()


@dataclass(frozen=True, order=True)
class ResourceKey:
    """group, kind, namespace ("" when cluster-scoped, or namespaced with no namespace known), name."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        """`apps/Deployment/ns/name`, `core/Service/ns/name`; no namespace part when there is none."""
        parts = [self.group or "core", self.kind, self.namespace, self.name]
        return "/".join(p for p in parts if p)


def resource_key(manifest: Any, namespace: str = "", scopes: Scopes | None = None) -> ResourceKey:
    """The identity of `manifest` for a release installed in `namespace`."""
    if not isinstance(manifest, dict):
        return ResourceKey("", "", "", "")
    group = group_of(manifest.get("apiVersion"))
    kind = str(manifest.get("kind") or "")
    meta = manifest.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = str(meta.get("name") or "")
    if (scopes or BUILTIN).is_cluster_scoped(group, kind):
        return ResourceKey(group, kind, "", name)
    return ResourceKey(group, kind, str(meta.get("namespace") or namespace or ""), name)


def index(manifests: Iterable[Any], namespace: str = "", scopes: Scopes | None = None) -> dict[ResourceKey, dict[str, Any]]:
    """Manifests with a kind by their identity (a later duplicate wins, as `kubectl apply` would)."""
    out: dict[ResourceKey, dict[str, Any]] = {}
    for m in manifests:
        if isinstance(m, dict) and m.get("kind"):
            out[resource_key(m, namespace, scopes)] = m
    return out
