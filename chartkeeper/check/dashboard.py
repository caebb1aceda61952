"""`check --format md`: the pinned charts as a dependency dashboard to paste into an issue or a merge request.

Like Renovate's dependency dashboard: one row per chart with what is pinned, what the lock's constraint
allows, the newest published, the kind of update, how old the wanted release is, and a link to the upgrade
report when one was already written (`<reports>/<chart>/<current>-to-<wanted>.md`, where `bump` puts it).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from chartkeeper.check.outdated import STATUS_ERROR, STATUS_HELD, STATUS_UPDATE, CheckRow
from chartkeeper import mdsafe
from chartkeeper.masking import redact
from chartkeeper.settings import Settings

_ICON = {"major": "🔴 major", "minor": "🟠 minor", "patch": "🟢 patch", "prerelease": "🟣 prerelease"}


def age(published: str | None, now: datetime) -> str:
    """`12 days`, from an index or registry timestamp; empty when unknown."""
    if not published:
        return ""
    try:
        when = datetime.fromisoformat(published.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    days = max(0, (now - when).days)
    return "today" if days == 0 else f"{days} day{'s' if days != 1 else ''}"


def report_path(settings: Settings, row: CheckRow) -> Path | None:
    """The upgrade report already written for current -> wanted, if any (same name `bump` gives it)."""
    if not row.wanted or row.wanted == row.current:
        return None
    path = settings.path(settings.reports_dir) / row.name / f"{row.current}-to-{row.wanted}.md"
    return path if path.is_file() else None


def render_dashboard(rows: Sequence[CheckRow], settings: Settings, *, now: datetime | None = None,
                     relative_to: Path | None = None) -> str:
    """The Markdown dashboard; report links are relative to `relative_to` (default: the repository root)."""
    now = now or datetime.now(timezone.utc)
    base = relative_to or Path(settings.root)
    updates = [r for r in rows if r.status == STATUS_UPDATE]
    held = [r for r in rows if r.status == STATUS_HELD]
    failed = [r for r in rows if r.status == STATUS_ERROR]
    out = ["## Chart dependency dashboard", ""]
    summary = f"{len(rows)} chart{'s' if len(rows) != 1 else ''} pinned: {len(updates)} with an update"
    if held:
        summary += f", {len(held)} held back by their constraint"
    if failed:
        summary += f", {len(failed)} could not be checked"
    out += [summary + ".", ""]
    out += ["| Chart | Current | Wanted | Latest | Update | Age | Report |", "|---|---|---|---|---|---|---|"]
    order = {STATUS_UPDATE: 0, STATUS_HELD: 1, STATUS_ERROR: 2}
    for r in sorted(rows, key=lambda r: (order.get(r.status, 3), r.name)):
        name = r.name if r.name == r.chart else f"{r.name} ({r.chart})"
        current = mdsafe.code(r.current) + (f" {mdsafe.code(r.constraint)}" if r.constraint else "")
        if r.status == STATUS_ERROR:
            out.append(f"| {mdsafe.text(name)} | {current} | | | ❌ error | | {mdsafe.prose(redact(r.error or 'failed'))} |")
            continue
        wanted = mdsafe.code(r.wanted) if r.wanted and r.wanted != r.current else "—"
        latest = mdsafe.code(r.latest) if r.latest else "—"
        if r.status == STATUS_UPDATE:
            kind = _ICON.get(r.update or "", r.update or "")
        elif r.status == STATUS_HELD:
            kind = f"held ({mdsafe.text(r.latest_update)})" if r.latest_update else "held"
        else:
            kind = "✅ current"
        when = age(r.wanted_published, now) if r.status == STATUS_UPDATE else ""
        path = report_path(settings, r)
        if path is not None:
            rel = os.path.relpath(path, base).replace(os.sep, "/")
            link = f"[{r.current} → {r.wanted}]({rel})"  # versions and chart names the lock validated
        elif r.status == STATUS_UPDATE:
            link = mdsafe.code(f"chartkeeper bump {r.name}")
        else:
            link = ""
        out.append(f"| {mdsafe.text(name)} | {current} | {wanted} | {latest} | {kind} | {when} | {link} |")
    return "\n".join(out) + "\n"
