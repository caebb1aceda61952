"""The upgrade report: one value (`UpgradeReport`) and three ways to show it (Markdown, JSON, terminal text),
plus the full manifest diff as a file of its own (`<old>-to-<new>.diff`).

The Markdown is what reviewers read in a merge request, so it is laid out like Renovate's pull-request
bodies: the verdict and the actions first ("Before merging"), findings by severity with the informational
ones collapsed, environments that render the same reported once, and a size budget
(`MARKDOWN_BUDGET`, under GitHub's 65,536-character body limit) that truncates the longest lists with a
pointer to the JSON and the diff file. The JSON (schema documented in docs/findings.md, versioned by
`schemaVersion`) is what machines read and is never truncated. Neither ever carries a secret value:
findings and manifest diffs are masked before they get here, and everything passes `masking.redact`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Iterable

from chartkeeper.analysis.actions import action_kind, group_title
from chartkeeper.analysis.chart_meta import ChangeNote, SubchartNotes
from chartkeeper.analysis.crds import CrdChange
from chartkeeper.findings import Finding, NotChecked, Severity, counts, sort_findings, verdict
from chartkeeper.analysis.images import ImageChanges, ImageCheck
from chartkeeper.analysis.image_report import images_json, images_markdown
from chartkeeper.analysis.manifests import (ABSENT, BULK, OTHER, WORKLOAD, ManifestDiff, change_group, ranked_changes,
                                            ranked_edits)
from chartkeeper import mdsafe
from chartkeeper.masking import redact

REPORT_SCHEMA_VERSION = 2
MARKDOWN_BUDGET = 60_000  # characters; GitHub refuses pull-request bodies over 65,536
_SEV_TITLE = {"breaking": "🔴 Breaking", "review": "🟠 Review", "info": "⚪ Info"}


@dataclass(frozen=True)
class ReleaseReport:
    """One release of the chart in one environment."""

    env: str
    release: str
    namespace: str
    engine: str = ""
    engine_version: str = ""
    render_notes: tuple[str, ...] = ()
    patched: bool = False  # kustomize patches were applied to both sides
    manifest_diff: ManifestDiff | None = None
    images: ImageChanges | None = None
    error: str | None = None  # why the rendered analysis could not run
    values_files: tuple[str, ...] = ()
    # workload -> fields our values and patches set on it, for workloads whose security context, command,
    # volumes or probes NEW changes (shown next to those edits)
    ours_on_containers: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class UpgradeReport:
    chart: str  # our name (lock entry)
    upstream_chart: str
    repository: str
    old_version: str
    new_version: str
    kube_version: str
    generated: str
    findings: tuple[Finding, ...]
    releases: tuple[ReleaseReport, ...] = ()
    crd_changes: tuple[CrdChange, ...] = ()
    crd_steps: tuple[str, ...] = ()
    crd_later_steps: tuple[str, ...] = ()  # after NEW's CRDs are applied: objects re-written off a moved storage version
    upstream_notes: tuple[ChangeNote, ...] = ()
    changelog: tuple[tuple[str, str], ...] = ()
    subchart_notes: tuple[SubchartNotes, ...] = ()  # of each subchart whose version changes, between its versions
    old_app_version: str | None = None
    new_app_version: str | None = None
    schema_version: int = REPORT_SCHEMA_VERSION
    notes: tuple[str, ...] = field(default=())  # about the run itself (no helmfile found, patches skipped…)
    image_checks: tuple[ImageCheck, ...] = ()  # each new image, where the site keeps it, present or not
    images_checked: bool = False  # the site's registry was asked (`images:` mapping or --check-images)
    not_checked: tuple[NotChecked, ...] = ()  # checks that could not run (never findings; see not_checked_*)

    @property
    def introduced(self) -> tuple[Finding, ...]:
        """Findings the upgrade brings: the verdict, the counts and `--fail-on` speak of these only."""
        return tuple(f for f in self.findings if f.introduced)

    @property
    def existing(self) -> tuple[Finding, ...]:
        """Findings that hold with OLD too (`chartkeeper lint` reports them today)."""
        return tuple(f for f in self.findings if not f.introduced)

    @property
    def verdict(self) -> str:
        return verdict(self.introduced)

    @property
    def counts(self) -> dict[str, int]:
        return counts(self.introduced)

    def reaches(self, level: str | None, *, include_existing: bool = False) -> bool:
        """Do findings reach `level` (`breaking` or `review`, `--fail-on`)? Those already true with OLD
        count only with `include_existing`."""
        if level is None:
            return False
        found = verdict(self.findings if include_existing else self.introduced)
        return found == "breaking" or (level == "review" and found == "needs review")

    @property
    def images_to_mirror(self) -> tuple[str, ...]:
        out: set[str] = set()
        for r in self.releases:
            if r.images is not None:
                out |= set(r.images.to_mirror)
        return tuple(sorted(out))

    @property
    def images_new(self) -> tuple[str, ...]:
        out: set[str] = set()
        for r in self.releases:
            if r.images is not None:
                out |= set(r.images.new)
        return tuple(sorted(out))

    @property
    def envs(self) -> tuple[str, ...]:
        seen: list[str] = []
        for r in self.releases:
            if r.env not in seen:
                seen.append(r.env)
        return tuple(seen)

    @property
    def title(self) -> str:
        return f"{self.chart} {self.old_version} → {self.new_version}"

    @property
    def diff_file_name(self) -> str:
        """The full manifest diff's file, next to the report."""
        return f"{_safe(self.old_version)}-to-{_safe(self.new_version)}.diff"

    # Worked out once per report: the Markdown, the JSON, the diff file and the action list all
    # read them, and a bump writes all four from one report.
    @cached_property
    def _env_groups(self) -> tuple["EnvGroup", ...]:
        return tuple(_group_envs(self))

    @cached_property
    def _shown(self) -> tuple["ShownFinding", ...]:
        return tuple(_show_findings(self))


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-+" else "_" for c in text)


