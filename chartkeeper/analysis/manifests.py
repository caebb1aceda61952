"""Rendered-output analysis: resources added/removed/changed (images: `chartkeeper.analysis.images`).

A changed resource is described the way dyff does it: path-level edits
(`spec.template.spec.containers[operator].image: a -> b`), lists of named things (containers, env,
ports, volumes) matched by `name` rather than by position, computed with dictdiffer. Label and
annotation edits that only carry the chart or app version (`helm.sh/chart`, `app.kubernetes.io/version`,
`checksum/*`) are *churn*: they change on every bump, so they are folded and do not make a resource
"changed" unless asked for (`--show-label-churn`). The unified diff of the YAML is still computed: it
goes to the `.diff` file next to the report, never into the report itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import dictdiffer

from chartkeeper import yamlio
from chartkeeper.findings import Finding, Severity
from chartkeeper.analysis.secrets import MASK, mask_manifest
from chartkeeper.analysis.textdiff import unified_diff
from chartkeeper.resources import ResourceKey, Scopes, index, resource_key  # noqa: F401 (re-exported)

# Kinds whose change or removal deserves a second look in any upgrade
_STATEFUL_KINDS = {"StatefulSet", "PersistentVolumeClaim", "PersistentVolume", "CustomResourceDefinition", "Namespace"}
_IMMUTABLE_SELECTOR_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class _Absent:
    """The value on the side of an edit where the field does not exist (shown as `(absent)`)."""

    _instance: "_Absent | None" = None

    def __new__(cls) -> "_Absent":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(absent)"

    def __reduce__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()


@dataclass(frozen=True)
class Edit:
    """One field-level change of a resource: `path` in dyff's notation, OLD and NEW values (or ABSENT)."""

    path: str
    old: Any
    new: Any

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path}
        if self.old is not ABSENT:
            out["old"] = self.old
        if self.new is not ABSENT:
            out["new"] = self.new
        return out


