"""Kubernetes compatibility: the chart's `kubeVersion` and the apiVersions it renders, against our cluster.

The table lists the well-known API removals from the Kubernetes deprecation guide
(https://kubernetes.io/docs/reference/using-api/deprecation-guide/). Keep it sorted by removal release;
add a row when a Kubernetes release removes a served API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from chartkeeper.findings import Finding, Severity
from chartkeeper.errors import InputError
from chartkeeper.versions import ChartVersion, Constraint


@dataclass(frozen=True)
class ApiRemoval:
    api_version: str
    kind: str  # "*" for every kind of that group version
    deprecated_in: tuple[int, int]
    removed_in: tuple[int, int]
    replacement: str


# (apiVersion, kind, deprecated in 1.x, removed in 1.x, use instead)
API_REMOVALS: tuple[ApiRemoval, ...] = tuple(ApiRemoval(*row) for row in [
    ("extensions/v1beta1", "Deployment", (1, 9), (1, 16), "apps/v1"),
    ("extensions/v1beta1", "DaemonSet", (1, 9), (1, 16), "apps/v1"),
    ("extensions/v1beta1", "ReplicaSet", (1, 9), (1, 16), "apps/v1"),
    ("extensions/v1beta1", "NetworkPolicy", (1, 9), (1, 16), "networking.k8s.io/v1"),
    ("extensions/v1beta1", "PodSecurityPolicy", (1, 10), (1, 16), "policy/v1beta1"),
    ("apps/v1beta1", "*", (1, 9), (1, 16), "apps/v1"),
    ("apps/v1beta2", "*", (1, 9), (1, 16), "apps/v1"),
    ("extensions/v1beta1", "Ingress", (1, 14), (1, 22), "networking.k8s.io/v1"),
    ("networking.k8s.io/v1beta1", "Ingress", (1, 19), (1, 22), "networking.k8s.io/v1"),
    ("networking.k8s.io/v1beta1", "IngressClass", (1, 19), (1, 22), "networking.k8s.io/v1"),
    ("admissionregistration.k8s.io/v1beta1", "*", (1, 16), (1, 22), "admissionregistration.k8s.io/v1"),
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", (1, 16), (1, 22), "apiextensions.k8s.io/v1"),
    ("apiregistration.k8s.io/v1beta1", "APIService", (1, 19), (1, 22), "apiregistration.k8s.io/v1"),
    ("authentication.k8s.io/v1beta1", "TokenReview", (1, 19), (1, 22), "authentication.k8s.io/v1"),
    ("authorization.k8s.io/v1beta1", "*", (1, 19), (1, 22), "authorization.k8s.io/v1"),
    ("certificates.k8s.io/v1beta1", "CertificateSigningRequest", (1, 19), (1, 22), "certificates.k8s.io/v1"),
    ("coordination.k8s.io/v1beta1", "Lease", (1, 19), (1, 22), "coordination.k8s.io/v1"),
    ("rbac.authorization.k8s.io/v1beta1", "*", (1, 17), (1, 22), "rbac.authorization.k8s.io/v1"),
    ("scheduling.k8s.io/v1beta1", "PriorityClass", (1, 14), (1, 22), "scheduling.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "CSIDriver", (1, 19), (1, 22), "storage.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "CSINode", (1, 17), (1, 22), "storage.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "StorageClass", (1, 19), (1, 22), "storage.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "VolumeAttachment", (1, 19), (1, 22), "storage.k8s.io/v1"),
    ("batch/v1beta1", "CronJob", (1, 21), (1, 25), "batch/v1"),
    ("discovery.k8s.io/v1beta1", "EndpointSlice", (1, 21), (1, 25), "discovery.k8s.io/v1"),
    ("events.k8s.io/v1beta1", "Event", (1, 21), (1, 25), "events.k8s.io/v1"),
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler", (1, 22), (1, 25), "autoscaling/v2"),
    ("policy/v1beta1", "PodDisruptionBudget", (1, 21), (1, 25), "policy/v1"),
    ("policy/v1beta1", "PodSecurityPolicy", (1, 21), (1, 25), "Pod Security Admission"),
    ("node.k8s.io/v1beta1", "RuntimeClass", (1, 20), (1, 25), "node.k8s.io/v1"),
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler", (1, 23), (1, 26), "autoscaling/v2"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "*", (1, 23), (1, 26), "flowcontrol.apiserver.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "CSIStorageCapacity", (1, 24), (1, 27), "storage.k8s.io/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta2", "*", (1, 26), (1, 29), "flowcontrol.apiserver.k8s.io/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta3", "*", (1, 29), (1, 32), "flowcontrol.apiserver.k8s.io/v1"),
    ("resource.k8s.io/v1alpha2", "*", (1, 31), (1, 31), "resource.k8s.io/v1beta1"),
    ("resource.k8s.io/v1beta1", "*", (1, 33), (1, 36), "resource.k8s.io/v1"),
])


def minor_of(kube_version: str) -> tuple[int, int]:
    v = ChartVersion.try_parse(kube_version)
    if v is None:
        raise InputError(f"kubeVersion: {kube_version!r} is not a Kubernetes version")
    return v.core[0], v.core[1]


def lookup(api_version: str, kind: str) -> ApiRemoval | None:
    for r in API_REMOVALS:
        if r.api_version == api_version and r.kind in ("*", kind):
            return r
    return None


def kube_version_findings(chart_kube_version: str | None, old_kube_version: str | None, cluster: str) -> list[Finding]:
    if not chart_kube_version:
        return []
    try:
        constraint = Constraint.parse(chart_kube_version)
    except InputError:
        return [Finding("kube.version-constraint-invalid", Severity.REVIEW,
                        f"NEW Chart.yaml kubeVersion {chart_kube_version!r} is not a constraint chartkeeper can read",
                        new=chart_kube_version)]
    v = ChartVersion.parse(cluster)
    # Helm compares the cluster version with prereleases allowed (`-0` suffixes are common in charts)
    if constraint.allows(v, pre=True):
        return []
    return [Finding("kube.version-unsupported", Severity.BREAKING,
                    f"NEW requires Kubernetes {chart_kube_version}; the configured cluster is {cluster} (helm refuses to install)",
                    old=old_kube_version, new=chart_kube_version, ours=cluster,
                    introduced=not _refuses(old_kube_version, v))]


def _refuses(kube_version: str | None, cluster: ChartVersion) -> bool:
    """Does this kubeVersion constraint (OLD's) already refuse the cluster?"""
    if not kube_version:
        return False
    try:
        return not Constraint.parse(kube_version).allows(cluster, pre=True)
    except InputError:
        return False


def api_findings(objs: Iterable[dict], cluster: str, *, env: str | None = None, old_objs: Iterable[dict] = ()) -> list[Finding]:
    """apiVersions NEW renders that the cluster no longer serves (breaking) or deprecates (review)."""
    cur = minor_of(cluster)
    in_old = {(str(o.get("apiVersion")), str(o.get("kind"))) for o in old_objs if isinstance(o, dict)}
    seen: dict[tuple[str, str], list[str]] = {}
    for o in objs:
        if not isinstance(o, dict):
            continue
        key = (str(o.get("apiVersion")), str(o.get("kind")))
        seen.setdefault(key, []).append(str((o.get("metadata") or {}).get("name") or ""))
    out: list[Finding] = []
    for (api, kind), names in sorted(seen.items()):
        r = lookup(api, kind)
        if r is None:
            continue
        tail = "" if (api, kind) not in in_old else " (OLD used it too)"
        shown = ", ".join(sorted(names)[:3]) + (" …" if len(names) > 3 else "")
        if cur >= r.removed_in:
            out.append(Finding("kube.api-removed", Severity.BREAKING,
                               f"{kind} {api} was removed in Kubernetes 1.{r.removed_in[1]}; use {r.replacement} ({shown}){tail}",
                               path=f"{api}/{kind}", env=env, suggestion=r.replacement, introduced=not tail))
        elif cur >= r.deprecated_in:
            out.append(Finding("kube.api-deprecated", Severity.REVIEW,
                               f"{kind} {api} is deprecated since 1.{r.deprecated_in[1]} and removed in 1.{r.removed_in[1]}; "
                               f"use {r.replacement} ({shown}){tail}",
                               path=f"{api}/{kind}", env=env, suggestion=r.replacement, introduced=not tail))
    return out
