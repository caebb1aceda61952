"""What an upgrade does to our kustomize patches (`patch.*` findings, documented in docs/findings.md).

Both versions are patched with the embedded engine, keeping every matched resource before and
after each step, and the two runs are compared step by step:
- a step that matched in OLD but matches nothing in NEW lost its target (`patch.target-missing`);
  one that matches nothing in either never worked (`patch.target-missing-old`);
- a JSON 6902 op that fails on NEW (`patch.json6902-path-missing`, `patch.json6902-test-failed`), or a
  `replace` whose path NEW no longer has (kustomize then silently adds the key instead);
- a step that matches but changes nothing in NEW (`patch.no-op`): upstream adopted it;
- a JSON 6902 op addressing a list element by index that is another element in NEW
  (`patch.json6902-index-shifted`): the op still applies, to the wrong element;
- a field the step sets whose upstream value changed while ours stayed put (`patch.upstream-changed`).

One op gives one finding: a field under a breaking finding of the same step and resource is not
also reported as `upstream-changed`, nor is an element of a list whose whole change is reported.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from chartkeeper.findings import Finding, Severity
from chartkeeper.kustomize import embedded
from chartkeeper.kustomize import paths as fp
from chartkeeper.kustomize.embedded import PatchEffect, Trace, same
from chartkeeper.kustomize.json6902 import _exists, apply_op
from chartkeeper.kustomize.loader import load_kustomization
from chartkeeper.kustomize.model import ImageRule, Kustomization, Patch, Step
from chartkeeper.kustomize.selectors import matches_target, resource_id
from chartkeeper.resources import Scopes

MAX_CONFLICTS_PER_STEP = 20  # a patch replacing a whole subtree would otherwise list every leaf


def _guess_root(directory: Path) -> Path | None:
    """The repository holding the patches (for file names relative to it), if recognisable."""
    for parent in [directory.resolve(), *directory.resolve().parents]:
        if (parent / "chartkeeper.yaml").is_file() or (parent / ".git").exists():
            return parent
    return None


def _load(directory: Path, root: Path | None) -> Kustomization:
    directory = Path(directory)
    return load_kustomization(directory, root=root if root is not None else _guess_root(directory))


def _prefix(chart: str | None) -> str:
    return f"{chart}: " if chart else ""


def _owner(pre: str) -> str:
    """The chart inside a sentence that starts with the field: `gpu-operator's `."""
    return f"{pre[:-2]}'s " if pre.endswith(": ") else pre


def _what(step: Step) -> str:
    if isinstance(step, ImageRule):
        return f"images rule {step.label} (image {step.name})"
    target = step.target.describe() if step.target else "the resource it names"
    kind = "strategic-merge patch" if step.kind == "strategic" else "JSON 6902 patch"
    return f"{kind} {step.label} (target: {target})"


def _finding(code: str, severity: Severity, message: str, step: Step, **kw: Any) -> Finding:
    kw.setdefault("line", step.line)
    kw.setdefault("file", step.file)
    return Finding(code, severity, message, **kw)


def patch_findings(
    old_manifests: list[dict[str, Any]],
    new_manifests: list[dict[str, Any]],
    kustomization_dir: Path,
    *,
    chart: str | None = None,
    root: Path | None = None,
    namespace: str = "",
    scopes: Scopes | None = None,
) -> list[Finding]:
    """Findings about our patches when the chart's rendered output goes from OLD to NEW.

    `namespace` is the release namespace: resources pair up between OLD and NEW by their identity in
    it (`chartkeeper.resources`), so a chart starting to write `metadata.namespace` changes nothing;
    `scopes` (default: from the CRDs of both renders) tells which custom kinds are cluster-scoped.
    """
    kz = _load(kustomization_dir, root)
    scopes = scopes or Scopes.of(new_manifests, old_manifests)
    _, old_effects, old_traces = embedded.run(old_manifests, kz, keep_traces=True, namespace=namespace, scopes=scopes)
    _, new_effects, new_traces = embedded.run(new_manifests, kz, keep_traces=True, namespace=namespace, scopes=scopes)
    pre = _prefix(chart)
    out: list[Finding] = []
    for step, eo, en, to, tn in zip(kz.steps, old_effects, new_effects, old_traces, new_traces):
        if not en.matched:
            out.append(_missing(step, eo, en, pre, new_manifests))
            continue
        out += _op_failures(step, en, eo, pre)
        covered: list[tuple[str, str]] = []  # (resource, JSON pointer) a breaking finding already reports
        if isinstance(step, Patch) and step.kind == "json6902":
            failed = {(rid, f.index) for rid, f in en.op_failures}
            out += _vanished_replace_paths(step, to, tn, pre, failed, covered)
            out += _index_shifts(step, to, tn, pre, failed, covered)
        if not en.changed and not en.error:
            adopted = bool(eo.changed)
            reason = (
                "upstream adopted it: NEW already renders what it sets; it can be dropped"
                if adopted
                else "it already changed nothing in OLD"
            )
            out.append(_finding(
                "patch.no-op", Severity.INFO, f"{pre}{_what(step)} changes nothing in NEW: {reason}", step,
                path=", ".join(en.matched),
            ))
            continue
        out += _conflicts(step, to, tn, pre, covered)
    return out


def _covers(covered: list[tuple[str, str]], rid: str, pointers: tuple[str, ...]) -> bool:
    """Is one of `pointers` on `rid` a field a breaking finding of the step reports, inside it, or around it?"""
    return any(
        r == rid and (p == c or p.startswith(c + "/") or c.startswith(p + "/"))
        for r, c in covered for p in pointers
    )


def check_patches(
    manifests: list[dict[str, Any]],
    kustomization_dir: Path,
    *,
    chart: str | None = None,
    root: Path | None = None,
    namespace: str = "",
    scopes: Scopes | None = None,
) -> list[Finding]:
    """Lint: every step of the kustomization finds its target and applies to the current render."""
    kz = _load(kustomization_dir, root)
    _, effects, _ = embedded.run(manifests, kz, namespace=namespace, scopes=scopes or Scopes.of(manifests))
    pre = _prefix(chart)
    out: list[Finding] = []
    for step, eff in zip(kz.steps, effects):
        if not eff.matched:
            fails = " (kustomize build fails)" if eff.error else " (kustomize skips it silently)"
            fails += _namespace_hint(step, manifests)
            where = {"file": step.target_file, "line": step.target_line} if (
                isinstance(step, Patch) and step.target_file) else {}
            out.append(_finding(
                "patch.target-missing", Severity.BREAKING,
                f"{pre}{_what(step)} matches nothing in the rendered chart{fails}", step, **where,
            ))
            continue
        out += _op_failures(step, eff, None, pre)
        if not eff.changed and not eff.error:
            out.append(_finding(
                "patch.no-op", Severity.INFO, f"{pre}{_what(step)} changes nothing in the rendered chart", step,
                path=", ".join(eff.matched),
            ))
    return out


def _namespace_hint(step: Step, manifests: list[dict[str, Any]]) -> str:
    """Helm leaves `metadata.namespace` out when a template does; kustomize then sees `default`."""
    if isinstance(step, Patch) and step.kind == "strategic" and step.target is None and isinstance(step.body, dict):
        return _untargeted_namespace_hint(step, manifests)
    if not isinstance(step, Patch) or step.target is None or not step.target.namespace:
        return ""
    loose = replace(step.target, namespace=None)
    near = [
        rid for m in manifests
        if isinstance(m, dict) and matches_target(loose, (rid := resource_id(m)), rid, m) and not rid.namespace
    ]
    if not near:
        return ""
    return (
        f" ({', '.join(map(str, near[:3]))} would match but has no metadata.namespace in the rendered output: "
        "Helm only sets what the template writes, and kustomize takes it as `default`; drop `namespace` "
        "from the target)"
    )


def _untargeted_namespace_hint(step: Patch, manifests: list[dict[str, Any]]) -> str:
    """A patch without `target:` names its resource, namespace included (none: `default`). A chart that
    starts writing `namespace: {{ .Release.Namespace }}` makes such a patch match nothing."""
    pid = resource_id(step.body)
    if pid.namespace:
        return ""
    spaces = sorted({
        rid.namespace for m in manifests if isinstance(m, dict)
        for rid in (resource_id(m),)
        if (rid.group, rid.version, rid.kind, rid.name) == (pid.group, pid.version, pid.kind, pid.name) and rid.namespace
    })
    if not spaces:
        return ""
    return (
        f" ({pid.kind} {pid.name} is now rendered with metadata.namespace {', '.join(spaces)}, and a patch without "
        f"`target:` matches by namespace too: add `namespace: {spaces[0]}` to the patch's metadata, or give it a "
        "`target:` selector without namespace)"
    )


def _missing(
    step: Step, eo: PatchEffect, en: PatchEffect, pre: str, manifests: list[dict[str, Any]] | None = None
) -> Finding:
    """A step without a target; points at the `target:` selector when the step has one."""
    where: dict[str, Any] = {}
    if isinstance(step, Patch) and step.target_file:
        where = {"file": step.target_file, "line": step.target_line}
    consequence = "kustomize build fails" if en.error else "kustomize skips it silently, so our change is lost"
    if isinstance(step, ImageRule):
        consequence = "the image is no longer rewritten (in an air gap it is pulled from upstream)"
    consequence += _namespace_hint(step, manifests or [])
    if eo.matched:
        return _finding(
            "patch.target-missing", Severity.BREAKING,
            f"{pre}{_what(step)} matched {', '.join(eo.matched)} in OLD but matches nothing in NEW: {consequence}",
            step, path=", ".join(eo.matched), **where,
        )
    return _finding(
        "patch.target-missing-old", Severity.BREAKING,
        f"{pre}{_what(step)} matches nothing in OLD or NEW: no version of the chart renders its target "
        "(an object an operator creates at run time cannot be patched by a post-renderer; configure it "
        f"through the operator instead); {consequence}",
        step, introduced=False, **where,  # as true of OLD: the upgrade changes nothing about it
    )


def _op_line(step: Step, index: int) -> int | None:
    if isinstance(step, Patch) and index < len(step.op_lines):
        return step.op_lines[index]
    return step.line


def _op_failures(step: Step, en: PatchEffect, eo: PatchEffect | None, pre: str) -> list[Finding]:
    out = []
    seen: set[tuple[int, str]] = set()
    old_failed = {(rid, f.index) for rid, f in (eo.op_failures if eo else ())}
    for rid, failure in en.op_failures:
        if (failure.index, failure.kind) in seen:
            continue
        seen.add((failure.index, failure.kind))
        code = "patch.json6902-test-failed" if failure.kind == "test-failed" else "patch.json6902-path-missing"
        already = " (already failing in OLD)" if (rid, failure.index) in old_failed else ""
        out.append(_finding(
            code, Severity.BREAKING,
            f"{pre}{step.label} op {failure.index} `{failure.op.get('op')} {failure.op.get('path')}` fails on "
            f"{rid}: {failure.reason}; kustomize build fails{already}",
            step, path=rid, line=_op_line(step, failure.index), details=(("op", dict(failure.op)),),
        ))
    return out


def _vanished_replace_paths(
    step: Patch, to: Trace, tn: Trace, pre: str, failed: set[tuple[str, int]], covered: list[tuple[str, str]]
) -> list[Finding]:
    """`replace` of a key NEW no longer has: kustomize adds the key instead, which is rarely what was meant."""
    out = []
    for rid, new_before in tn.before.items():
        old_before = to.before.get(rid)
        if old_before is None:
            continue
        for i, op in enumerate(step.body):
            if op.get("op") != "replace" or (rid, i) in failed:
                continue  # a failing op is reported as such
            path = op.get("path", "")
            if _exists(old_before, path) and not _exists(new_before, path):
                covered.append((rid, path))
                field = _pointer_field(path)
                out.append(_finding(
                    "patch.json6902-path-missing", Severity.BREAKING,
                    f"{field} on {rid}: NEW no longer has this field, so for {_owner(pre)}{step.label} op {i} `replace {path}` "
                    "kustomize adds it instead of replacing it (a renamed or moved field?)",
                    step, path=rid, line=_op_line(step, i), details=(("op", dict(op)), ("field", field)),
                ))
    return out


def _pointer_field(pointer: str) -> str:
    """`/spec/template/spec/tolerations/0/key` as `spec.template.spec.tolerations[0].key`."""
    out = ""
    for part in str(pointer).split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        out += f"[{part}]" if part.isdigit() or part == "-" else ("." if out else "") + part
    return out


def _element_id(element: Any) -> tuple[Any, ...]:
    """What tells list elements apart for people: `name`, else `key`, else the whole value."""
    if element is fp.MISSING:
        return ("end",)
    if isinstance(element, dict):
        for k in ("name", "key"):
            if k in element:
                return (k, str(element[k]))
    return ("value", json.dumps(element, sort_keys=True, default=str))


def _describe_element(element: Any) -> str:
    if element is fp.MISSING:
        return "nothing (past the end of the list)"
    ident = _element_id(element)
    if ident[0] in ("name", "key"):
        return f"the element with {ident[0]} {ident[1]}"
    text = json.dumps(element, default=str)
    return f"the element {text if len(text) <= 80 else text[:77] + '...'}"


def _shifted_index(old_doc: Any, new_doc: Any, pointer: str) -> tuple[str, Any, Any] | None:
    """The first list index on `pointer` whose element differs between OLD and NEW:
    (pointer of that element, OLD element, NEW element); None when every index addresses the same."""
    parts = str(pointer).split("/")[1:]
    a, b = old_doc, new_doc
    walked = ""
    for part in parts:
        part = part.replace("~1", "/").replace("~0", "~")
        walked += "/" + part.replace("~", "~0").replace("/", "~1")
        if isinstance(a, list) and isinstance(b, list) and part.isdigit():
            i = int(part)
            ea = a[i] if i < len(a) else fp.MISSING
            eb = b[i] if i < len(b) else fp.MISSING
            if _element_id(ea) != _element_id(eb):
                if _element_id(ea)[0] == "value" and len(a) == len(b) and _element_id(ea) not in map(_element_id, b):
                    return None  # an unnamed value changed in place: `upstream-changed` tells that
                return walked, ea, eb
            a, b = ea, eb
        elif isinstance(a, dict) and isinstance(b, dict) and part in a and part in b:
            a, b = a[part], b[part]
        else:
            return None  # a missing path is reported as such (json6902-path-missing)
        if a is fp.MISSING or b is fp.MISSING:
            return None
    return None


def _index_shifts(
    step: Patch, to: Trace, tn: Trace, pre: str, failed: set[tuple[str, int]], covered: list[tuple[str, str]]
) -> list[Finding]:
    """Ops that address a list element by index which is another element in NEW.

    The ops are replayed one by one on OLD and NEW (an op sees what the ops before it did), and the
    element each index addresses is compared by `name`, else `key`, else its whole value. An unnamed
    value that changed in place (same list length, the OLD value gone) is upstream changing that value,
    not the list moving under the op. An element an earlier `test` op pins is not reported: the test
    holds, or fails and is reported as such.
    """
    out = []
    for rid, new_doc in tn.before.items():
        old_doc = to.before.get(rid)
        if old_doc is None:
            continue
        pinned: list[str] = []
        for i, op in enumerate(step.body):
            if not isinstance(op, dict):
                continue
            name = op.get("op")
            pointers = [p for p in (op.get("from") if name in ("move", "copy") else None, op.get("path")) if isinstance(p, str)]
            for pointer in pointers if (rid, i) not in failed else ():
                hit = _shifted_index(old_doc, new_doc, pointer)
                if hit is None:
                    continue
                element, was, now = hit
                if any(element == p or element.startswith(p + "/") or p.startswith(element + "/") for p in pinned):
                    continue
                field = _pointer_field(element)
                covered.append((rid, element))
                out.append(_finding(
                    "patch.json6902-index-shifted", Severity.BREAKING,
                    f"{field} on {rid}: {_owner(pre)}{step.label} op {i} `{name} {pointer}` addressed "
                    f"{_describe_element(was)} in OLD but addresses {_describe_element(now)} in NEW "
                    "(upstream changed the list); address the element with a `test` op before it, or use a "
                    "strategic-merge patch keyed by name",
                    step, path=rid, line=_op_line(step, i), old=_val(was), new=_val(now),
                    details=(("op", dict(op)), ("field", field)),
                ))
                break
            if name == "test" and isinstance(op.get("path"), str):
                pinned.append(op["path"])  # holds in NEW, or fails and is reported as such
            old_doc, _ = apply_op(old_doc, op, i)
            new_doc, _ = apply_op(new_doc, op, i)
    return out


def _conflicts(step: Step, to: Trace, tn: Trace, pre: str, covered: list[tuple[str, str]]) -> list[Finding]:
    out: list[Finding] = []
    for rid, new_before in tn.before.items():
        old_before = to.before.get(rid)
        if old_before is None:
            continue
        old_after, new_after = to.after.get(rid), tn.after.get(rid)
        if old_after is None or new_after is None:
            continue  # a deleted resource: nothing field-level to compare
        touched = fp.leaf_changes(old_before, old_after) + fp.leaf_changes(new_before, new_after)
        # one finding per field: `command` (a list whose length changed) covers `command[2]`
        paths = {p: None for p in touched}
        for path in sorted(paths, key=len):
            if any(path[:n] in paths and paths[path[:n]] for n in range(len(path))):
                continue
            old_up, new_up = fp.get(old_before, path), fp.get(new_before, path)
            ours_old, ours_new = fp.get(old_after, path), fp.get(new_after, path)
            if _same(old_up, new_up) or not _same(ours_old, ours_new) or _same(new_up, ours_new):
                continue  # upstream kept it, our value follows upstream, or upstream now agrees with us
            if covered and _covers(covered, rid, (fp.pointer(old_before, path), fp.pointer(new_before, path))):
                continue  # the op's breaking finding already says it
            shown = fp.show(path)
            paths[path] = True
            out.append(_finding(
                "patch.upstream-changed", Severity.REVIEW,
                f"{shown} on {rid}: upstream changed it from {_fmt(old_up)} to {_fmt(new_up)}, and "
                f"{_owner(pre)}{_what(step)} still makes it {_fmt(ours_new)}",
                step, path=rid, old=_val(old_up), new=_val(new_up), ours=_val(ours_new),
                line=_field_line(step, path), details=(("field", shown),) + _absent(old=old_up, new=new_up, ours=ours_new),
            ))
            if len(out) >= MAX_CONFLICTS_PER_STEP:
                return out
    return out


def _field_line(step: Step, path: fp.Path) -> int | None:
    """Line of the deepest part of `path` a strategic-merge patch spells out (else the patch's line)."""
    if not isinstance(step, Patch) or not step.field_lines:
        return step.line
    lines = dict(step.field_lines)
    node: Any = step.body
    concrete: tuple[Any, ...] = ()
    best = step.line
    for part in path:
        if isinstance(part, tuple) and isinstance(node, list):
            key, value = part
            hits = [i for i, item in enumerate(node) if isinstance(item, dict) and str(item.get(key)) == str(value)]
            if not hits:
                break
            concrete += (hits[0],)
            node = node[hits[0]]
        elif isinstance(node, dict) and part in node:
            concrete += (part,)
            node = node[part]
        elif isinstance(part, int) and isinstance(node, list) and part < len(node):
            concrete += (part,)
            node = node[part]
        else:
            break
        best = lines.get(concrete, best)
    return best


def _same(a: Any, b: Any) -> bool:
    if a is fp.MISSING or b is fp.MISSING:
        return a is b
    return same(a, b)


def _absent(**sides: Any) -> tuple[tuple[str, Any], ...]:
    """Which of old/new/ours is absent (not null): the report shows `(absent)` there."""
    gone = [k for k, v in sides.items() if v is fp.MISSING]
    return (("absent", gone),) if gone else ()


def _val(v: Any) -> Any:
    return None if v is fp.MISSING else v


def _fmt(v: Any) -> str:
    if v is fp.MISSING:
        return "(absent)"
    text = repr(v) if not isinstance(v, str) else v
    return text if len(text) <= 80 else text[:77] + "..."
