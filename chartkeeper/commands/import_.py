"""`chartkeeper import`: adopt charts already unpacked under charts/external (and the old tool's records)."""

from __future__ import annotations

from pathlib import Path

from chartkeeper.bump.journal import finish_interrupted_bump
from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_FINDINGS, EXIT_OK
from chartkeeper.lockfile import load_lock, write_lock
from chartkeeper.runlock import run_lock
from chartkeeper.vendoring.adopt import DigestChecker, Legacy, adopt, read_charts_json, read_csv_lock
from chartkeeper.vendoring.report import entry_json
from chartkeeper.vendoring.stage import SourcePool, clean_leftovers


def run(ctx: AppContext, charts_json: Path | None = None, csv_lock: Path | None = None) -> int:
    settings, out = ctx.settings, ctx.out
    repos: dict[str, str] = {}
    json_charts = {}
    if charts_json is not None:
        repos, json_charts = read_charts_json(charts_json)
    csv_charts = read_csv_lock(csv_lock, repos) if csv_lock is not None else {}
    legacy = Legacy(json_charts, csv_charts, csv_lock.name if csv_lock is not None else None)
    with run_lock(settings), SourcePool(settings) as pool:
        finish_interrupted_bump(settings, out)
        lock = load_lock(settings.lock_file, missing_ok=True)
        clean_leftovers(lock.root)
        result = adopt(lock, legacy, settings.helmfile_file.parent, DigestChecker(pool))
        if result.adopted:
            write_lock(result.lock, settings.lock_file)
    if out.json_mode:
        out.emit_json({
            "adopted": [
                {"entry": entry_json(a.entry), "renamedFrom": a.renamed_from, "helmfileRewritten": list(a.rewritten),
                 "helmfileReferences": list(a.references),
                 "notes": list(a.disagreements) + list(a.notes), "disagreements": list(a.disagreements),
                 "unverifiedDigest": a.unverified_digest}
                for a in result.adopted
            ],
            "skipped": result.skipped,
            "disagreements": result.disagreements,
            "unverifiedDigests": result.unverified,
        })
    else:
        for a in result.adopted:
            e = a.entry
            out.text(f"adopted {e.name}: {e.chart} {e.version} from {e.repository} -> {e.folder}")
            if a.renamed_from:
                out.text(f"  renamed {a.renamed_from} -> {e.folder}")
                for line in a.rewritten:
                    out.text(f"    rewrote {line}")
                for ref in a.references:
                    out.text(f"    still names {a.renamed_from} (fix by hand): {ref}")
            for d in a.disagreements:
                out.text(f"  disagrees: {d}")
            for note in a.notes:
                out.text(f"  note: {note}")
        for s in result.skipped:
            out.warn(f"skipped {s}")
        out.info(
            f"{len(result.adopted)} chart(s) adopted into {settings.lock_file.name}, {len(result.skipped)} skipped, "
            f"{result.disagreements} disagreement(s) with the old records, {result.unverified} checksum(s) unverified"
        )
    # Adopted either way; exit 1 says there is something in the old records a person must look at.
    return EXIT_FINDINGS if result.skipped or result.disagreements else EXIT_OK
