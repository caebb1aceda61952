"""What a person should do about each finding, and one finding per underlying change.

`calibrate` folds findings that describe the same change twice (an inherited image tag is reported with the
image it produces, not a second time as a changed default) and keeps `review` for what a person must decide:
a routine bump whose only changes are inherited versions and new images comes out `safe`, with the
"mirror these images" action. `with_actions` gives every review/breaking finding an `action` text: the
report's "Before merging" list is made of them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Callable, Iterable

from chartkeeper.findings import Finding, Severity

# Leaves of a values path that only say which image or version runs: an inherited change of them is a
# routine bump (the images section and the mirror action carry it), not a decision.
_VERSION_LEAVES = {"tag", "digest", "version", "repository", "registry", "image"}


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _where(f: Finding) -> str:
    if not f.file:
        return ""
    return f" at `{f.file}:{f.line}`" if f.line else f" in `{f.file}`"


def is_version_default(f: Finding) -> bool:
    if f.code != "values.default-changed" or not f.path:
        return False
    leaf = f.path.rsplit(".", 1)[-1].lower()
    if leaf in _VERSION_LEAVES or leaf.endswith(("tag", "version")):
        return not isinstance(f.old, (bool, dict, list)) and not isinstance(f.new, (bool, dict, list))
    return False


def calibrate(findings: Iterable[Finding], *, rendered_envs: Iterable[str] = ()) -> list[Finding]:
    """One change, one finding; `review` only when a person must decide.

    `rendered_envs` are the environments whose rendered analysis ran: there the image a changed tag
    produces is known, so the tag's own finding folds into the image finding of that environment.
    """
    rendered = set(rendered_envs)
    all_rendered = bool(rendered)
    fs = list(findings)
    folded: dict[str | None, list[str]] = {}
    out: list[Finding] = []
    for f in fs:
        if is_version_default(f) and ((f.env is None and all_rendered) or f.env in rendered):
            folded.setdefault(f.env, []).append(f"{f.path}: {_short(f.old)} -> {_short(f.new)}")
            continue
        out.append(f)
    result: list[Finding] = []
    for f in out:
        if f.code == "images.new":
            # a new image is work (mirror it), not a decision: the action list carries it
            extra = folded.get(f.env, []) + (folded.get(None, []) if f.env is not None else [])
            details = tuple(f.details) + ((("fromValues", extra),) if extra else ())
            f = replace(f, severity=Severity.INFO, details=details)
        result.append(f)
    # folded tag changes of an environment without any new image (a tag moved back to an image already used)
    have_images = {f.env for f in result if f.code == "images.new"}
    for env, changes in folded.items():
        if env not in have_images and not (env is None and have_images):
            result.append(Finding("values.default-changed", Severity.INFO,
                                  f"{len(changes)} inherited image/version default(s) changed: " + "; ".join(changes[:3])
                                  + (" …" if len(changes) > 3 else ""), env=env, details=(("changes", changes),)))
    return result


def merge_duplicates(findings: Iterable[Finding]) -> list[Finding]:
    """Findings of one patch op (same file, line and environment, same family of codes) become one:
    the most severe, with the others' messages in `details.alsoFound`."""
    groups: dict[tuple[Any, ...], list[Finding]] = {}
    order: list[tuple[Any, ...]] = []
    for i, f in enumerate(findings):
        key: tuple[Any, ...]
        if f.file and f.line and f.code.startswith("patch."):
            key = ("op", f.env, f.file, f.line, f.path)
        else:
            key = ("one", i)
        if key not in groups:
            order.append(key)
        groups.setdefault(key, []).append(f)
    out: list[Finding] = []
    for key in order:
        g = sorted(groups[key], key=lambda f: f.severity.rank)
        head, rest = g[0], g[1:]
        if rest:
            head = replace(head, details=tuple(head.details) + (("alsoFound", [f"{f.code}: {f.message}" for f in rest]),))
        out.append(head)
    return out


# -- actions -----------------------------------------------------------------------------------------