@dataclass(frozen=True)
class EnvGroup:
    """Environments whose findings and renders are identical: reported once, under one heading."""

    envs: tuple[str, ...]
    releases: tuple[ReleaseReport, ...]

    @property
    def first(self) -> ReleaseReport:
        return self.releases[0]


def _release_signature(r: ReleaseReport, findings: Iterable[Finding]) -> Any:
    own = sorted(json.dumps(dict(f.to_json(), env=None), sort_keys=True, default=str) for f in findings if f.env == r.env)
    return (r.release, r.namespace, r.error, r.engine_version or r.engine, r.patched, r.render_notes,
            None if r.manifest_diff is None else r.manifest_diff.signature(),
            None if r.images is None else (r.images.old, r.images.new), r.ours_on_containers, tuple(own))


def env_groups(report: "UpgradeReport") -> list[EnvGroup]:
    return list(report._env_groups)


def _group_envs(report: "UpgradeReport") -> list[EnvGroup]:
    groups: dict[Any, list[ReleaseReport]] = {}
    for r in report.releases:
        groups.setdefault(_release_signature(r, report.findings), []).append(r)
    out = []
    for rs in groups.values():
        envs = tuple(dict.fromkeys(r.env for r in rs))
        out.append(EnvGroup(envs, tuple(rs)))
    return out


@dataclass(frozen=True)
class Action:
    """One item of "Before merging": what to do, and the findings (by their number in the report) it settles.

    Findings of one kind whose actions differ (nine masked defaults, five removed keys) are one decision:
    one item, with `table` (a header row, then one row per finding) saying what each is about."""

    text: str
    refs: tuple[int, ...] = ()
    where: str = ""  # environments it applies to ("" = all)
    table: tuple[tuple[str, ...], ...] = ()

    def to_json(self, shown: list["ShownFinding"]) -> dict[str, Any]:
        d: dict[str, Any] = {"text": self.text, "findings": [shown[n - 1].finding.code for n in self.refs],
                             "envs": self.where or None}
        if self.table:
            d["table"] = {"columns": list(self.table[0]), "rows": [list(r) for r in self.table[1:]]}
        return d


@dataclass(frozen=True)
class ShownFinding:
    """A finding as the Markdown shows it: numbered, with the environments it holds in."""

    number: int
    finding: Finding
    envs: tuple[str, ...]  # () = every environment


def shown_findings(report: "UpgradeReport") -> list[ShownFinding]:
    """Findings identical but for the environment are shown once, naming the environments."""
    return list(report._shown)


def _show_findings(report: "UpgradeReport") -> list[ShownFinding]:
    groups: dict[str, list[Finding]] = {}
    for f in sort_findings(report.findings):
        key = json.dumps(dict(f.to_json(), env=None), sort_keys=True, default=str)
        groups.setdefault(key, []).append(f)
    all_envs = set(report.envs)
    rank = {e: i for i, e in enumerate(report.envs)}
    out: list[ShownFinding] = []
    for fs in groups.values():
        envs = tuple(sorted(dict.fromkeys(f.env for f in fs if f.env), key=lambda e: rank.get(e, len(rank))))
        if any(f.env is None for f in fs) or (len(all_envs) > 1 and set(envs) >= all_envs):
            envs = ()
        out.append(ShownFinding(len(out) + 1, replace(fs[0], env=None), envs))
    return out


def _images(n: int) -> str:
    return "this image" if n == 1 else f"these {n} images"


def actions_of(report: "UpgradeReport", shown: list[ShownFinding] | None = None) -> list[Action]:
    """The "Before merging" list: one item per kind of decision or task (`grouped_actions`), then the
    images to mirror and the CRDs to apply. Findings already true with OLD ask nothing of this upgrade."""
    shown = shown if shown is not None else shown_findings(report)
    todo = [s for s in shown if s.finding.introduced and s.finding.severity is not Severity.INFO and s.finding.action]
    out = grouped_actions(todo)
    images = report.images_to_mirror
    if report.images_checked:  # the site's registry was asked: only what it lacks (or could not confirm) is a task
        missing = sum(1 for c in report.image_checks if c.present is False)
        unknown = sum(1 for c in report.image_checks if c.present is None)
        if missing or unknown:
            which = " and ".join(
                ([f"{_images(missing)} the site's registry lacks"] if missing else [])
                + ([f"{_images(unknown)} the site's registry could not be asked about"] if unknown else []))
            out.append(Action(f"Mirror {which} before deploying "
                              "(the copy list is under Images to mirror; every new image is in the report's `.images.txt`)"))
    elif images:
        out.append(Action(f"Mirror {_images(len(images))} into the air-gapped registry before deploying "
                          "(listed under Images to mirror, and in the report's `.images.txt`)"))
    applies = [c for c in report.crd_steps if c.startswith("kubectl apply")]
    if applies and not any(applies[0] in a.text for a in out):
        out.append(Action("Apply these CRDs first (Helm never upgrades `crds/`): " + "; ".join(f"`{c}`" for c in applies)))
    return out


