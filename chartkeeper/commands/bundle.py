"""`chartkeeper bundle OUT.tgz`: the vendored charts, an index.yaml and the lock in one file."""

from __future__ import annotations

from pathlib import Path

from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_OK, RefusedError
from chartkeeper.lockfile import load_lock
from chartkeeper.output import output_file
from chartkeeper.vendoring.bundle import build_bundle
from chartkeeper.vendoring.verify import CLEAN, verify_tree


def run(ctx: AppContext, out_file: Path, charts: list[str] | None = None) -> int:
    settings, out = ctx.settings, ctx.out
    target = output_file(out_file, "bundle OUT.tgz")
    lock = load_lock(settings.lock_file)
    report = verify_tree(settings, lock, charts or [])
    bad = [r for r in report.charts if r.state != CLEAN]  # not vendored yet is fine for verify, not for a bundle
    if bad:
        listing = ", ".join(f"{r.name} ({r.state})" for r in bad)
        raise RefusedError(f"bundle: not every chart is vendored and clean: {listing}",
                           hint="run `chartkeeper sync` (and `chartkeeper verify` to see drift) first")
    entries = [lock.require(r.name) for r in report.charts]
    summary = build_bundle(lock, entries, target)
    if out.json_mode:
        out.emit_json(summary)
    else:
        out.text(f"bundled {len(entries)} chart(s) into {out_file} ({summary['bytes']} bytes, {summary['digest']})")
    return EXIT_OK