def _values_action(f: Finding) -> str | None:
    p, w = f"`{f.path}`", _where(f)
    if f.code == "values.renamed-key":
        return f"Fix our override {p}{w}: NEW ignores it; probably moved to `{f.suggestion}`"
    if f.code == "values.removed-key":
        return f"Drop our override {p}{w} (NEW ignores it), or set what it did where NEW reads it now"
    if f.code == "values.unknown-key":
        hint = f" (did you mean `{f.suggestion}`?)" if f.suggestion else ""
        return f"Fix or drop our override {p}{w}: the chart has no such key{hint}"
    if f.code == "values.type-change":
        return f"Rewrite our override {p}{w} in the shape NEW expects"
    if f.code == "values.default-changed-overridden":
        details = dict(f.details)
        pin = details.get("pinned")
        why = f" (pinned {pin['date']} in {pin['commit']} \"{pin['subject']}\")" if isinstance(pin, dict) else ""
        if details.get("templated"):  # a template decides our value: there is no line to delete
            where = f" (`{details.get('templateFile')}`)" if details.get("templateFile") else ""
            return (f"Decide on the masked default {p}: our template `{_short(details.get('template'))}`{where} "
                    f"keeps it off NEW's `{_short(f.new)}`; keep it or change the template")
        return (f"Decide on the masked default {p}: keep our `{_short(f.ours)}`{w}{why} "
                f"or take NEW's `{_short(f.new)}` by deleting the line")
    if f.code == "values.default-changed":
        return f"Accept NEW's default {p} = `{_short(f.new)}`, or pin `{_short(f.old)}` in our values"
    if f.code in ("values.schema-violation",):
        return f"Fix {p} so our values pass NEW's values.schema.json"
    return None


def _crd_action(f: Finding) -> str | None:
    if f.code == "crd.storage-version-removed":
        return f"Migrate the stored objects of CRD `{f.path}` before applying NEW's CRDs (steps under CRDs)"
    if f.suggestion:
        return f"Apply these CRDs first: `{f.suggestion}`"
    if f.code == "crd.removed":
        return f"Back up the custom resources of `{f.path}` and confirm nothing still needs them"
    details = dict(f.details)
    if details.get("versionsRemoved") or any(str(s).endswith("-> False") for s in details.get("served") or ()):
        return f"Move the `{f.path}` objects off the versions NEW removes or stops serving, before applying NEW"
    if details.get("newRequired") or details.get("renamed"):
        # the deployment's own custom resources were checked against NEW (crd.resource-invalid); what is left
        # to a person is the objects made outside it (by hand, by other tools), which no render shows
        return (f"Check the `{f.path}` objects made outside this deployment (`kubectl get {f.path} -A`) against "
                "NEW's new required or renamed fields; the deployment's own were checked")
    return f"Review the change of CRD `{f.path}` before applying NEW"


_BY_CODE: dict[str, Callable[[Finding], str | None]] = {
    "render.failed": lambda f: f"Make NEW render with the {f.env or 'environment'} values: fix what the error names",
    "render.failed-old": lambda f: f"Check today's {f.env or ''} deployment: OLD does not render with its values",
    "patch.apply-failed": lambda f: "Fix the kustomization so it applies to NEW",
    "patch.target-missing": lambda f: f"Re-target or drop the patch{_where(f)}: NEW renders nothing it matches",
    "patch.target-missing-old": lambda f: f"Drop the patch{_where(f)} and configure its target through the chart or operator",
    "patch.json6902-path-missing": lambda f: f"Fix the JSON 6902 op{_where(f)}: its path is gone in NEW",
    "patch.json6902-test-failed": lambda f: f"Update the `test` op{_where(f)} after checking the ops after it still hit what we mean",
    "patch.upstream-changed": lambda f: f"Decide: keep our patched value{_where(f)} or take upstream's new one (drop the patch)",
    "manifest.removed": lambda f: f"Confirm losing `{f.path}` is fine: Helm deletes it on upgrade (back up its data first)",
    "manifest.changed": lambda f: f"Check the change of `{f.path}` before applying",
    "kube.version-unsupported": lambda f: f"Upgrade the cluster first, or stay on OLD: NEW requires Kubernetes {f.new}",
    "kube.version-constraint-invalid": lambda f: f"Check NEW's kubeVersion `{f.new}` against the cluster by hand",
    "kube.api-removed": lambda f: f"Stop: NEW renders `{f.path}`, which the cluster no longer serves (use {f.suggestion})",
    "kube.api-deprecated": lambda f: f"Plan the move of `{f.path}` to {f.suggestion} before the cluster drops it",
    "chart.deprecated": lambda f: "Find the chart's successor: upstream deprecated it",
    "chart.subchart-added": lambda f: f"Check the values and resources the new subchart `{f.path}` brings",
    "chart.subchart-removed": lambda f: f"Move what we set under `{f.path}` (its values and resources go with it)",
    "chart.subchart-version": lambda f: f"Read the upgrade notes of subchart `{f.path}` {f.old} -> {f.new}",
}


