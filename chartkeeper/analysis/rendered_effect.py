"""What an inherited default change does to the rendered resources, found by rendering.

A values diff says `keycloakConfigCli.image.tag` changed; whether anything running changes depends on
the templates and on our other values (the component may be disabled, its parent not deployed). So NEW
is rendered again with the changed defaults put back to OLD's, and compared with NEW as it renders:
no difference in any environment means the change is "not rendered here" (info); a difference is the
change's rendered effect, which the finding then names ("`{requests…}` → `{}`" may render as a new
memory limit). Checked are the changes a person would review, then those of a map or list (`resources:
{requests…} → {}`), whose text says least about what renders. Renders are bounded (`MAX_RENDERS` per
upgrade) and grouped: the changes expected to render nothing (under a disabled component, or quiet in
an environment already checked) are put back together and split only if that renders something; the
others one by one. What the bound leaves unchecked keeps its severity and words.

Also here: which fields of a container our values set (NEW rendered with the chart's defaults alone
against NEW with ours), shown next to an inherited change of that container's security context,
command, volumes or probes, so a reviewer sees both at once.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from chartkeeper.analysis.chart_keys import Path_, fmt_path
from chartkeeper.analysis.manifests import ABSENT, Edit, WORKLOAD_KINDS, diff_manifests
from chartkeeper.analysis.values import short_value
from chartkeeper.findings import Finding, Severity

MAX_RENDERS = 16  # extra renders of NEW per upgrade for this check (0.07-0.15 s each on charts of 100-300 resources)
_SHOWN_EFFECTS = 2  # rendered edits named in a finding's message (all of them are in `details.renderedEffect`)

Render = Callable[[dict[str, Any]], "list[dict[str, Any]] | None"]  # values -> NEW's objects (None: it failed)


@dataclass
class EffectProbe:
    """The rendered effect of inherited default changes, over every environment of one upgrade."""

    budget: int = MAX_RENDERS
    # values path -> rendered edits found in some environment: (resource, field, "resource `field`: a → b")
    rendered: dict[Path_, list[tuple[str, str, str]]] = field(default_factory=dict)
    quiet: dict[Path_, set[str]] = field(default_factory=dict)  # path -> environments where nothing changes
    seen: dict[Path_, set[str]] = field(default_factory=dict)  # path -> environments it was asked for

    def check(self, env: str, namespace: str, ours: Mapping[str, Any], changes: Sequence[tuple[Path_, Any]],
              base: list[dict[str, Any]], render: Render, *, merged: Mapping[str, Any] | None = None) -> None:
        """Put `changes` ((path, OLD default), inherited in `env`) back and compare with `base` (NEW as it renders).

        Group testing: the changes expected to render nothing — under a map whose `enabled` is false in
        `merged` (NEW's defaults with our values), or quiet in an environment checked before — are put
        back together, and split in halves only if that renders something; the others one by one."""
        for path, _old in changes:
            self.seen.setdefault(path, set()).add(env)
        pending = [(p, o) for p, o in changes if p not in self.rendered]
        expected_quiet = sorted(((p, o) for p, o in pending if p in self.quiet or looks_off(merged or {}, p)),
                                key=lambda c: c[0])  # neighbours together: a half is more often all quiet
        if expected_quiet:
            self._search(env, namespace, ours, expected_quiet, base, render)
        for one in pending:
            if one not in expected_quiet:
                self._search(env, namespace, ours, [one], base, render)

    def _search(self, env: str, namespace: str, ours: Mapping[str, Any], group: list[tuple[Path_, Any]],
                base: list[dict[str, Any]], render: Render) -> None:
        edits = self._effect(namespace, ours, group, base, render)
        if edits is None:
            return
        if not edits:
            self._quiet(group, env)
        elif len(group) == 1:
            self.rendered[group[0][0]] = edits
        else:
            half = len(group) // 2
            self._search(env, namespace, ours, group[:half], base, render)
            self._search(env, namespace, ours, group[half:], base, render)

    def _quiet(self, changes: Iterable[tuple[Path_, Any]], env: str) -> None:
        for p, _o in changes:
            self.quiet.setdefault(p, set()).add(env)

    def _effect(self, namespace: str, ours: Mapping[str, Any], changes: Sequence[tuple[Path_, Any]],
                base: list[dict[str, Any]], render: Render) -> list[tuple[str, str, str]] | None:
        """The edits from NEW-with-OLD's-defaults to NEW; None when over budget or the render failed."""
        if self.budget <= 0:
            return None
        self.budget -= 1
        values = copy.deepcopy(dict(ours))
        for path, old in changes:
            _set(values, path, old)
        objs = render(values)
        if objs is None:
            return None
        d = diff_manifests(objs, base, namespace=namespace)
        out = [(str(k), "", f"{k}: added") for k in d.added] + [(str(k), "", f"{k}: removed") for k in d.removed]
        for c in d.changed:
            out += [(str(c.key), e.path, f"{c.key} `{e.path}`: {_short(e.old)} → {_short(e.new)}") for e in c.edits]
        return out

    def judge(self, findings: Iterable[Finding], ours_on: Mapping[str, tuple[str, ...]] | None = None) -> list[Finding]:
        """Inherited default changes as their render says: a review becomes info when nothing rendered changes
        in any environment it was checked in; else the message names what renders differently, and what our
        values set on a container whose security context, command, volumes or probes it changes
        (`ours_on`: resource -> field paths, `our_container_fields`)."""
        out: list[Finding] = []
        by_path = {fmt_path(p): p for p in self.seen}
        for f in findings:
            path = by_path.get(f.path or "") if f.code == "values.default-changed" else None
            if path is None:
                out.append(f)
                continue
            effect = self.rendered.get(path)
            if effect:
                texts = [t for _k, _p, t in effect]
                shown = "; ".join(texts[:_SHOWN_EFFECTS]) + (f" (+{len(texts) - _SHOWN_EFFECTS} more)"
                                                             if len(texts) > _SHOWN_EFFECTS else "")
                details = tuple(f.details) + (("renderedEffect", texts),
                                              ("renderedAt", [[k, p] for k, p, _t in effect if p]))
                message = f"{f.message}; renders as: {shown}"
                near = _ours_near(effect, ours_on or {})
                if near:
                    message += "; our values also set on that container: " + ", ".join(f"`{p}`" for p in near[:4]) \
                        + (" …" if len(near) > 4 else "")
                    details += (("oursOnContainer", near),)
                out.append(replace(f, message=message, details=details))
            elif self.quiet.get(path, set()) >= self.seen[path]:
                out.append(replace(f, severity=Severity.INFO,
                                   message=f"{f.message} — not rendered here: no rendered resource changes in any "
                                           "environment (its component is off or not deployed)",
                                   details=tuple(f.details) + (("rendered", False),)))
            else:
                out.append(f)
        return out


def fold_covered(findings: list[Finding], behaviour: Mapping[tuple[str, str], Sequence[str]]) -> list[Finding]:
    """One change, one finding: a workload's `manifest.changed` review ("changes how its pods run") whose every
    such field renders from an inherited default change still under review (its `details.renderedEffect`)
    is that change seen from the render; the values finding, with OLD, NEW and the pin to make, stays.
    `behaviour`: (environment, resource) -> the fields `manifests.behaviour_changes` names."""
    covered: dict[str, set[str]] = {}
    for f in findings:
        if f.code == "values.default-changed" and f.severity is Severity.REVIEW:
            for key, path in dict(f.details).get("renderedAt", ()):
                covered.setdefault(key, set()).add(path)
    out: list[Finding] = []
    for f in findings:
        fields = behaviour.get((f.env or "", f.path or "")) if f.code == "manifest.changed" else None
        if fields and f.severity is Severity.REVIEW and all(_within(x, covered.get(str(f.path), set())) for x in fields):
            continue
        out.append(f)
    return out


def _within(field_: str, paths: Iterable[str]) -> bool:
    """Is `field_` one of `paths`, under one (a limit inside a `resources` map added whole), or above one?"""
    return any(field_ == p or field_.startswith((p + ".", p + "[")) or p.startswith((field_ + ".", field_ + "["))
               for p in paths)


def _ours_near(effect: Iterable[tuple[str, str, str]], ours_on: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Our fields on each container whose security context, command, volumes or probes the change edits."""
    out: list[str] = []
    for key, path, _text in effect:
        box = container_of(path)
        if not any(s in path for s in _SENSITIVE):
            continue
        for p in ours_on.get(key, ()):
            if (box is None or p.startswith(box) or p.startswith("spec.template.spec.volumes")) and p not in out:
                out.append(p)
    return out


def looks_off(merged: Mapping[str, Any], path: Path_) -> bool:
    """Is `path` under a map whose `enabled` is false (a disabled component, a subchart whose condition is
    off)? Only a guess that orders the renders: the render decides."""
    node: Any = merged
    for i, k in enumerate(path[:-1], 1):
        if not isinstance(node, Mapping):
            return False
        node = node.get(k)
        # the switch itself changing (`x.enabled: true → false`) is what turns `x` off: it renders
        if isinstance(node, Mapping) and node.get("enabled") is False and path[i:] != ("enabled",):
            return True
    return False


def _set(values: dict[str, Any], path: Path_, value: Any) -> None:
    node = values
    for k in path[:-1]:
        nxt = node.get(k)
        if not isinstance(nxt, dict):
            nxt = {}
            node[k] = nxt
        node = nxt
    node[path[-1]] = copy.deepcopy(value)


def _short(value: Any) -> str:
    return "(absent)" if value is ABSENT else short_value(value, 60)


# -- our values on a container -----------------------------------------------------------------------

# Fields of a container (or its pod) an inherited change may collide with our values on.
_SENSITIVE = ("securityContext", "command", "args", "volumeMounts", "volumes", "Probe", "readOnlyRootFilesystem")
_CONTAINER = "spec.template.spec.containers["


def container_of(path: str) -> str | None:
    """`containers[keycloak]` of a pod-template edit path, else None."""
    for prefix in (_CONTAINER, "spec.template.spec.initContainers[", "spec.jobTemplate.spec.template.spec.containers["):
        if path.startswith(prefix):
            return path[: path.index("]", len(prefix)) + 1]
    return None


def sensitive(edit: Edit) -> bool:
    return any(s in edit.path for s in _SENSITIVE)


def our_container_fields(defaults: list[dict[str, Any]], ours: list[dict[str, Any]], namespace: str,
                         wanted: set[str]) -> dict[str, tuple[str, ...]]:
    """For each `resource key` in `wanted`: "container[...] field" paths our values change (against the
    chart's defaults alone): hooks, command, env, volumes we add to a container NEW changes."""
    d = diff_manifests(defaults, ours, namespace=namespace)
    out: dict[str, list[str]] = {}
    for c in d.changed:
        key = str(c.key)
        if key not in wanted or c.key.kind not in WORKLOAD_KINDS:
            continue
        for e in c.edits:
            if container_of(e.path) or e.path.startswith("spec.template.spec.volumes"):
                out.setdefault(key, []).append(e.path)
    return {k: tuple(v) for k, v in out.items()}
