"""Chart metadata between OLD and NEW: appVersion, subchart versions, and upstream's own notes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from chartkeeper import yamlio
from chartkeeper.analysis.chart_keys import ChartInfo
from chartkeeper.findings import Finding, Severity
from chartkeeper.errors import InputError
from chartkeeper.versions import ChartVersion

CHANGES_ANNOTATION = "artifacthub.io/changes"
_MAX_NOTE_LINES = 120


def _deps(info: ChartInfo) -> dict[str, str]:
    """values key (alias or name) -> version, from what is really under charts/ (declared version otherwise)."""
    out: dict[str, str] = {}
    loaded = {s.name: s.version for s in info.subcharts}
    for dep in info.metadata.get("dependencies") or []:
        if isinstance(dep, dict) and dep.get("name"):
            key = str(dep.get("alias") or dep["name"])
            out[key] = loaded.get(str(dep["name"]), str(dep.get("version") or "?"))
    for s in info.subcharts:
        if not any(k == s.name or v == s.version for k, v in out.items()):
            out.setdefault(s.name, s.version)
    return out


def meta_findings(old: ChartInfo, new: ChartInfo) -> list[Finding]:
    out: list[Finding] = []
    if (old.app_version or "") != (new.app_version or ""):
        out.append(Finding("chart.app-version", Severity.INFO, f"appVersion {old.app_version} -> {new.app_version}",
                           old=old.app_version, new=new.app_version))
    a, b = _deps(old), _deps(new)
    for key in sorted(set(a) | set(b)):
        if key not in a:
            out.append(Finding("chart.subchart-added", Severity.REVIEW, f"new subchart {key} {b[key]}", path=key, new=b[key]))
        elif key not in b:
            out.append(Finding("chart.subchart-removed", Severity.REVIEW,
                               f"subchart {key} {a[key]} removed (its values and resources go with it)", path=key, old=a[key]))
        elif a[key] != b[key]:
            va, vb = ChartVersion.try_parse(a[key]), ChartVersion.try_parse(b[key])
            major = va is not None and vb is not None and va.core[0] != vb.core[0]
            out.append(Finding("chart.subchart-version", Severity.REVIEW if major else Severity.INFO,
                               f"subchart {key} {a[key]} -> {b[key]}" + (" (major)" if major else ""), path=key, old=a[key], new=b[key]))
    if new.metadata.get("deprecated"):
        out.append(Finding("chart.deprecated", Severity.REVIEW, f"NEW marks the chart {new.name} as deprecated"))
    return out


@dataclass(frozen=True)
class ChangeNote:
    version: str
    kind: str  # added/changed/fixed/removed/security/deprecated, or "" for a plain line
    text: str


def parse_changes_annotation(version: str, raw: str | None) -> list[ChangeNote]:
    """The `artifacthub.io/changes` annotation: a YAML list of strings or of {kind, description}."""
    if not raw:
        return []
    try:
        data = yamlio.loads(raw)
    except InputError:
        return [ChangeNote(version, "", line.strip("- ").strip()) for line in raw.splitlines() if line.strip()]
    out: list[ChangeNote] = []
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict):
            out.append(ChangeNote(version, str(item.get("kind") or ""), str(item.get("description") or "").strip()))
        elif item is not None:
            out.append(ChangeNote(version, "", str(item).strip()))
    return out


def notes_from_releases(releases: Iterable[Any], old: str, new: str) -> list[ChangeNote]:
    """Change notes of every release in (OLD, NEW], newest first, from the source's listing."""
    lo, hi = ChartVersion.parse(old), ChartVersion.parse(new)
    picked = [r for r in releases if lo < r.version <= hi]
    picked.sort(key=lambda r: r.version, reverse=True)
    out: list[ChangeNote] = []
    for r in picked:
        out += parse_changes_annotation(str(r.version), r.annotation(CHANGES_ANNOTATION))
    return out


_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*)$")
# a version in a heading: `2.0.0`, `v15.1`, `57.x` ("From 56.x to 57.x": the last one is where it leads)
_VERSION_IN_RE = re.compile(r"v?(\d+)\.(\d+|x)(?:\.(\d+|x))?(-[0-9A-Za-z.-]+)?")


def _heading_version(heading: str) -> ChartVersion | None:
    found = list(_VERSION_IN_RE.finditer(heading))
    if not found:
        return None
    major, minor, patch, pre = found[-1].groups()
    text = ".".join(p if p and p != "x" else "0" for p in (major, minor, patch)) + (pre or "")
    return ChartVersion.try_parse(text)