def _envs_of(ss: list[ShownFinding]) -> str:
    return ", ".join(dict.fromkeys(e for s in ss for e in s.envs)) if all(s.envs for s in ss) else ""


def grouped_actions(todo: list[ShownFinding]) -> list[Action]:
    """One action per kind (`actions.action_kind`): one finding, or several with the same action text,
    keep that text; several with different texts become one decision with a table of them."""
    by_kind: dict[str, list[ShownFinding]] = {}
    for s in todo:
        by_kind.setdefault(action_kind(s.finding), []).append(s)
    out: list[Action] = []
    for kind, ss in by_kind.items():
        texts = list(dict.fromkeys(str(s.finding.action) for s in ss))
        if len(texts) == 1:
            out.append(Action(texts[0], tuple(s.number for s in ss), _envs_of(ss)))
            continue
        out.append(Action(group_title(kind, len(ss)), tuple(s.number for s in ss), _envs_of(ss),
                          _action_table(ss)))
    return out


def _without_path(f: Finding) -> str:
    """The message less the path it starts with (the table's Path column already says it)."""
    head = f"{f.path}: " if f.path else ""
    return f.message[len(head):] if head and f.message.startswith(head) else f.message


def _action_table(ss: list[ShownFinding]) -> tuple[tuple[str, ...], ...]:
    """Header and rows: the finding, what it is about, the three values and where ours is, as far as any has them."""
    fs = [s.finding for s in ss]
    cols: list[tuple[str, Any]] = [("Finding", lambda s: f"F{s.number}")]
    if any(f.path or dict(f.details).get("field") for f in fs):
        cols.append(("Path", lambda s: _field(s.finding)))
    sides = [(t, side) for t, side in (("Ours", "ours"), ("OLD", "old"), ("NEW", "new")) if any(_side(f, side) for f in fs)]
    for title, side in sides:
        cols.append((title, lambda s, side=side: _side(s.finding, side)))
    if any(f.suggestion for f in fs):
        cols.append(("Suggested", lambda s: _code(s.finding.suggestion)))
    if not sides:  # nothing to compare: the finding's own words
        cols.append(("Detail", lambda s: _cell(_without_path(s.finding), 160)))
    if len({s.envs for s in ss}) > 1:  # the same for all rows: the item itself names them
        cols.append(("Env", lambda s: mdsafe.text(", ".join(s.envs) or "all")))
    if any(f.file for f in fs):
        cols.append(("Where", lambda s: _cell(_where(s.finding))))
    return (tuple(t for t, _ in cols),) + tuple(tuple(fn(s) for _, fn in cols) for s in ss)


def merge_env_findings(findings: Iterable[Finding], envs: Iterable[str]) -> list[Finding]:
    """Findings that are the same in every environment are shown once, without an environment."""
    all_envs = set(envs)
    groups: dict[str, list[Finding]] = {}
    order: list[str] = []
    for f in findings:
        d = f.to_json()
        d.pop("env", None)
        key = json.dumps(d, sort_keys=True, default=str)
        if key not in groups:
            order.append(key)
        groups.setdefault(key, []).append(f)
    out: list[Finding] = []
    for key in order:
        fs = groups[key]
        fenvs = {f.env for f in fs}
        if None in fenvs or (len(all_envs) > 1 and fenvs >= all_envs):
            out.append(replace(fs[0], env=None))
        else:
            seen: set[str | None] = set()
            for f in fs:
                if f.env not in seen:
                    seen.add(f.env)
                    out.append(f)
    return sort_findings(out)



# -- JSON ----------------------------------------------------------------------------------------

def _diff_json(d: ManifestDiff | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "added": [str(k) for k in d.added],
        "removed": [str(k) for k in d.removed],
        "changed": [{"resource": str(c.key), "apiOld": c.api_old, "apiNew": c.api_new,
                     "edits": [e.to_json() for e in c.edits], "churn": [e.to_json() for e in c.churn]}
                    for c in d.changed],
        "labelChurnOnly": [str(c.key) for c in d.churn_only],
        "unchanged": d.unchanged,
    }


