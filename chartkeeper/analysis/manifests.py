"""Rendered-output analysis: resources added/removed/changed (images: `chartkeeper.analysis.images`)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from chartkeeper import yamlio
from chartkeeper.findings import Finding, Severity
from chartkeeper.analysis.secrets import MASK, mask_manifest
from chartkeeper.resources import ResourceKey, Scopes, index, resource_key  # noqa: F401 (re-exported)


# Kinds whose change or removal deserves a second look in any upgrade
_STATEFUL_KINDS = {"StatefulSet", "PersistentVolumeClaim", "PersistentVolume", "CustomResourceDefinition", "Namespace"}
_IMMUTABLE_SELECTOR_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


@dataclass(frozen=True)
class ResourceChange:
    key: ResourceKey
    change: str  # "added" | "removed" | "changed"
    diff: str  # unified diff of the masked YAML ("" for added/removed)
    api_old: str | None = None
    api_new: str | None = None


@dataclass(frozen=True)
class ManifestDiff:
    added: tuple[ResourceKey, ...]
    removed: tuple[ResourceKey, ...]
    changed: tuple[ResourceChange, ...]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


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
    """Unified diffs already computed, by the identity of the two objects.

    Rendered objects are shared between environments when a template renders the same for each
    (see `PreparedChart`), so the same pair is diffed once per upgrade, not once per environment.
    """

    def __init__(self) -> None:
        self._diffs: dict[tuple[int, int, str], str] = {}
        self._keep: list[Any] = []  # ids stay valid while the objects live

    def diff(self, k: ResourceKey, a: dict[str, Any], b: dict[str, Any]) -> str:
        key = (id(a), id(b), str(k))
        hit = self._diffs.get(key)
        if hit is None:
            mo, mn = _mask_pair(a, b)
            hit = "".join(difflib.unified_diff(_yaml(mo), _yaml(mn), fromfile=f"old/{k}", tofile=f"new/{k}", n=3))
            self._diffs[key] = hit
            self._keep.append((a, b))
        return hit


def diff_manifests(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]], *, namespace: str = "",
                   cache: DiffCache | None = None, scopes: Scopes | None = None) -> ManifestDiff:
    """Pair OLD and NEW by their identity in the release `namespace` (chartkeeper.resources)."""
    cache = cache or DiffCache()
    scopes = scopes or Scopes.of(new, old)
    a, b = index(old, namespace, scopes), index(new, namespace, scopes)
    # the same object moving to another apiVersion of its group stays "changed", not removed+added
    added = tuple(sorted(k for k in b if k not in a))
    removed = tuple(sorted(k for k in a if k not in b))
    changed: list[ResourceChange] = []
    same = 0
    for k in sorted(set(a) & set(b)):
        if a[k] is b[k] or a[k] == b[k]:
            same += 1
            continue
        diff = cache.diff(k, a[k], b[k])
        changed.append(ResourceChange(k, "changed", diff, str(a[k].get("apiVersion")), str(b[k].get("apiVersion"))))
    return ManifestDiff(added, removed, tuple(changed), same)


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
        if c.key.kind in _IMMUTABLE_SELECTOR_KINDS and "selector:" in c.diff and _selector_changed(c.diff):
            sev = Severity.BREAKING
            msg += "; spec.selector changed (immutable: the upgrade fails unless the resource is deleted first)"
        out.append(Finding("manifest.changed", sev, msg, path=str(c.key), env=env))
    return out


def _selector_changed(diff: str) -> bool:
    """Did lines inside `spec.selector` change? (cheap look at the unified diff of the YAML)"""
    in_selector = False
    for line in diff.splitlines():
        body = line[1:] if line[:1] in "+- " else line
        stripped = body.lstrip()
        indent = len(body) - len(stripped)
        if stripped.startswith("selector:") and indent == 2:
            in_selector = True
            continue
        if in_selector:
            if indent <= 2 and stripped:
                in_selector = False
            elif line[:1] in "+-" and not line.startswith(("+++", "---")):
                return True
    return False
