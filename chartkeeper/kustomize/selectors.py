"""Which resources a patch applies to, with kustomize's rules.

- `target:` fields left empty match anything; `name`/`namespace` are regexes anchored at both ends.
- A resource without a namespace is in `default`; cluster-scoped kinds have no namespace at all, so a
  namespace selector never matches them.
- A strategic-merge patch without a target applies to the one resource with its exact
  apiVersion, kind and name (namespace compared the same way).
- Selection also accepts the name/namespace a resource had before earlier patches renamed it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from chartkeeper.kustomize.model import Target

# kustomize's list of kinds that are not namespaced (api/resid/gvk.go), plus newer cluster-scoped kinds.
CLUSTER_SCOPED_KINDS = frozenset({
    "APIService", "CSIDriver", "CSINode", "CertificateSigningRequest", "Cluster", "ClusterRole",
    "ClusterRoleBinding", "ComponentStatus", "CustomResourceDefinition", "MutatingWebhookConfiguration",
    "Namespace", "Node", "PersistentVolume", "PodSecurityPolicy", "PriorityClass", "RuntimeClass",
    "SelfSubjectAccessReview", "SelfSubjectRulesReview", "StorageClass", "SubjectAccessReview",
    "TokenReview", "ValidatingWebhookConfiguration", "VolumeAttachment",
})
_NOT_NAMESPACED = "_non_namespaceable_"


@dataclass(frozen=True)
class ResourceId:
    group: str
    version: str
    kind: str
    namespace: str
    name: str

    @property
    def effective_namespace(self) -> str:
        if self.kind in CLUSTER_SCOPED_KINDS:
            return _NOT_NAMESPACED
        return self.namespace or "default"

    def __str__(self) -> str:
        """`apps/Deployment/ns/name` (group and namespace left out when empty)."""
        parts = [p for p in (self.group, self.kind, self.namespace, self.name) if p]
        return "/".join(parts)

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.namespace, self.name, self.group)


def resource_id(manifest: dict[str, Any]) -> ResourceId:
    api = manifest.get("apiVersion") or ""
    group, _, version = api.rpartition("/") if "/" in str(api) else ("", "", str(api))
    meta = manifest.get("metadata") or {}
    if not isinstance(meta, dict):
        meta = {}
    return ResourceId(
        group=group,
        version=version,
        kind=str(manifest.get("kind") or ""),
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
    )


@lru_cache(maxsize=512)
def _anchored(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(f"^(?:{pattern})$")
    except re.error:
        # kustomize (Go regexp) would reject it too; match it literally rather than crash
        return re.compile(f"^{re.escape(pattern)}$")


def matches_target(target: Target, current: ResourceId, original: ResourceId, manifest: dict[str, Any]) -> bool:
    if target.namespace:
        rx = _anchored(target.namespace)
        if not (rx.match(original.effective_namespace) or rx.match(current.effective_namespace)):
            return False
    if target.name:
        rx = _anchored(target.name)
        if not (rx.match(original.name) or rx.match(current.name)):
            return False
    # kustomize v5 matches group, version and kind as anchored regexes too (`kind: Deployment|DaemonSet`)
    for wanted, actual in ((target.group, current.group), (target.version, current.version),
                           (target.kind, current.kind)):
        if wanted and not _anchored(wanted).match(actual):
            return False
    meta = manifest.get("metadata") or {}
    if target.label_selector and not matches_selector(target.label_selector, meta.get("labels") or {}):
        return False
    if target.annotation_selector and not matches_selector(
        target.annotation_selector, meta.get("annotations") or {}
    ):
        return False
    return True


def matches_id(patch_id: ResourceId, current: ResourceId, original: ResourceId) -> bool:
    """The resource a target-less strategic-merge patch names (exact group, version, kind, name)."""
    for rid in (original, current):
        if (
            rid.group == patch_id.group
            and rid.version == patch_id.version
            and rid.kind == patch_id.kind
            and rid.name == patch_id.name
            and rid.effective_namespace == patch_id.effective_namespace
        ):
            return True
    return False


# --- Kubernetes label selectors: `a=b,c!=d,e in (f,g),h notin (i),j,!k` ------------------------------

_REQ = re.compile(
    r"""\s*(?:
        (?P<neg>!)\s*(?P<nkey>[^\s,=!()]+)                                   # !key
      | (?P<skey>[^\s,=!()]+)\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\)  # key in (a,b)
      | (?P<key>[^\s,=!()]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[^\s,=!()]*))?  # key=value, key!=value, key
    )\s*(?:,|$)""",
    re.VERBOSE,
)


def matches_selector(selector: str, labels: dict[str, Any]) -> bool:
    labels = {str(k): "" if v is None else str(v) for k, v in (labels or {}).items()}
    pos = 0
    text = selector.strip()
    if not text:
        return True
    while pos < len(text):
        m = _REQ.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"invalid selector {selector!r}")
        pos = m.end()
        if m.group("neg"):
            if m.group("nkey") in labels:
                return False
        elif m.group("setop"):
            values = {v.strip() for v in m.group("values").split(",") if v.strip()}
            key = m.group("skey")
            if m.group("setop") == "in":
                if key not in labels or labels[key] not in values:
                    return False
            elif key in labels and labels[key] in values:
                return False
        else:
            key, op, value = m.group("key"), m.group("op"), m.group("value")
            if op is None:
                if key not in labels:
                    return False
            elif op in ("=", "=="):
                if labels.get(key) != value:
                    return False
            elif key in labels and labels[key] == value:
                return False
    return True
