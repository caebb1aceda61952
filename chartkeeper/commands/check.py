"""`chartkeeper check [CHART ...]`: which pinned charts have upgrades.

Exit codes: 0 all current (or updates without --fail-on-update), 1 updates with
--fail-on-update, 2 a source failed or the lock is invalid (raised as InputError).
"""

from __future__ import annotations

import sys

from rich.table import Table
from rich.text import Text

from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, about
from chartkeeper.lockfile import load_lock
from chartkeeper.check.dashboard import render_dashboard
from chartkeeper.check.outdated import STATUS_ERROR, STATUS_HELD, STATUS_UPDATE, CheckRow, check_entries, summarize
from chartkeeper.masking import redact
from chartkeeper.output import shorten_middle
from chartkeeper.output import table as output_table

_KIND_STYLE = {"major": "bold red", "minor": "yellow", "patch": "green", "prerelease": "magenta"}


def _day(ts: str | None) -> str:
    return ts[:10] if ts else "-"


def _published(row: CheckRow) -> str:
    if row.status == STATUS_ERROR:
        return ""
    text = _day(row.wanted_published)
    if row.latest != row.wanted:
        text += f" (latest {_day(row.latest_published)})"
    return text


def _note(row: CheckRow) -> str:
    notes = []
    if row.status == STATUS_ERROR:
        msg = row.error or "failed"
        prefix = row.repository.rstrip("/") + ": "
        notes.append(msg[len(prefix):] if msg.startswith(prefix) else msg)  # the Source column names it
    if row.status == STATUS_HELD:
        notes.append(f"{row.latest} is outside {row.constraint}")
    if row.status != STATUS_ERROR and not row.current_published:
        notes.append(f"{row.current} is no longer published")
    return "; ".join(notes)


SOURCE_WIDTH = 40  # on a terminal, longer repository URLs are shortened in the middle


def _table(rows: list[CheckRow], terminal: bool) -> tuple[Table, list[str]]:
    """The table, and the errors as numbered notes to print below it: an error inside a cell
    would be folded into slivers."""
    table = output_table()
    # Versions never wrap; dates, sources and notes fold first when the terminal is narrow.
    for col in ("Chart", "Current", "Wanted", "Latest", "Update", "Behind", "Published", "Source", "Note"):
        wraps = col in ("Published", "Source", "Note")
        table.add_column(col, no_wrap=not wraps, overflow="fold", min_width=10 if wraps else None)
    notes: list[str] = []

    def source(r: CheckRow) -> Text:
        url = redact(r.repository)
        return Text(shorten_middle(url, SOURCE_WIDTH) if terminal else url)

    for r in rows:
        if r.status == STATUS_ERROR:
            notes.append(f"{r.name}: {redact(r.repository)}: {redact(_note(r))}")
            table.add_row(Text(r.name), Text(r.current), "-", "-", Text("error", style="red"), "", "",
                          source(r), Text(f"see note {len(notes)}", style="red"))
            continue
        kind = r.update or ("-" if r.latest_update is None else f"({r.latest_update})")
        style = _KIND_STYLE.get(r.update or "", "dim" if r.update is None else "")
        constraint = f" [{r.constraint}]" if r.constraint else ""
        # Text() everywhere: a constraint like `[v4.x]` must not be read as rich markup.
        table.add_row(
            Text(r.name if r.name == r.chart else f"{r.name} ({r.chart})"),
            Text(r.current + constraint),
            Text(r.wanted or "-", style=style if r.update else ""),
            Text(r.latest or "-"),
            Text(kind, style=style),
            Text(str(r.behind) if r.behind else ""),
            Text(_published(r)),
            source(r),
            Text(_note(r), style="yellow" if r.status == STATUS_HELD else ""),
        )
    return table, notes


def run(ctx: AppContext, charts: list[str], pre: bool = False, fail_on_update: bool = False, fmt: str = "text") -> int:
    """`fmt` is the human format: `text` (a table) or `md` (a dependency dashboard to paste into an issue)."""
    out, settings = ctx.out, ctx.settings
    lock = load_lock(settings.lock_file)
    if charts:
        entries = [lock.require(name) for name in dict.fromkeys(charts)]
    else:
        entries = list(lock.entries)
    if not entries:
        out.info(f"{settings.lock_file}: no charts pinned")
        if out.json_mode:
            out.emit_json({"charts": [], "summary": {"total": 0, "updates": 0, "held": 0, "errors": 0}})
        return EXIT_OK
    if out.show_progress:
        repos = len({e.repository.rstrip("/") for e in entries})
        out.info(f"checking {len(entries)} chart{'s' * (len(entries) != 1)} in {repos} repositor{'ies' if repos != 1 else 'y'}…")
    rows = check_entries(entries, settings, pre=pre)
    summary = summarize(rows)

    for r in rows:
        if r.skipped_invalid:
            shown = ", ".join(r.skipped_invalid[:10]) + (", …" if len(r.skipped_invalid) > 10 else "")
            out.detail(f"{r.name}: skipped {len(r.skipped_invalid)} invalid version(s): {shown}")
        if r.status == STATUS_ERROR and r.error_hint:
            out.detail(f"{r.name}: hint: {r.error_hint}")

    if out.json_mode:
        out.emit_json(
            {
                "charts": [r.to_json() for r in rows],
                "summary": {"total": summary.total, "updates": summary.updates, "held": summary.held, "errors": summary.errors},
            }
        )
    elif fmt == "md":
        sys.stdout.write(render_dashboard(rows, settings))
    else:
        table, notes = _table(rows, out.console.is_terminal)
        out.result(table)
        for i, note in enumerate(notes, 1):
            out.text(f"  {i}. {note}")
        parts = [f"{summary.total} chart{'s' * (summary.total != 1)}", f"{summary.updates} with updates"]
        if summary.held:
            parts.append(f"{summary.held} held back by their constraint")
        if summary.errors:
            parts.append(f"{summary.errors} failed")
        out.info(", ".join(parts))
    failed = [r for r in rows if r.status == STATUS_ERROR]
    if failed:
        # One `error:` line for the run, naming every failed chart (the table shows each on its row).
        what = "; ".join(about(r.name, r.error or "") for r in failed)
        out.err.print(f"error: {len(failed)} of {len(rows)} charts could not be checked: {redact(what)}", markup=False, style="red")
        return EXIT_ERROR
    if fail_on_update and summary.updates:
        return EXIT_FINDINGS
    return EXIT_OK
