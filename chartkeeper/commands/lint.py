"""`chartkeeper lint [--env E]`: check the deployment tree; exit 0 clean, 1 findings, 2 errors.

A check that could not run (a release's values template our renderer cannot evaluate with no
helmfile binary, an engine failure, sops-encrypted values) is listed under NOT CHECKED, never as a
finding, and makes the exit code 2 unless `--allow-unchecked`.

Info findings (charts pinned but not vendored yet, patches that could not be checked) are shown
but do not fail the run: a fresh clone of the deployment repository is in that state until
`chartkeeper sync` runs on a connected machine.
"""

from __future__ import annotations

from rich.text import Text

from chartkeeper.findings import Severity
from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from chartkeeper.lint import lint
from chartkeeper.analysis.report import not_checked_text
from chartkeeper.output import table as output_table

_STYLE = {Severity.BREAKING: "red", Severity.REVIEW: "yellow", Severity.INFO: "dim"}


def run(ctx: AppContext, envs: list[str], allow_unchecked: bool = False) -> int:
    out = ctx.out
    report = lint(ctx.settings, envs or None)
    code = EXIT_FINDINGS if report.has_problems else EXIT_OK
    if report.not_checked and not allow_unchecked:
        code = EXIT_ERROR  # "clean" would claim what was not looked at
    if out.json_mode:
        out.emit_json(report.to_json())
        return code
    if report.rows:
        table = output_table("severity", "code", "env", "finding")
        for row in report.rows:
            f = row.finding
            where = f" [{f.file}{':' + str(f.line) if f.line else ''}]" if f.file else ""
            # Text, not markup: messages and paths may hold `[...]`
            table.add_row(Text(f.severity.value), Text(f.code), Text(", ".join(row.environments) or "all"),
                          Text(f.message + where), style=_STYLE[f.severity])
        out.result(table)
    counts = {s: sum(1 for r in report.rows if r.finding.severity is s) for s in Severity}
    summary = (
        f"lint: {len(report.releases)} release(s) in {len(report.environments)} environment(s) "
        f"({', '.join(report.environments)}): {counts[Severity.BREAKING]} breaking, "
        f"{counts[Severity.REVIEW]} to review, {counts[Severity.INFO]} info"
    )
    out.text(summary if code or report.not_checked else summary + " - ok")
    for line in not_checked_text(report.not_checked):
        out.text(line)
    if report.not_checked and not allow_unchecked:
        out.warn(f"{len(report.not_checked)} check(s) could not run: exit 2 (--allow-unchecked accepts that)")
    for line in report.checked:
        out.detail(f"checked: {line}")
    return code
