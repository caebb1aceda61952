"""`chartkeeper recover`: finish what a killed `bump --in-place` left, and nothing else."""

from __future__ import annotations

from chartkeeper.bump.journal import finish_interrupted_bump
from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_OK
from chartkeeper.runlock import run_lock


def run(ctx: AppContext) -> int:
    settings, out = ctx.settings, ctx.out
    with run_lock(settings):
        done = finish_interrupted_bump(settings, out)
    if out.json_mode:
        out.emit_json({"recovered": done})
    elif not done:
        out.text("nothing to recover: no interrupted in-place bump")
    else:
        out.text(f"recovered {len(done)} interrupted run(s); `chartkeeper verify` checks the result")
    return EXIT_OK