@dataclass(frozen=True)
class ResourceChange:
    key: ResourceKey
    change: str  # "added" | "removed" | "changed"
    api_old: str | None = None
    api_new: str | None = None
    edits: tuple[Edit, ...] = ()  # semantic edits, churn left out unless asked for
    churn: tuple[Edit, ...] = ()  # version-label/checksum edits folded away
    # the rendered pair, for the unified diff: computed only when the .diff file is written (it costs
    # more than the whole semantic analysis on a big chart, and the JSON report never needs it)
    pair: tuple[dict[str, Any], dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    cache: "DiffCache | None" = field(default=None, repr=False, compare=False)

    @property
    def diff(self) -> str:
        """Unified diff of the masked YAML ("" for added/removed): the `.diff` file next to the report."""
        if self.pair is None or self.cache is None:
            return ""
        return self.cache.diff(self.key, *self.pair)


@dataclass(frozen=True)
class ManifestDiff:
    added: tuple[ResourceKey, ...]
    removed: tuple[ResourceKey, ...]
    changed: tuple[ResourceChange, ...]
    unchanged: int
    churn_only: tuple[ResourceChange, ...] = ()  # changed only in version labels / checksum annotations

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def signature(self) -> Any:
        """What the report shows of this diff: equal signatures render the same (environments merge on it)."""
        return (tuple(map(str, self.added)), tuple(map(str, self.removed)),
                tuple((str(c.key), c.api_old, c.api_new, tuple((e.path, repr(e.old), repr(e.new)) for e in c.edits))
                      for c in self.changed),
                len(self.churn_only))


def _mask_pair(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mask both sides; a changed secret value shows as changed without showing either value."""
    mo, mn = mask_manifest(old), mask_manifest(new)
    if new.get("kind") == "Secret":
        for field in ("data", "stringData"):
            a, b = old.get(field) or {}, new.get(field) or {}
            if isinstance(a, dict) and isinstance(b, dict) and isinstance(mn.get(field), dict):
                for k in b:
                    if k in a and a[k] != b[k]:
                        mn[field][k] = MASK + " (changed)"
    return mo, mn


def _yaml(obj: dict[str, Any]) -> list[str]:
    return yamlio.dumps(obj).splitlines(keepends=True)


class DiffCache:
    """Masked pairs, semantic edits and unified diffs already computed, by the identity of the two objects.

    Rendered objects are shared between environments when a template renders the same for each
    (see `PreparedChart`), so the same pair is diffed once per upgrade, not once per environment.
    """

    def __init__(self) -> None:
        self._diffs: dict[tuple[int, int, str], Any] = {}
        self._keep: list[Any] = []  # ids stay valid while the objects live

    def _masked(self, a: dict[str, Any], b: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        key = (id(a), id(b), "masked")
        hit = self._diffs.get(key)
        if hit is None:
            hit = _mask_pair(a, b)
            self._diffs[key] = hit
            self._keep.append((a, b))
        return hit

    def diff(self, k: ResourceKey, a: dict[str, Any], b: dict[str, Any]) -> str:
        key = (id(a), id(b), str(k))
        hit = self._diffs.get(key)
        if hit is None:
            mo, mn = self._masked(a, b)
            hit = unified_diff(_yaml(mo), _yaml(mn), fromfile=f"old/{k}", tofile=f"new/{k}", n=3)
            self._diffs[key] = hit
            self._keep.append((a, b))
        return hit


    def edits(self, k: ResourceKey, a: dict[str, Any], b: dict[str, Any]) -> list[Edit]:
        key = (id(a), id(b), "edits:" + str(k))
        hit = self._diffs.get(key)
        if hit is None:
            mo, mn = self._masked(a, b)
            hit = semantic_edits(mo, mn)
            self._diffs[key] = hit
            self._keep.append((a, b))
        return hit


# -- semantic (dyff-like) edits ---------------------------------------------------------------------

class _Named(str):
    """A list item's name used as a map key, so dictdiffer matches `containers[operator]` by name."""


def _named_list(items: list[Any]) -> bool:
    names = [i.get("name") for i in items if isinstance(i, dict)]
    return (bool(items) and len(names) == len(items) and all(isinstance(n, str) and n for n in names)
            and len(set(names)) == len(names))


class _EmptyList(dict):  # type: ignore[type-arg]
    """`[]`, as an empty map: against a named list on the other side, its items read as removed one by one."""


def _normal(node: Any) -> Any:
    """Named lists become maps keyed by name; lists of scalars become one value (args, command: read whole)."""
    if isinstance(node, dict):
        return {k: _normal(v) for k, v in node.items()}
    if isinstance(node, list):
        if not node:
            return _EmptyList()
        if _named_list(node):
            return {_Named(i["name"]): _normal(i) for i in node}
        if all(not isinstance(i, (dict, list)) for i in node):
            return tuple(node)
        return [_normal(i) for i in node]
    return node


def _plain(value: Any) -> Any:
    """Back from the normalised form to what the YAML said (for showing a value)."""
    if isinstance(value, _EmptyList):
        return []
    if isinstance(value, dict):
        if value and all(isinstance(k, _Named) for k in value):
            return [_plain(v) for v in value.values()]
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def fmt_path(parts: Sequence[Any]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, _Named) or isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def _normal_pair(old: Any, new: Any) -> tuple[Any, Any]:
    """`_normal(old)` and `_normal(new)` without the map keys (and named list items) whose values are equal:
    the edits between the two pruned forms are the edits between the whole ones, found without normalising
    and walking what did not change (most of a 700 KB CRD schema). Keys keep their order, so edits keep theirs."""
    if old.__class__ is list and new.__class__ is list and _named_list(old) and _named_list(new):
        old = {_Named(i["name"]): i for i in old}
        new = {_Named(i["name"]): i for i in new}
    elif not (old.__class__ is dict and new.__class__ is dict):
        return _normal(old), _normal(new)
    a: dict[Any, Any] = {}
    b: dict[Any, Any] = {}
    for k, v in old.items():
        if k not in new:
            a[k] = _normal(v)
            continue
        w = new[k]
        if v is w or v == w:
            continue
        a[k], b[k] = _normal_pair(v, w)
    for k, w in new.items():
        if k not in old:
            b[k] = _normal(w)
    return a, b


def semantic_edits(old: dict[str, Any], new: dict[str, Any]) -> list[Edit]:
    """Path-level edits from `old` to `new`, named list items matched by `name`."""
    out: list[Edit] = []
    for kind, path, change in dictdiffer.diff(*_normal_pair(old, new), dot_notation=False):
        parts = list(path) if isinstance(path, (list, tuple)) else ([path] if path != "" else [])
        if kind == "change":
            out.append(Edit(fmt_path(parts), _plain(change[0]), _plain(change[1])))
        elif kind == "add":
            for k, v in change:
                out.append(Edit(fmt_path(parts + [k]), ABSENT, _plain(v)))
        elif kind == "remove":
            for k, v in change:
                out.append(Edit(fmt_path(parts + [k]), _plain(v), ABSENT))
    return out


# Labels and annotations whose value is only the chart's or app's version, or a checksum of a rendered
# file: they change on every bump and say nothing a reviewer must read (helm-diff users ask to fold them).
_CHURN_KEYS = {"helm.sh/chart", "app.kubernetes.io/version", "chart", "version", "app.kubernetes.io/chart"}


def _is_churn(edit: Edit, versions: Sequence[tuple[str, str]]) -> bool:
    path = edit.path
    if ".selector" in path or path.startswith("selector"):
        return False  # a version in a selector is a real (immutable) change
    for section in (".labels.", ".annotations."):
        if section in path or path.startswith(section[1:]):
            key = path.split(section, 1)[1] if section in path else path[len(section) - 1:]
            break
    else:
        return False
    if key.startswith("checksum/") or key.endswith("/checksum") or ".checksum/" in key:
        return True
    if not (isinstance(edit.old, str) and isinstance(edit.new, str)):
        return False
    if key in _CHURN_KEYS:
        return True
    # any other label whose value is the version with the version swapped (`chart: gpu-operator-v24.9.0`)
    for a, b in versions:
        if a and b and a != b and a in edit.old and edit.old.replace(a, b) == edit.new:
            return True
    return False


def diff_manifests(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]], *, namespace: str = "",
                   cache: DiffCache | None = None, scopes: Scopes | None = None,
                   versions: Sequence[tuple[str, str]] = (), show_label_churn: bool = False) -> ManifestDiff:
    """Pair OLD and NEW by their identity in the release `namespace` (chartkeeper.resources); `versions`
    are the (OLD, NEW) chart and app versions, whose substitution in a label is churn."""
    cache = cache or DiffCache()
    scopes = scopes or Scopes.of(new, old)
    a, b = index(old, namespace, scopes), index(new, namespace, scopes)
    # the same object moving to another apiVersion of its group stays "changed", not removed+added
    added = tuple(sorted(k for k in b if k not in a))
    removed = tuple(sorted(k for k in a if k not in b))
    changed: list[ResourceChange] = []
    churn_only: list[ResourceChange] = []
    same = 0
    pairs = [(str(x), str(y)) for x, y in versions if x is not None and y is not None]
    for k in sorted(set(a) & set(b)):
        if a[k] is b[k] or a[k] == b[k]:
            same += 1
            continue
        edits = cache.edits(k, a[k], b[k])
        churn = [e for e in edits if _is_churn(e, pairs)]
        real = edits if show_label_churn else [e for e in edits if e not in churn]
        api_old, api_new = str(a[k].get("apiVersion")), str(b[k].get("apiVersion"))
        rc = ResourceChange(k, "changed", api_old, api_new, tuple(real), () if show_label_churn else tuple(churn),
                            pair=(a[k], b[k]), cache=cache)
        if real or api_old != api_new:
            changed.append(rc)
        else:
            churn_only.append(rc)
    return ManifestDiff(added, removed, tuple(changed), same, tuple(churn_only))


