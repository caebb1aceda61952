"""The upgrade report: one value (`UpgradeReport`) and three ways to show it (Markdown, JSON, terminal text).

The Markdown is what reviewers read in a merge request; the JSON (schema documented in docs/findings.md,
versioned by `schemaVersion`) is what machines read. Neither ever carries a secret value: findings and
manifest diffs are masked before they get here, and everything passes `output.redact` on the way out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from chartkeeper.analysis.chart_meta import ChangeNote
from chartkeeper.analysis.crds import CrdChange
from chartkeeper.findings import Finding, Severity, counts, sort_findings, verdict
from chartkeeper.analysis.images import ImageChanges
from chartkeeper.analysis.manifests import ManifestDiff
from chartkeeper.output import redact

REPORT_SCHEMA_VERSION = 1
_COLLAPSED_CODES = {"values.new-keys", "values.removed-keys", "values.override-equals-default", "manifest.added", "manifest.changed"}
_SEV_ICON = {"breaking": "🔴 breaking", "review": "🟠 review", "info": "⚪ info"}


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
    upstream_notes: tuple[ChangeNote, ...] = ()
    changelog: tuple[tuple[str, str], ...] = ()
    old_app_version: str | None = None
    new_app_version: str | None = None
    schema_version: int = REPORT_SCHEMA_VERSION
    notes: tuple[str, ...] = field(default=())  # about the run itself (no helmfile found, patches skipped…)

    @property
    def verdict(self) -> str:
        return verdict(self.findings)

    @property
    def counts(self) -> dict[str, int]:
        return counts(self.findings)

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
        "changed": [{"resource": str(c.key), "diff": c.diff} for c in d.changed],
        "unchanged": d.unchanged,
    }


def to_json(report: UpgradeReport) -> dict[str, Any]:
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
        "counts": report.counts,
        "findings": [f.to_json() for f in report.findings],
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
        "crds": {
            "changes": [
                {"name": c.name, "source": c.source, "fromCrdsDir": c.from_crds_dir, "change": c.change,
                 "versionsAdded": list(c.versions_added), "versionsRemoved": list(c.versions_removed),
                 "servedChanges": list(c.served_changes), "storageOld": c.storage_old, "storageNew": c.storage_new,
                 "newRequired": list(c.new_required)}
                for c in report.crd_changes
            ],
            "steps": list(report.crd_steps),
        },
        "upstreamNotes": [{"version": n.version, "kind": n.kind, "text": n.text} for n in report.upstream_notes],
        "changelog": [{"file": f, "excerpt": t} for f, t in report.changelog],
        "notes": list(report.notes),
    }


def render_json(report: UpgradeReport) -> str:
    return redact(json.dumps(to_json(report), indent=2, default=str, ensure_ascii=False)) + "\n"


# -- Markdown ------------------------------------------------------------------------------------

def _cell(text: Any) -> str:
    s = "" if text is None else (text if isinstance(text, str) else json.dumps(text, default=str, sort_keys=True))
    s = s.replace("|", "\\|").replace("\n", " ")
    return s if len(s) <= 160 else s[:159] + "…"


def _code(text: Any) -> str:
    s = _cell(text)
    return f"`{s}`" if s else ""


def _verdict_line(report: UpgradeReport) -> str:
    c = report.counts
    label = {"breaking": "🔴 **breaking**", "needs review": "🟠 **needs review**", "safe": "🟢 **safe**"}[report.verdict]
    return f"**Verdict:** {label} — {c['breaking']} breaking, {c['review']} to review, {c['info']} info"


def _where(f: Finding) -> str:
    if f.file:
        return f"{f.file}:{f.line}" if f.line else f.file
    return ""


def render_markdown(report: UpgradeReport) -> str:
    out: list[str] = []
    w = out.append
    w(f"# Upgrade report: {report.title}\n")
    w(_verdict_line(report) + "\n")
    envs = ", ".join(report.envs) or "none"
    app = ""
    if report.old_app_version != report.new_app_version:
        app = f" · appVersion {report.old_app_version} → {report.new_app_version}"
    w(f"Chart `{report.upstream_chart}` from `{redact(report.repository)}` · cluster {report.kube_version} · "
      f"environments: {envs}{app} · generated {report.generated}\n")
    for n in report.notes:
        w(f"> {n}\n")

    w("## Findings\n")
    shown = [f for f in report.findings if f.code not in _COLLAPSED_CODES]
    collapsed = [f for f in report.findings if f.code in _COLLAPSED_CODES]
    if not report.findings:
        w("No findings.\n")
    if shown:
        w("| Severity | Code | Env | Where | Finding | OLD default | NEW default | Ours |")
        w("|---|---|---|---|---|---|---|---|")
        for f in shown:
            path = f"`{_cell(f.path)}`" if f.path else ""
            msg = _cell(f.message)
            if f.suggestion and f.suggestion not in f.message:
                msg += f" → `{_cell(f.suggestion)}`"
            src = _where(f)
            w(f"| {_SEV_ICON[f.severity.value]} | `{f.code}` | {f.env or 'all'} | {path}{'<br>' + _cell(src) if src else ''} "
              f"| {msg} | {_code(f.old)} | {_code(f.new)} | {_code(f.ours)} |")
        w("")
    if collapsed:
        w(f"<details><summary>{len(collapsed)} informational finding(s): new and removed keys, overrides that can be dropped, "
          "added and changed resources</summary>\n")
        for f in collapsed:
            w(f"- `{f.code}` ({f.env or 'all'}): {f.message}")
            for k, v in f.details:
                if isinstance(v, list) and len(v) > 5:
                    w(f"  - {k}: " + ", ".join(f"`{x}`" for x in v))
        w("\n</details>\n")

    w("## Environments\n")
    if not report.releases:
        w("No release uses this chart in any environment.\n")
    for r in report.releases:
        w(f"### {r.env} — release `{r.release}` in namespace `{r.namespace}`\n")
        if r.values_files:
            w("Values files: " + ", ".join(f"`{v}`" for v in r.values_files) + "\n")
        if r.error:
            w(f"**Rendered analysis not available:** {r.error}\n")
        else:
            w(f"Rendered with {r.engine_version or r.engine}{' after applying the kustomize patches' if r.patched else ''}.\n")
        for n in r.render_notes:
            w(f"- note: {n}")
        if r.render_notes:
            w("")
        d = r.manifest_diff
        if d is not None:
            w(f"Resources: {len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed, {d.unchanged} unchanged.\n")
            for label, keys in (("Added", d.added), ("Removed", d.removed)):
                if keys:
                    w(f"{label}: " + ", ".join(f"`{k}`" for k in keys) + "\n")
        if r.images is not None and (r.images.to_mirror or r.images.dropped):
            if r.images.to_mirror:
                w("New images: " + ", ".join(f"`{i}`" for i in r.images.to_mirror) + "\n")
            if r.images.dropped:
                w("Images no longer used: " + ", ".join(f"`{i}`" for i in r.images.dropped) + "\n")
        env_findings = [f for f in report.findings if f.env == r.env and f.severity != Severity.INFO]
        if env_findings:
            w(f"{len(env_findings)} finding(s) specific to {r.env}: " + ", ".join(f"`{f.code}` {f.path or ''}".rstrip() for f in env_findings[:10]) + "\n")

    w("## Images to mirror\n")
    if report.images_to_mirror:
        w("Copy these into the air-gapped registry before deploying (also written as `images.txt`):\n")
        w("```text\n" + "\n".join(report.images_to_mirror) + "\n```\n")
    else:
        w("None: every image NEW uses is already used by OLD.\n")

    w("## CRDs\n")
    if report.crd_changes:
        for c in report.crd_changes:
            origin = "crds/" if c.from_crds_dir else "template"
            w(f"- `{c.name}` ({origin}, {c.change})"
              + (f": versions +{list(c.versions_added)} −{list(c.versions_removed)}" if c.versions_added or c.versions_removed else "")
              + (f"; storage {c.storage_old} → {c.storage_new}" if c.storage_old != c.storage_new and c.change == "changed" else "")
              + (f"; new required: {', '.join(c.new_required)}" if c.new_required else ""))
        w("")
    else:
        w("No CRD changes.\n")
    if report.crd_steps:
        w("Helm never upgrades the CRDs under `crds/`. Run this **before** `helmfile apply`:\n")
        w("```sh\n" + "\n".join(report.crd_steps) + "\n```\n")

    w("## Upstream notes\n")
    if not report.upstream_notes and not report.changelog:
        w("Upstream published no change notes for these versions.\n")
    if report.upstream_notes:
        cur = None
        for n in report.upstream_notes:
            if n.version != cur:
                w(f"\n**{n.version}**\n")
                cur = n.version
            w(f"- {'[' + n.kind + '] ' if n.kind else ''}{n.text}")
        w("")
    for name, text in report.changelog:
        w(f"<details><summary>{name} (from the NEW archive)</summary>\n\n```markdown\n{text}\n```\n\n</details>\n")

    diffs = [(r, c) for r in report.releases if r.manifest_diff is not None for c in r.manifest_diff.changed]
    if diffs:
        w("## Appendix: manifest diff\n")
        for r, c in diffs:
            w(f"<details><summary>{r.env}: {c.key}</summary>\n\n```diff\n{c.diff.rstrip()}\n```\n\n</details>\n")
    return redact("\n".join(out).rstrip() + "\n")


# -- terminal ------------------------------------------------------------------------------------

def render_text(report: UpgradeReport, *, top: int = 10) -> str:
    c = report.counts
    lines = [f"{report.title}: {report.verdict.upper()} ({c['breaking']} breaking, {c['review']} review, {c['info']} info)"]
    lines.append(f"cluster {report.kube_version}; environments: {', '.join(report.envs) or 'none'}")
    for r in report.releases:
        if r.error:
            lines.append(f"  {r.env}/{r.release}: rendered analysis failed: {r.error}")
    important = [f for f in report.findings if f.severity != Severity.INFO] or list(report.findings)
    for f in important[:top]:
        env = f" [{f.env}]" if f.env else ""
        lines.append(f"  {f.severity.value:8} {f.code}{env}: {f.message}")
    if len(important) > top:
        lines.append(f"  … {len(important) - top} more (write the report with --format md --output FILE)")
    if report.images_to_mirror:
        lines.append(f"images to mirror: {len(report.images_to_mirror)}")
    for step in report.crd_steps:
        lines.append(f"before helmfile apply: {step}")
    return redact("\n".join(lines)) + "\n"


def images_txt(report: UpgradeReport) -> str:
    return "".join(f"{i}\n" for i in report.images_to_mirror)