def to_json(report: UpgradeReport) -> dict[str, Any]:
    shown = shown_findings(report)
    return {
        "schemaVersion": report.schema_version,
        "chart": report.chart,
        "upstreamChart": report.upstream_chart,
        "repository": redact(report.repository),
        "oldVersion": report.old_version,
        "newVersion": report.new_version,
        "oldAppVersion": report.old_app_version,
        "newAppVersion": report.new_app_version,
        "kubeVersion": report.kube_version,
        "generated": report.generated,
        "verdict": report.verdict,
        "counts": dict(report.counts, alreadyTrue=len(report.existing)),
        "actions": [a.to_json(shown) for a in actions_of(report, shown)],
        "findings": [dict(f.to_json(), introduced=f.introduced) for f in report.findings],
        "environmentGroups": [list(g.envs) for g in env_groups(report)],
        "manifestDiffFile": report.diff_file_name,
        "releases": [
            {
                "env": r.env,
                "release": r.release,
                "namespace": r.namespace,
                "engine": r.engine,
                "engineVersion": r.engine_version,
                "renderNotes": list(r.render_notes),
                "patched": r.patched,
                "valuesFiles": list(r.values_files),
                "error": r.error,
                "resources": _diff_json(r.manifest_diff),
                "images": None if r.images is None else {
                    "old": list(r.images.old), "new": list(r.images.new), "toMirror": list(r.images.to_mirror)},
            }
            for r in report.releases
        ],
        "imagesToMirror": list(report.images_to_mirror),
        "images": images_json(report),
        "crds": {
            "changes": [
                {"name": c.name, "source": c.source, "fromCrdsDir": c.from_crds_dir, "change": c.change,
                 "versionsAdded": list(c.versions_added), "versionsRemoved": list(c.versions_removed),
                 "servedChanges": list(c.served_changes), "storageOld": c.storage_old, "storageNew": c.storage_new,
                 "servedOld": list(c.served_old), "servedNew": list(c.served_new),
                 "storageVersionRemoved": c.storage_version_removed, "newRequired": list(c.new_required),
                 "newRequiredNested": list(c.new_required_nested), "renamed": list(c.renamed),
                 "storageVersionMoved": c.storage_version_moved}
                for c in report.crd_changes
            ],
            "steps": list(report.crd_steps),
            "laterSteps": list(report.crd_later_steps),
        },
        "upstreamNotes": [{"version": n.version, "kind": n.kind, "text": n.text} for n in report.upstream_notes],
        "changelog": [{"file": f, "excerpt": t} for f, t in report.changelog],
        "subchartNotes": [{"chart": n.name, "oldVersion": n.old, "newVersion": n.new,
                           "changelog": [{"file": f, "excerpt": t} for f, t in n.excerpts]} for n in report.subchart_notes],
        "notes": list(report.notes),
        "notChecked": [n.to_json() for n in report.not_checked],
    }


def render_json(report: UpgradeReport) -> str:
    return redact(json.dumps(to_json(report), indent=2, default=str, ensure_ascii=False)) + "\n"


# -- the full manifest diff (a file next to the report) ---------------------------------------------

def render_diff(report: UpgradeReport) -> str:
    """Every changed resource's unified diff, per group of environments that render the same."""
    out: list[str] = []
    for g in env_groups(report):
        d = g.first.manifest_diff
        if d is None:
            continue
        for c in list(d.changed) + list(d.churn_only):
            if c.diff:
                out.append(f"# environments: {', '.join(g.envs)}\n" + c.diff.rstrip("\n") + "\n")
        for label, keys in (("added", d.added), ("removed", d.removed)):
            for k in keys:
                out.append(f"# environments: {', '.join(g.envs)}: {label} {k}\n")
    return redact("".join(out))


# -- Markdown ------------------------------------------------------------------------------------

_CELL_LIMIT = 300


def _text(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    return "" if value is None else (value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True))


def _short(text: Any, limit: int) -> str:
    s = " ".join(_text(text).split())
    if len(s) <= limit:
        return s
    cut = s[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit * 0.6 else cut).rstrip() + " …"  # never mid-word when a space is near


def _cell(text: Any, limit: int = _CELL_LIMIT) -> str:
    return mdsafe.prose(_short(text, limit))


def _code(text: Any, limit: int = 120) -> str:
    return mdsafe.code(_short(text, limit))


def _where(f: Finding) -> str:
    if f.file:
        return f"{f.file}:{f.line}" if f.line else f.file
    return ""


_ABSENT_NEW = {"values.removed-key", "values.renamed-key"}


def _side(f: Finding, side: str) -> str:
    """A cell of the OLD/NEW/ours columns; `(absent)` where the field does not exist on that side."""
    absent = dict(f.details).get("absent") or []
    if side in absent or (side == "new" and f.code in _ABSENT_NEW) or (f.code == "values.unknown-key" and side in ("old", "new")):
        return "(absent)"
    value = getattr(f, side)
    return _code(value) if value is not None else ""


def _field(f: Finding) -> str:
    """The path a finding is about, always visible: values path, or resource and field."""
    field_ = dict(f.details).get("field")
    text = f.path or ""
    if field_:
        text = f"{text} · {field_}" if text else str(field_)
    return _code(text, 200) if text else ""


# What the size budget shortens first (higher first): bulk text a person skims, then notes and
# information, then the other resources; the decisions and the workload changes last.
CUT_FIRST, CUT_EARLY, CUT_LATER, CUT_LAST = 3, 2, 1, 0


class _Block:
    """A list the size budget may shorten: its first `limit` items, then a pointer to the complete data."""

    def __init__(self, items: list[str], more: str, *, keep: int = 3, tail: str = "", cut: int = CUT_LATER) -> None:
        self.items, self.more, self.keep, self.tail, self.cut = items, more, keep, tail, cut
        self.limit = len(items)

    def render(self) -> str:
        lines = self.items[: self.limit]
        if self.limit < len(self.items):
            lines.append(self.more.format(n=len(self.items) - self.limit))
        return "\n".join(lines) + ("\n" + self.tail if self.tail else "")