def manifest_findings(d: ManifestDiff, *, env: str | None) -> list[Finding]:
    out: list[Finding] = []
    for k in d.removed:
        sev = Severity.BREAKING if k.kind in _STATEFUL_KINDS else Severity.REVIEW
        out.append(Finding("manifest.removed", sev, f"{k}: no longer rendered by NEW (helm deletes it on upgrade)",
                           path=str(k), env=env))
    for k in d.added:
        out.append(Finding("manifest.added", Severity.INFO, f"{k}: new resource in NEW", path=str(k), env=env))
    for c in d.changed:
        sev = Severity.INFO
        msg = f"{c.key}: changed"
        if c.api_old != c.api_new:
            msg += f" (apiVersion {c.api_old} -> {c.api_new})"
        selector = [e for e in c.edits if e.path == "spec.selector" or e.path.startswith("spec.selector.")]
        if c.key.kind in _IMMUTABLE_SELECTOR_KINDS and selector:
            sev = Severity.BREAKING
            msg += "; spec.selector changed (immutable: the upgrade fails unless the resource is deleted first)"
            out.append(Finding("manifest.changed", sev, msg, path=str(c.key), env=env,
                               action=f"Delete {c.key.kind} {c.key.name} before `helmfile apply` (orphaning its pods: "
                                      "`kubectl delete --cascade=orphan`), or keep the OLD selector with a patch",
                               details=(("edits", [e.to_json() for e in selector]),)))
            continue
        n = len(c.edits)
        if n:
            msg += f" ({n} field{'s' if n != 1 else ''}: " + ", ".join(e.path for e in c.edits[:3]) + (" …" if n > 3 else "") + ")"
        behaviour = behaviour_changes(c) if c.key.kind in WORKLOAD_KINDS else []
        if behaviour:
            out.append(Finding(
                "manifest.changed", Severity.REVIEW,
                f"{c.key}: changes how its pods run: " + "; ".join(text for _, text in behaviour[:3])
                + (f" (and {len(behaviour) - 3} more)" if len(behaviour) > 3 else ""),
                path=str(c.key), env=env,
                action=f"Check the new {', '.join(dict.fromkeys(what for what, _ in behaviour))} of "
                       f"{c.key.kind} {c.key.name} against what it needs in production"))
            continue
        out.append(Finding("manifest.changed", sev, msg, path=str(c.key), env=env))
    return out


