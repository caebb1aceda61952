"""`chartkeeper verify`: every vendored folder against its tree checksum; drift file by file."""

from __future__ import annotations

from chartkeeper.bump import journal
from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_FINDINGS, EXIT_OK
from chartkeeper.lockfile import load_lock
from chartkeeper.vendoring.report import chart_report_lines
from chartkeeper.vendoring.verify import CLEAN, verify_tree


def run(ctx: AppContext, charts: list[str] | None = None, strict: bool = False) -> int:
    """Exit 1 on drift, a missing folder or an unowned one; a chart pinned but not vendored yet is a
    note (`sync` fetches it), exit 1 only with `strict`."""
    out = ctx.out
    # Looked at first: mid-swap, folders are "missing" and `sync` would be the wrong advice.
    pending = [journal.pending_target(d) for d in journal.pending(ctx.settings.lock_file.parent)]
    lock = load_lock(ctx.settings.lock_file)
    report = verify_tree(ctx.settings, lock, charts or [])
    if out.json_mode:
        out.emit_json({**report.as_dict(), "interruptedBumps": pending, **({"clean": False} if pending else {})})
        return EXIT_FINDINGS if pending or not report.clean or (strict and report.not_vendored) else EXIT_OK
    if pending:
        for what in pending:
            out.text(f"interrupted bump pending ({what}): run `chartkeeper bump --in-place` "
                     "(or `chartkeeper recover`) to finish it")
        out.info("the vendored folders are mid-swap; verify them again once the bump is finished")
        return EXIT_FINDINGS
    for r in report.charts:
        if r.state == CLEAN and out.quiet:
            continue
        for line in chart_report_lines(r):
            out.text(line)
    for name in report.unowned:
        out.text(f"{name}: unowned — a folder next to the lock that no lock entry owns")
    for name in report.leftovers:
        out.info(f"note: {name} is left over from an interrupted run; the next `chartkeeper sync` removes it")
    bad = sum(1 for r in report.charts if not r.ok)
    if report.not_vendored:
        out.info(f"note: {len(report.not_vendored)} chart(s) pinned but not vendored yet "
                 f"({', '.join(report.not_vendored)}); `chartkeeper sync` vendors them")
    if report.clean:
        out.info(f"verified {len(report.charts) - len(report.not_vendored)} chart(s): clean")
    else:
        out.info(f"{bad} chart(s) not clean, {len(report.unowned)} unowned folder(s)")
    if not report.clean or (strict and report.not_vendored):
        return EXIT_FINDINGS
    return EXIT_OK