def action_for(f: Finding) -> str:
    if f.action:
        return f.action
    text: str | None = None
    if f.code.startswith("values."):
        text = _values_action(f)
    elif f.code.startswith("crd."):
        text = _crd_action(f)
    elif f.code in _BY_CODE:
        text = _BY_CODE[f.code](f)
    elif f.code.startswith("patch."):
        text = f"Review the patch{_where(f)}: {f.message}"
    return text or f"Review: {f.message}"


def with_actions(findings: Iterable[Finding]) -> list[Finding]:
    """Every review/breaking finding with an `action`; info findings are left as they are."""
    return [f if f.severity is Severity.INFO or f.action else replace(f, action=action_for(f)) for f in findings]


# -- one decision per kind: how the report groups the actions of several findings --------------------

# Codes that ask the same of the reviewer share one item ("fix these overrides NEW ignores").
_SAME_KIND = {"values.renamed-key": "values.removed-key"}

# The item of a kind with several findings whose actions differ; the table under it lists them.
_GROUP_TITLES: dict[str, str] = {
    "values.default-changed-overridden": "We pin {n} values whose default NEW changes: per row, keep ours or take NEW's by deleting our line",
    "values.default-changed": "We inherit {n} defaults NEW changes: accept NEW's, or pin OLD's in our values",
    "values.removed-key": "Fix {n} overrides NEW no longer reads (Helm ignores them): move each to its new key or drop it",
    "values.type-change": "Rewrite {n} overrides in the shape NEW expects",
    "values.schema-violation": "Fix {n} values so they pass NEW's values.schema.json",
    "render.failed": "Make NEW render in {n} environments: fix what each error names",
    "manifest.removed": "Confirm losing {n} resources NEW no longer renders (Helm deletes them on upgrade; back up their data first)",
    "manifest.changed": "Check {n} changes NEW makes to how workloads run, before applying",
    "patch.target-missing": "Re-target or drop {n} patch steps: NEW renders nothing they match",
    "patch.json6902-path-missing": "Fix {n} JSON 6902 ops whose path is gone in NEW",
    "patch.json6902-index-shifted": "Fix {n} JSON 6902 ops whose list index now hits another element",
    "patch.json6902-test-failed": "Update {n} JSON 6902 `test` ops NEW no longer passes",
    "patch.upstream-changed": "Decide on {n} patched fields upstream changed: keep our patched value or take upstream's (drop the patch)",
    "kube.api-deprecated": "Plan the move of {n} APIs the cluster deprecates",
    "kube.api-removed": "Stop: NEW renders {n} APIs the cluster no longer serves",
    "images.invalid": "Fix {n} image fields that name no pullable image",
    "chart.subchart-version": "Read the upgrade notes of {n} subcharts (under Upstream notes)",
    "chart.subchart-added": "Check the values and resources of {n} new subcharts",
    "chart.subchart-removed": "Move what we set under {n} removed subcharts",
    "crd.removed": "Back up the custom resources of {n} removed CRDs and confirm nothing still needs them",
    "crd.changed": "Settle {n} CRD changes (per row what NEW changes; the deployment's own custom resources were checked, objects made outside it were not)",
    "crd.resource-invalid": "Fix {n} fields of our custom resources that NEW's CRDs refuse or drop (per row: resource, release, field)",
}


def action_kind(f: Finding) -> str:
    """The kind of decision a finding asks for: its code, unless it says otherwise (`details.actionKind`);
    a code this module does not know is a kind of its own, so a new code groups without changes here."""
    return str(dict(f.details).get("actionKind") or _SAME_KIND.get(f.code, f.code))


def group_title(kind: str, n: int) -> str:
    title = _GROUP_TITLES.get(kind)
    if title is not None:
        return title.format(n=n)
    return f"Settle these {n} `{kind}` findings (one row each; the Findings section has the details)"