# -- workload edits that change how pods run or roll out: a person decides on them -----------------------

def behaviour_changes(c: ResourceChange) -> list[tuple[str, str]]:
    """What a workload's edits change in how its pods run: resource limits added or lowered (a container
    over its memory limit is OOM-killed, over its CPU limit throttled), probes, security context,
    replicas, update strategy. Limits raised or removed, and requests, are not listed.
    Each as (what, "path: old → new")."""
    out: list[tuple[str, str]] = []
    for e in c.edits:
        p = e.path
        if ".resources" in p or p.startswith("resources"):
            out += _tighter_limits(e)
        elif "Probe" in p:
            out.append(("probes", f"{p} {_change(e)}"))
        elif "securityContext" in p:
            out.append(("security context", f"{p} {_change(e)}"))
        elif p == "spec.replicas":
            out.append(("replicas", f"{p} {_change(e)}"))
        elif p.startswith(("spec.strategy", "spec.updateStrategy", "spec.podManagementPolicy")):
            out.append(("update strategy", f"{p} {_change(e)}"))
    return out


def _change(e: Edit) -> str:
    if e.old is ABSENT:
        return "added"
    if e.new is ABSENT:
        return "removed"
    return f"{_short(e.old)} → {_short(e.new)}" if not isinstance(e.old, (dict, list)) else "changed"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _limits_in(tail: str, value: Any) -> dict[str, Any]:
    """The limits an edit's value holds, whatever level of `resources` the edit is at (`tail`: the
    path after `resources`)."""
    if value is ABSENT:
        return {}
    if tail == "":
        value = value.get("limits") if isinstance(value, dict) else None
    elif tail.startswith(".limits."):
        return {tail[len(".limits."):]: value}
    elif tail != ".limits":
        return {}  # requests, claims
    return dict(value) if isinstance(value, dict) else {}


def _tighter_limits(e: Edit) -> list[tuple[str, str]]:
    head, _, tail = e.path.rpartition("resources")
    old, new = _limits_in(tail, e.old), _limits_in(tail, e.new)
    out = []
    for name, value in new.items():
        where = f"{head}resources.limits.{name}"
        if name not in old:
            out.append(("resource limits", f"{where} {_short(value)} added"))
        else:
            before, after = quantity(old[name]), quantity(value)
            if before is None or after is None or after < before:
                out.append(("resource limits", f"{where} {_short(old[name])} → {_short(value)}"))
    return out


_QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?")
_SCALE = {None: 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
          "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60}


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity (`128Mi`, `500m`, `1.5`, `1e3`) as a number; None when it is not one."""
    m = _QUANTITY.fullmatch(str(value).strip())
    return float(m.group(1)) * _SCALE[m.group(2)] if m else None


# -- what a reviewer reads first: edits ranked by what they do to running pods -------------------------

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
# Where the rendered-changes section puts a changed resource: workloads, then the rest (Services, RBAC,
# webhooks…), then bulk text a person skims (dashboards, CRD schemas, metadata-only edits), folded.
WORKLOAD, OTHER, BULK = 0, 1, 2
# Fields of a pod template, most consequential first: a workload's edits are listed in this order.
_EDIT_ORDER = (("image", ".image"), ("command", ".command"), ("command", ".args"), ("env", ".env"),
               ("env", ".envFrom"), ("probes", "Probe"), ("probes", "securityContext"), ("affinity", "affinity"),
               ("affinity", "nodeSelector"), ("affinity", "tolerations"), ("resources", ".resources"),
               ("selector", "selector"), ("volumes", "volume"), ("volumes", "replicas"))


def edit_rank(edit: Edit) -> int:
    """0 for an image, up to len(_EDIT_ORDER) + 2 for metadata and for an empty value appearing (`(absent)`
    → `[]`, which changes nothing a pod does): the order a workload's edits are shown in."""
    if edit.path.startswith("metadata.") or ".metadata.labels" in edit.path or ".metadata.annotations" in edit.path:
        return len(_EDIT_ORDER) + 1
    if edit.old is ABSENT and edit.new in ([], {}, "", None):
        return len(_EDIT_ORDER) + 2
    return next((i for i, (_what, needle) in enumerate(_EDIT_ORDER) if needle in edit.path), len(_EDIT_ORDER))


def _is_dashboard(obj: dict[str, Any]) -> bool:
    """A ConfigMap (or Secret) carrying Grafana dashboards: labelled so, or JSON documents with panels."""
    meta = obj.get("metadata") or {}
    marks = list((meta.get("labels") or {})) + list((meta.get("annotations") or {}))
    if any("dashboard" in str(k).lower() for k in marks):
        return True
    data = obj.get("data") or {}
    return isinstance(data, dict) and any(str(k).endswith(".json") and '"panels"' in str(v) for k, v in data.items())


# Fields by which an operator's custom resource (Prometheus, Alertmanager, ClusterPolicy…) says how the pods
# it runs look: an edit of one makes the resource a workload for the report.
_POD_FIELDS = (".image", ".affinity", ".tolerations", ".nodeSelector", ".resources", ".replicas",
               ".containers", ".args", ".env", "securityContext", ".version")


def change_group(c: ResourceChange) -> int:
    """WORKLOAD, OTHER or BULK (see above) for a changed resource."""
    if c.edits and all(edit_rank(e) > len(_EDIT_ORDER) for e in c.edits):
        return BULK  # labels, annotations, empty values appearing: churn a version swap did not catch
    if c.key.kind in WORKLOAD_KINDS:
        return WORKLOAD
    if c.key.kind == "CustomResourceDefinition":
        return BULK
    if c.key.kind in ("ConfigMap", "Secret"):
        return BULK if c.pair is not None and _is_dashboard(c.pair[1]) else OTHER
    if c.key.group not in ("", "core") and any(f in "." + e.path for e in c.edits for f in _POD_FIELDS
                                                if edit_rank(e) <= len(_EDIT_ORDER)):
        return WORKLOAD  # an operator's custom resource describing pods
    return OTHER


def ranked_edits(c: ResourceChange) -> list[Edit]:
    return sorted(c.edits, key=edit_rank) if change_group(c) == WORKLOAD else list(c.edits)


def ranked_changes(changes: Iterable[ResourceChange]) -> list[ResourceChange]:
    """Resources whose most consequential edit comes first go first (an image change before a probe port)."""
    return sorted(changes, key=lambda c: min((edit_rank(e) for e in c.edits), default=len(_EDIT_ORDER) + 3))