@dataclass(frozen=True)
class SubchartNotes:
    """The upgrade notes a subchart's own archive carries between its OLD and NEW versions."""

    name: str  # the subchart's name (as under charts/)
    old: str
    new: str
    excerpts: tuple[tuple[str, str], ...]  # (file, text), as `changelog_excerpt` gives them


def changelog_excerpt(info: ChartInfo, old: str, new: str) -> list[tuple[str, str]]:
    """(file, excerpt) of the notes between OLD and NEW: CHANGELOG sections of versions in (OLD, NEW], and
    README "Upgrading" / UPGRADING.md sections, leaving out those about a version outside that range
    ("To 14.0.0" when upgrading 15.1 -> 15.5)."""
    out: list[tuple[str, str]] = []
    lo, hi = ChartVersion.try_parse(old), ChartVersion.try_parse(new)

    def in_range(v: ChartVersion | None) -> bool | None:
        if v is None or lo is None or hi is None:
            return None
        return lo < v <= hi

    for name in ("CHANGELOG.md", "CHANGELOG", "UPGRADING.md", "UPGRADE.md"):
        text = info.files.get(name)
        if not text:
            continue
        if name.startswith("UPGRAD"):
            kept = _versioned_sections(text, in_range, lambda _h: True)
            if kept:
                out.append((name, _clip(kept)))
            continue
        keep = [f"{heading}\n{body}".rstrip() for heading, body in _sections(text)
                if in_range(_heading_version(heading))]
        if keep:
            out.append((name, _clip("\n\n".join(keep))))
    readme = info.files.get("README.md")
    if readme:
        kept = _versioned_sections(readme, in_range, lambda h: "upgrad" in h.lower())
        if kept:
            out.append(("README.md", _clip(kept)))
    return out


def subchart_notes(old: ChartInfo, new: ChartInfo) -> list[SubchartNotes]:
    """The notes of every subchart whose version changes, between its two versions only."""
    before = {s.name: s.version for s in old.subcharts}
    out: list[SubchartNotes] = []
    for sub in sorted(new.subcharts, key=lambda s: s.name):
        was = before.get(sub.name)
        if was is None or was == sub.version:
            continue
        excerpts = changelog_excerpt(sub, was, sub.version)
        if excerpts:
            out.append(SubchartNotes(sub.name, was, sub.version, tuple(excerpts)))
    return out


def _versioned_sections(text: str, in_range: Any, wanted: Any) -> str:
    """The sections whose heading `wanted` accepts, with their subsections, less every (sub)section whose
    heading names a version `in_range` rejects; a heading naming no version follows its parent."""
    lines = text.splitlines()
    heads = [(i, len(m.group(1)), m.group(2)) for i, line in enumerate(lines) if (m := _HEADING_RE.match(line))]
    kept: list[str] = []
    stack: list[tuple[int, bool, bool]] = []  # (level, in a wanted section, kept) of the enclosing headings
    for n, (i, level, heading) in enumerate(heads):
        while stack and stack[-1][0] >= level:
            stack.pop()
        parent_in, parent_keep = (stack[-1][1], stack[-1][2]) if stack else (False, False)
        in_tree = parent_in or wanted(heading)
        keep = in_tree and (parent_keep or not parent_in) and in_range(_heading_version(heading)) is not False
        stack.append((level, in_tree, keep))
        end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        if keep:
            kept.append("\n".join(lines[i:end]).rstrip())
    return "\n\n".join(k for k in kept if k).strip()


def _sections(text: str) -> list[tuple[str, str]]:
    """Split Markdown at headings; a section runs to the next heading of the same or a higher level."""
    lines = text.splitlines()
    heads = [(i, len(m.group(1))) for i, line in enumerate(lines) if (m := _HEADING_RE.match(line))]
    out = []
    for n, (i, level) in enumerate(heads):
        end = len(lines)
        for j, lv in heads[n + 1 :]:
            if lv <= level:
                end = j
                break
        out.append((lines[i], "\n".join(lines[i + 1 : end]).strip("\n")))
    return out


def _clip(text: str) -> str:
    lines = text.splitlines()
    if len(lines) <= _MAX_NOTE_LINES:
        return text.strip()
    return "\n".join(lines[:_MAX_NOTE_LINES]).strip() + f"\n… ({len(lines) - _MAX_NOTE_LINES} more lines in the archive)"
