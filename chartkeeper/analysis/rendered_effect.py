"""What an inherited default change does to the rendered resources, found by rendering.

A values diff says `keycloakConfigCli.image.tag` changed; whether anything running changes depends on
the templates and on our other values (the component may be disabled, its parent not deployed). So NEW
is rendered again with the changed defaults put back to OLD's, and compared with NEW as it renders:
no difference in any environment means the change is "not rendered here" (info); a difference is the
change's rendered effect, which the finding then names ("`{requests…}` → `{}`" may render as a new
memory limit). Checked are the changes a person would review, then those of a map or list (`resources:
{requests…} → {}`), whose text says least about what renders. Renders are bounded (`MAX_RENDERS` per
upgrade): defaults are put back in batches — all of an environment's at once, then split by the next path
segment that tells them apart — and one by one only inside a part that renders differently. What the
bound leaves unchecked keeps its severity and words.

Also here: which fields of a container our values set (NEW rendered with the chart's defaults alone
against NEW with ours), shown next to an inherited change of that container's security context,
command, volumes or probes, so a reviewer sees both at once.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from chartkeeper.analysis.chart_keys import Path_, fmt_path
from chartkeeper.analysis.manifests import ABSENT, Edit, WORKLOAD_KINDS, diff_manifests
from chartkeeper.findings import Finding, Severity

MAX_RENDERS = 24  # extra renders of NEW per upgrade for this check (about 0.07 s each on a 280-resource chart)
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
              base: list[dict[str, Any]], render: Render) -> None:
        """Put `changes` ((path, OLD default), inherited in `env`) back and compare: all at once, then split
        by the next path segment that tells them apart, down to one change, only where something renders."""
        for path, _old in changes:
            self.seen.setdefault(path, set()).add(env)
        pending = [(p, o) for p, o in changes if p not in self.rendered]
        if pending:
            self._search(env, namespace, ours, pending, base, render, 0)

    def _search(self, env: str, namespace: str, ours: Mapping[str, Any], group: list[tuple[Path_, Any]],
                base: list[dict[str, Any]], render: Render, depth: int) -> None:
        edits = self._effect(namespace, ours, group, base, render)
        if edits is None:
            return
        if not edits:
            self._quiet(group, env)
            return
        parts: dict[Path_, list[tuple[Path_, Any]]] = {}
        while len(group) > 1:
            parts = {}
            for p, o in group:
                parts.setdefault(p[: depth + 1], []).append((p, o))
            if len(parts) > 1 or all(len(p) <= depth + 1 for p, _o in group):
                break
            depth += 1
        if len(parts) <= 1:  # one change (or the same path twice): the effect is its own
            for p, _o in group:
                self.rendered[p] = edits
            return
        for sub in parts.values():
            self._search(env, namespace, ours, sub, base, render, depth + 1)

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
                details = tuple(f.details) + (("renderedEffect", texts),)
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


def _set(values: dict[str, Any], path: Path_, value: Any) -> None:
    node = values
    for k in path[:-1]:
        nxt = node.get(k)
        if not isinstance(nxt, dict):
            nxt = {}
            node[k] = nxt
        node = nxt
    node[path[-1]] = copy.deepcopy(value)


def _short(value: Any, limit: int = 60) -> str:
    if value is ABSENT:
        return "(absent)"
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
