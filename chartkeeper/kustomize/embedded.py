"""The embedded engine: apply a `Kustomization` to rendered manifests in Python.

Besides the patched manifests it records what every step did (which resources it matched, which
it changed, why kustomize would refuse it), and, on request, each matched resource before and after
the step: the patch findings compare those between two chart versions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from chartkeeper.kustomize.images import apply_image_rule
from chartkeeper.kustomize.json6902 import OpFailure, apply_ops
from chartkeeper.kustomize.model import ImageRule, Kustomization, Patch, Step
from chartkeeper.kustomize.selectors import ResourceId, matches_id, matches_target, resource_id
from chartkeeper.kustomize.smp import merge_resource
from chartkeeper.resources import Scopes, resource_key


@dataclass(frozen=True)
class PatchEffect:
    """What one step did to the manifests."""

    step: Step
    matched: tuple[str, ...]  # resource identities (`apps/Deployment/ns/name`, see chartkeeper.resources)
    changed: tuple[str, ...]
    deleted: tuple[str, ...] = ()
    error: str | None = None  # why `kustomize build` would fail on this step
    op_failures: tuple[tuple[str, OpFailure], ...] = ()  # (resource, failing JSON 6902 op)

    @property
    def label(self) -> str:
        return self.step.label

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "step": self.step.label,
            "file": self.step.file,
            "line": self.step.line,
            "matched": list(self.matched),
            "changed": list(self.changed),
        }
        if self.deleted:
            d["deleted"] = list(self.deleted)
        if self.error:
            d["error"] = self.error
        return d


@dataclass
class _Res:
    manifest: dict[str, Any]
    original: ResourceId  # kustomize's id before any patch (targets also match the original name)
    key: str  # the object's identity for the release (chartkeeper.resources), stable across patches


@dataclass
class Trace:
    """Matched resources of one step, before and after it (kept only when asked for)."""

    step: Step
    before: dict[str, dict[str, Any]] = field(default_factory=dict)
    after: dict[str, dict[str, Any] | None] = field(default_factory=dict)


def same(a: Any, b: Any) -> bool:
    """Equality that tells `1` from `true` and `1.0` (YAML does)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def run(
    manifests: list[dict[str, Any]],
    kustomization: Kustomization,
    *,
    keep_traces: bool = False,
    namespace: str = "",
    scopes: Scopes | None = None,
) -> tuple[list[dict[str, Any]], list[PatchEffect], list[Trace]]:
    """Apply the steps. Effects and traces name resources by their identity in a release installed in
    `namespace` (so OLD and NEW renders pair up even when only one writes `metadata.namespace`)."""
    resources = [
        _Res(copy.deepcopy(m), resource_id(m), str(resource_key(m, namespace, scopes)))
        for m in manifests if isinstance(m, dict)
    ]
    effects: list[PatchEffect] = []
    traces: list[Trace] = []
    for step in kustomization.steps:
        trace = Trace(step)
        if isinstance(step, ImageRule):
            effect = _images(resources, step, trace, keep_traces)
        elif step.kind == "strategic":
            effect, resources = _strategic(resources, step, trace, keep_traces)
        else:
            effect = _json6902(resources, step, trace, keep_traces)
        effects.append(effect)
        traces.append(trace)
    for r in resources:
        _normalise(r.manifest)
    return [r.manifest for r in resources], effects, traces


def _stringify_metadata_nulls(manifest: Any, before: Any = None, keys: tuple[str, ...] = ("labels", "annotations")) -> None:
    """kustomize holds labels and annotations as string maps: a null a patch writes there is "null".

    That includes a strategic-merge patch's `labels: {x: null}`, which therefore does not delete
    the label (checked against `kubectl kustomize`). Nulls the resource already had stay null. After
    a JSON 6902 patch only annotations are rewritten so: a null label it writes stays null.
    """
    meta = manifest.get("metadata") if isinstance(manifest, dict) else None
    if not isinstance(meta, dict):
        return
    old_meta = before.get("metadata") if isinstance(before, dict) else None
    for key in keys:
        values = meta.get(key)
        old = old_meta.get(key) if isinstance(old_meta, dict) else None
        old = old if isinstance(old, dict) else {}
        if isinstance(values, dict):
            for k, v in values.items():
                if v is None and not (k in old and old[k] is None):
                    values[k] = "null"


def _normalise(manifest: dict[str, Any]) -> None:
    """kustomize drops an empty or null `metadata.annotations` (it rewrites annotations on load)."""
    meta = manifest.get("metadata")
    if isinstance(meta, dict) and "annotations" in meta and not meta["annotations"]:
        del meta["annotations"]