def _fit(parts: list[Any], budget: int) -> str:
    """Join the parts; while over `budget`, halve the longest shortenable list of the group cut first
    (`_Block.cut`): a workload edit is never dropped while a dashboard line is still shown."""
    def join() -> str:
        return "\n".join(p.render() if isinstance(p, _Block) else p for p in parts).rstrip() + "\n"

    text = join()
    while len(text) > budget:
        blocks = [b for b in parts if isinstance(b, _Block) and b.limit > b.keep]
        if not blocks:
            break
        b = max(blocks, key=lambda b: (b.cut, len(b.render())))
        b.limit = max(b.keep, b.limit // 2)
        text = join()
    if len(text) > budget:  # only fixed text left: cut at a line, say so
        note = "\n\n… report cut to fit a merge-request description; the JSON report has everything.\n"
        text = text[: budget - len(note)]
        text = text[: text.rfind("\n")] + note
    return text


def _verdict_line(report: UpgradeReport) -> str:
    c = report.counts
    label = {"breaking": "🔴 **breaking**", "needs review": "🟠 **needs review**", "safe": "🟢 **safe**"}[report.verdict]
    existing = len(report.existing)
    return (f"**Verdict:** {label} — {c['breaking']} breaking, {c['review']} to review, {c['info']} info"
            + (f" (and {existing} already true before this upgrade, not counted)" if existing else ""))


def _why(report: UpgradeReport, shown: list[ShownFinding]) -> str:
    top = [s for s in shown if s.finding.severity is not Severity.INFO and s.finding.introduced]
    if not top:
        if report.images_to_mirror:
            return "**Why:** nothing to decide: inherited version changes and new images only (mirror them first)."
        return "**Why:** nothing to decide: no finding needs a person."
    first = top[0].finding
    more = len(top) - 1
    return (f"**Why:** {_cell(first.message, 200)}" + (f" (and {more} more to act on)" if more else "") + ".")


def _finding_rows(shown: list[ShownFinding], *, with_code: bool) -> tuple[str, list[str]]:
    """A table header with only the columns these findings use, and one row each."""
    fs = [s.finding for s in shown]
    cols: list[tuple[str, Any]] = [("#", lambda s: f'<a id="f{s.number}"></a>F{s.number}')]
    if with_code:
        cols.append(("Code", lambda s: f"`{s.finding.code}`"))
    if any(f.path or dict(f.details).get("field") for f in fs):
        cols.append(("Path", lambda s: _field(s.finding)))
    cols.append(("Finding", lambda s: _cell(s.finding.message)))
    if any(s.envs for s in shown):
        cols.append(("Env", lambda s: mdsafe.text(", ".join(s.envs) or "all")))
    if any(f.file for f in fs):
        cols.append(("Where", lambda s: _cell(_where(s.finding))))
    for title, side in (("OLD", "old"), ("NEW", "new"), ("Ours", "ours")):
        if any(_side(f, side) for f in fs):
            cols.append((title, lambda s, side=side: _side(s.finding, side)))
    header = "| " + " | ".join(t for t, _ in cols) + " |\n|" + "---|" * len(cols)
    rows = ["| " + " | ".join(fn(s) for _, fn in cols) + " |" for s in shown]
    return header, rows


# one line per kind and environments in the info table: the Environments section lists every resource
_LISTED_UNDER_ENVIRONMENTS = {"manifest.changed": "changed", "manifest.added": "added"}


def _fold_resources(info: list[ShownFinding]) -> list[ShownFinding]:
    out: list[ShownFinding] = []
    groups: dict[tuple[str, tuple[str, ...]], list[ShownFinding]] = {}
    for s in info:
        if s.finding.code in _LISTED_UNDER_ENVIRONMENTS:
            key = (s.finding.code, s.envs)
            if key not in groups:
                groups[key] = []
                out.append(s)  # placeholder, replaced below
            groups[key].append(s)
        else:
            out.append(s)
    for i, s in enumerate(out):
        g = groups.get((s.finding.code, s.envs))
        if g is not None and s.finding.code in _LISTED_UNDER_ENVIRONMENTS:
            if len(g) > 1:
                what = _LISTED_UNDER_ENVIRONMENTS[s.finding.code]
                out[i] = ShownFinding(s.number, Finding(s.finding.code, Severity.INFO,
                                                        f"{len(g)} resources {what} (listed under Environments)"), s.envs)
    return out


def _changed_lines(changes: list[Any], ours_on: dict[str, tuple[str, ...]] | None = None, *, per: int = 8) -> list[str]:
    """Each resource and its first `per` edits (a workload's most consequential first)."""
    items: list[str] = []
    for c in changes:
        api = f" (apiVersion {mdsafe.text(c.api_old)} → {mdsafe.text(c.api_new)})" if c.api_old != c.api_new else ""
        edits = ranked_edits(c)
        items.append(f"- {mdsafe.code(c.key)}{api}")
        items += [_edit_line(e) for e in edits[:per]]
        if len(edits) > per:
            items.append(f"  - … {len(edits) - per} more field(s) in the diff file")
        ours = (ours_on or {}).get(str(c.key))
        if ours:
            items.append("  - ⚠️ our values or patches also set, on this workload: "
                         + ", ".join(_code(p, 120) for p in ours[:6]) + (" …" if len(ours) > 6 else ""))
    return items


def _changed_markdown(d: ManifestDiff, ours_on: dict[str, tuple[str, ...]] | None = None) -> list[Any]:
    """Changed resources, workloads first (images, commands, env, probes… first within each), then the
    rest; dashboards, CRD schemas and metadata-only edits last, folded. Each group is cut by the budget
    in the reverse order (`_Block.cut`)."""
    by_group: dict[int, list[Any]] = {WORKLOAD: [], OTHER: [], BULK: []}
    for c in d.changed:
        by_group[change_group(c)].append(c)
    more = "- … {n} more lines, see the diff file and the JSON report"
    out: list[Any] = []
    if by_group[WORKLOAD]:
        out += [f"Changed workloads ({len(by_group[WORKLOAD])}): what running pods get, most consequential field first.\n",
                _Block(_changed_lines(ranked_changes(by_group[WORKLOAD]), ours_on, per=12), more, keep=10, cut=CUT_LAST),
                ""]
    if by_group[OTHER]:
        out += [f"Other changed resources ({len(by_group[OTHER])}): services, access rights, webhooks, configuration.\n",
                _Block(_changed_lines(by_group[OTHER]), more, keep=5, cut=CUT_LATER), ""]
    if by_group[BULK]:
        out += [f"<details><summary>Dashboards, CRD schemas and metadata-only edits ({len(by_group[BULK])} resources, "
                "folded)</summary>\n",
                _Block(_changed_lines(by_group[BULK]), more, keep=0, cut=CUT_FIRST), "\n</details>\n"]
    return out


def _heading(chart: str, old: str, new: str) -> str:
    """`name` OLD → NEW, upstream's words made literal (not at a line's start: "12." stays a version)."""
    return mdsafe.code(chart, in_table=False) + " " + mdsafe.prose(f"· {old} → {new}")[2:]


def _excerpts_markdown(excerpts: Iterable[tuple[str, str]]) -> list[Any]:
    out: list[Any] = []
    for name, text in excerpts:
        ticks = mdsafe.fence_ticks(text)
        out += [f"<details><summary>{mdsafe.html(name)} (from the NEW archive)</summary>\n\n{ticks}markdown",
                _Block(text.splitlines(), "… {n} more lines, see the JSON report", keep=20, cut=CUT_EARLY),
                f"{ticks}\n\n</details>\n"]
    return out


def _table_lines(table: tuple[tuple[str, ...], ...], *, indent: str = "") -> str:
    header, rows = table[0], table[1:]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(indent + line for line in lines)


def _edit_line(e: Any) -> str:
    return f"  - {_code(e.path, 200)}: {_code(e.old, 100) or '`null`'} → {_code(e.new, 100) or '`null`'}"


def render_markdown(report: UpgradeReport, *, budget: int = MARKDOWN_BUDGET, diff_file: str | None = None) -> str:
    """The Markdown report; `diff_file` is the name the full manifest diff was written under (linked)."""
    shown = shown_findings(report)
    parts: list[Any] = []
    w = parts.append
    w(f"# Upgrade report: {mdsafe.text(report.title)}\n")
    w(_verdict_line(report) + "\n")
    w(_why(report, shown) + "\n")
    envs = ", ".join(report.envs) or "none"
    app = ""
    if report.old_app_version != report.new_app_version:
        app = f" · appVersion {report.old_app_version} → {report.new_app_version}"
    w(f"Chart {mdsafe.code(report.upstream_chart)} from {mdsafe.code(redact(report.repository))} · cluster "
      f"{mdsafe.text(report.kube_version)} · environments: {mdsafe.text(envs + app)} · generated {report.generated}\n")
    for n in report.notes:
        w(f"> {mdsafe.prose(n)}\n")

    w("## Before merging\n")
    w("What to decide or do before this merges, one item per kind of decision; the findings it settles are linked.\n")
    acts = actions_of(report, shown)
    if not acts:
        w("Nothing to decide or do: merge when the pipeline is green.\n")
    else:
        items = []
        for i, a in enumerate(acts, 1):
            refs = ", ".join(f"[F{n}](#f{n})" for n in a.refs[:5]) + (" …" if len(a.refs) > 5 else "")
            item = f"{i}. {mdsafe.prose(a.text)}" + (f" — {mdsafe.text(a.where)}" if a.where else "") + (f" ({refs})" if refs else "")
            if a.table:
                item += "\n\n" + _table_lines(a.table, indent="   ") + "\n"
            items.append(item)
        w(_Block(items, "\n… {n} more actions: see the findings below and the JSON report", keep=10, tail="", cut=CUT_LAST))
        w("")

    if report.not_checked:
        w(not_checked_markdown(report.not_checked))
    existing = [s for s in shown if not s.finding.introduced]
    shown = [s for s in shown if s.finding.introduced]
    w("## Findings\n")
    w("What this upgrade changes, by severity; each row says where our side of it is.\n")
    if not shown:
        w("No findings.\n")
    for sev in (Severity.BREAKING, Severity.REVIEW):
        group = [s for s in shown if s.finding.severity is sev]
        if not group:
            continue
        w(f"### {_SEV_TITLE[sev.value]} ({len(group)})\n")
        by_code: dict[str, list[ShownFinding]] = {}
        for s in group:
            by_code.setdefault(s.finding.code, []).append(s)
        for code, ss in by_code.items():
            header, rows = _finding_rows(ss, with_code=False)
            w(f"**`{code}`**\n")
            w(header)
            w(_Block(rows, "| … {n} more, see the JSON report | |", keep=5, cut=CUT_LAST))
            w("")
    info = _fold_resources([s for s in shown if s.finding.severity is Severity.INFO])
    if info:
        w(f"<details><summary>{_SEV_TITLE['info']}: {len(info)} finding(s) with nothing to do</summary>\n")
        header, rows = _finding_rows(info, with_code=True)
        w(header)
        w(_Block(rows, "| … {n} more, see the JSON report | |", keep=5, cut=CUT_EARLY))
        w("\n</details>\n")
    if existing:
        parts.extend(existing_markdown(existing))

    w("## Environments\n")
    w("What each environment renders differently, after our values and kustomize patches; environments that render "
      "the same share one heading.\n")
    if not report.releases:
        w("No release uses this chart in any environment.\n")
    for g in env_groups(report):
        r = g.first
        w(f"### {mdsafe.text(', '.join(g.envs))} — release {mdsafe.code(r.release)} in namespace {mdsafe.code(r.namespace)}\n")
        files = [(x.env, x.values_files) for x in g.releases]
        if any(v for _, v in files):
            if len({v for _, v in files}) == 1:
                w("Values files: " + ", ".join(mdsafe.code(v) for v in files[0][1]) + "\n")
            else:
                w("Values files: " + "; ".join(f"{mdsafe.text(e)}: " + (", ".join(mdsafe.code(v) for v in vs) or "none") for e, vs in files) + "\n")
        if r.error:
            w(f"**Rendered analysis not available:** {mdsafe.prose(r.error)}\n")
        else:
            w(f"Rendered with {mdsafe.text(r.engine_version or r.engine)}{' after applying the kustomize patches' if r.patched else ''}.\n")
        for n in r.render_notes:
            w(f"- note: {mdsafe.prose(n)}")
        if r.render_notes:
            w("")
        d = r.manifest_diff
        if d is not None:
            line = f"Resources: {len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed, {d.unchanged} unchanged."
            if d.churn_only:
                line += f" {len(d.churn_only)} resource(s): chart version labels only (folded; `--show-label-churn` lists them)."
            w(line + "\n")
            for label, keys in (("Added", d.added), ("Removed", d.removed)):
                if keys:
                    w(f"{label}:\n")
                    w(_Block([f"- {mdsafe.code(k)}" for k in keys], "- … {n} more, see the JSON report", keep=5, cut=CUT_EARLY))
                    w("")
            if d.changed:
                parts.extend(_changed_markdown(d, dict(r.ours_on_containers)))
        if r.images is not None and r.images.dropped:
            gone = r.images.dropped
            w(f"Images no longer used ({len(gone)}): " + ", ".join(mdsafe.code(i) for i in gone[:10])
              + (f" … {len(gone) - 10} more in the JSON report" if len(gone) > 10 else "") + "\n")

    w(images_markdown(report))

    w("## CRDs\n")
    w("The custom resource definitions NEW adds, removes or changes, and what to run before `helmfile apply`.\n")
    if report.crd_changes:
        w("| CRD | Change | OLD served (storage) | NEW served (storage) | Notes |\n|---|---|---|---|---|")
        rows = []
        for c in report.crd_changes:
            def served(vs: tuple[str, ...], storage: str | None) -> str:
                return ", ".join(f"**{mdsafe.text(v)}**" if v == storage else mdsafe.text(v) for v in vs) or "—"
            origin = "crds/" if c.from_crds_dir else "template"
            notes = []
            if c.storage_version_removed:
                notes.append(f"storage version {c.storage_version_removed} removed: migrate first")
            if c.versions_added and c.change == "changed":
                notes.append("added " + ", ".join(c.versions_added))
            if c.storage_version_moved:
                notes.append(f"storage version moves off {c.storage_version_moved}: re-write the objects after applying")
            if c.new_required:
                notes.append("new required: " + ", ".join(c.new_required[:3]) + (" …" if len(c.new_required) > 3 else ""))
            if c.renamed:
                notes.append("renamed: " + ", ".join(c.renamed[:3]) + (" …" if len(c.renamed) > 3 else ""))
            old_s = served(c.served_old, c.storage_old) if c.change == "changed" else ("—" if c.change == "added" else _cell(", ".join(c.versions_removed)))
            new_s = served(c.served_new, c.storage_new) if c.change == "changed" else ("—" if c.change == "removed" else _cell(", ".join(c.versions_added)))
            rows.append(f"| {mdsafe.code(c.name)} | {c.change} ({origin}) | {old_s} | {new_s} | {_cell('; '.join(notes))} |")
        w(_Block(rows, "| … {n} more, see the JSON report | | | | |", keep=5))
        w("")
    else:
        w("No CRD changes.\n")
    if report.crd_steps:
        w("Run this **before** `helmfile apply`" + (" (stored versions first, then the CRDs Helm never upgrades)"
                                                     if any(not s.startswith("kubectl apply") for s in report.crd_steps) else
                                                     " (Helm never upgrades the CRDs under `crds/`)") + ":\n")
        w(mdsafe.fence("\n".join(report.crd_steps), "sh") + "\n")
    if report.crd_later_steps:
        w("After NEW's CRDs are applied, and before any later upgrade stops serving the old storage version, "
          "re-write the objects stored at it:\n")
        w(mdsafe.fence("\n".join(report.crd_later_steps), "sh") + "\n")

    w("## Upstream notes\n")
    w("What upstream wrote about the versions after OLD up to NEW, for the chart and each subchart whose version changes.\n")
    if not report.upstream_notes and not report.changelog and not report.subchart_notes:
        w("Upstream published no change notes for these versions.\n")
    if report.subchart_notes and (report.upstream_notes or report.changelog):
        w(f"### {_heading(report.upstream_chart, report.old_version, report.new_version)}\n")
    if report.upstream_notes:
        notes_lines: list[str] = []
        cur = None
        for n in report.upstream_notes:
            if n.version != cur:
                notes_lines.append(("\n" if notes_lines else "") + f"**{mdsafe.text(n.version)}**\n")
                cur = n.version
            kind = f"[{mdsafe.text(n.kind)}] " if n.kind else ""  # brackets of ours: the report defines no link
            notes_lines.append(f"- {kind}{mdsafe.prose(n.text)}")
        w(_Block(notes_lines, "- … {n} more, see the JSON report", keep=10, cut=CUT_EARLY))
        w("")
    parts.extend(_excerpts_markdown(report.changelog))
    for sub in report.subchart_notes:
        w(f"### Subchart {_heading(sub.name, sub.old, sub.new)}\n")
        parts.extend(_excerpts_markdown(sub.excerpts))

    if any(r.manifest_diff is not None and (r.manifest_diff.changed or r.manifest_diff.churn_only) for r in report.releases):
        w("## Full manifest diff\n")
        if diff_file:
            w(f"The unified diff of every changed resource, label churn included, is in [`{diff_file}`]({diff_file}) "
              "next to this report.\n")
        else:
            w("Write the report with `--output FILE` to get the unified diff of every changed resource as a file "
              f"(`{report.diff_file_name}`) next to it.\n")
    return redact(_fit(parts, budget))


def existing_markdown(existing: list[ShownFinding]) -> list[Any]:
    """The section of findings that hold with OLD too: short, apart, and not counted in the verdict."""
    rows = [f"| F{s.number} | `{s.finding.code}` | {_field(s.finding)} | {_cell(s.finding.message, 160)} | "
            f"{_cell(_where(s.finding))} |" for s in existing]
    head = (f"## Already true before this upgrade ({len(existing)})\n\n"
            "These hold with OLD too: the upgrade changes nothing about them, so the verdict leaves them out "
            "(`--fail-on … --include-existing` counts them). `chartkeeper lint` reports them on today's tree; "
            "fix them apart from this upgrade.\n\n| # | Code | Path | Finding | Where |\n|---|---|---|---|---|")
    return [head, _Block(rows, "| … {n} more, see the JSON report | | | | |", keep=5, cut=CUT_EARLY), ""]


# -- terminal ------------------------------------------------------------------------------------

def render_text(report: UpgradeReport, *, top: int = 10) -> str:
    c = report.counts
    lines = [f"{report.title}: {report.verdict.upper()} ({c['breaking']} breaking, {c['review']} review, {c['info']} info)"]
    lines.append(f"cluster {report.kube_version}; environments: {', '.join(report.envs) or 'none'}")
    for r in report.releases:
        if r.error:
            lines.append(f"  {r.env}/{r.release}: rendered analysis failed: {r.error}")
    important = [f for f in report.introduced if f.severity != Severity.INFO] or list(report.introduced)
    for f in important[:top]:
        env = f" [{f.env}]" if f.env else ""
        lines.append(f"  {f.severity.value:8} {f.code}{env}: {f.message}")
    if len(important) > top:
        lines.append(f"  … {len(important) - top} more (write the report with --format md --output FILE)")
    acts = actions_of(report)
    if acts:
        lines.append("before merging:")
        for i, a in enumerate(acts[:top], 1):
            lines.append(f"  {i}. {a.text}" + (f" [{a.where}]" if a.where else ""))
        if len(acts) > top:
            lines.append(f"  … {len(acts) - top} more actions in the report")
    for step in report.crd_steps:
        lines.append(f"before helmfile apply: {step}")
    if report.existing:
        lines.append(f"already true before this upgrade (not counted; `chartkeeper lint` reports them): "
                     f"{len(report.existing)} finding(s)")
    lines += not_checked_text(report.not_checked)
    return redact("\n".join(lines)) + "\n"


def images_txt(report: UpgradeReport) -> str:
    return "".join(f"{i}\n" for i in report.images_to_mirror)


# -- not checked: its own section in every output (kept apart from the report layout above) ---------


def not_checked_text(items: Iterable[NotChecked]) -> list[str]:
    """Terminal lines for the checks that could not run."""
    items = list(items)
    if not items:
        return []
    return [f"NOT CHECKED ({len(items)}): these parts were not analysed, which is not the same as fine:"] + [
        f"  {n.line()}" for n in items]


def not_checked_markdown(items: Iterable[NotChecked]) -> str:
    items = list(items)
    rows = [f"- **{mdsafe.text(_text(n.what))}**{f' ({mdsafe.text(n.env)})' if n.env else ''}: {mdsafe.prose(_text(n.why))}" for n in items]
    return ("## Not checked\n\nThese checks could not run; the verdict above says nothing about them.\n\n"
            + "\n".join(rows) + "\n")