def _images(resources: list[_Res], rule: ImageRule, trace: Trace, keep: bool) -> PatchEffect:
    matched, changed = [], []
    for r in resources:
        before = copy.deepcopy(r.manifest) if keep else None
        hit, did = apply_image_rule(r.manifest, rule)
        if hit:
            rid = r.key
            matched.append(rid)
            if did:
                changed.append(rid)
            if keep:
                trace.before[rid] = before  # type: ignore[assignment]
                trace.after[rid] = copy.deepcopy(r.manifest)
    return PatchEffect(rule, tuple(matched), tuple(changed))


def _select(resources: list[_Res], patch: Patch) -> tuple[list[_Res], str | None]:
    if patch.target is not None:
        return [r for r in resources if matches_target(patch.target, resource_id(r.manifest), r.original, r.manifest)], None
    pid = resource_id(patch.body)
    found = [r for r in resources if matches_id(pid, resource_id(r.manifest), r.original)]
    if len(found) == 1:
        return found, None
    what = f"{pid.kind}.{pid.version}.{pid.group or 'core'}/{pid.name}.{pid.namespace or '[noNs]'}"
    if not found:
        return [], f"no resource matches strategic merge patch {what} (kustomize build fails)"
    return [], f"strategic merge patch {what} matches {len(found)} resources (kustomize build fails)"


def _strategic(resources: list[_Res], patch: Patch, trace: Trace, keep: bool) -> tuple[PatchEffect, list[_Res]]:
    selected, error = _select(resources, patch)
    chosen = {id(r) for r in selected}
    matched, changed, deleted = [], [], []
    kept: list[_Res] = []
    for r in resources:
        if id(r) not in chosen:
            kept.append(r)
            continue
        rid = resource_id(r.manifest)
        body = copy.deepcopy(patch.body)
        if patch.target is not None:
            # kustomize points a targeted patch at each selected resource
            meta = body.get("metadata")
            if isinstance(meta, dict):
                meta.pop("name", None)
                meta.pop("namespace", None)
            body["apiVersion"] = r.manifest.get("apiVersion")
        old_meta = r.manifest.get("metadata") if isinstance(r.manifest.get("metadata"), dict) else {}
        _stringify_metadata_nulls(body)
        result = merge_resource(r.manifest, body, rid.group, rid.kind)
        key = r.key
        matched.append(key)
        if keep:
            trace.before[key] = copy.deepcopy(r.manifest)
        if result is None or (isinstance(result, dict) and not result):
            deleted.append(key)
            changed.append(key)
            if keep:
                trace.after[key] = None
            continue
        meta = result.get("metadata")
        if not isinstance(meta, dict):
            meta = result["metadata"] = {}
        if not (patch.allow_name_change and patch.target is None):
            meta["name"] = rid.name
        if "namespace" in old_meta:  # kustomize keeps the namespace a resource had
            meta["namespace"] = old_meta["namespace"]
        else:
            meta.pop("namespace", None)
        if not patch.allow_kind_change:
            result["kind"] = rid.kind
        if not same(result, r.manifest):
            changed.append(key)
        r.manifest = result
        if keep:
            trace.after[key] = copy.deepcopy(result)
        kept.append(r)
    effect = PatchEffect(patch, tuple(matched), tuple(changed), tuple(deleted), error)
    return effect, kept


def _json6902(resources: list[_Res], patch: Patch, trace: Trace, keep: bool) -> PatchEffect:
    selected, _ = _select(resources, patch)
    matched, changed = [], []
    failures: list[tuple[str, OpFailure]] = []
    for r in selected:
        key = r.key
        matched.append(key)
        new, failed = apply_ops(r.manifest, patch.body)
        _stringify_metadata_nulls(new, r.manifest, ("annotations",))
        if keep:
            trace.before[key] = copy.deepcopy(r.manifest)
            trace.after[key] = copy.deepcopy(new)  # every op that applies, for the three-way comparison
        failures += [(key, f) for f in failed]
        if failed:
            continue  # kustomize applies a patch whole or not at all
        if not same(new, r.manifest):
            changed.append(key)
            r.manifest = new
    error = None
    if failures:
        rid, first = failures[0]
        error = f"op {first.index} ({first.reason}) on {rid} (kustomize build fails)"
    return PatchEffect(patch, tuple(matched), tuple(changed), (), error, tuple(failures))
