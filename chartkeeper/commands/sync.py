"""`chartkeeper sync [CHART ...]`: make the vendored folders match the lock, atomically per chart."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from chartkeeper.bump.journal import finish_interrupted_bump
from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_ERROR, EXIT_OK, about
from chartkeeper.lockfile import LockEntry, load_lock
from chartkeeper.runlock import run_lock
from chartkeeper.vendoring.report import entry_json
from chartkeeper.vendoring.stage import clean_leftovers
from chartkeeper.vendoring.sync import FAILED, OK, SyncResult, bundle_source, sync_lock
from chartkeeper.vendoring.unpack import STAGING_PREFIX


def run(ctx: AppContext, charts: list[str] | None = None, source_from: str | None = None, force: bool = False) -> int:
    settings, out = ctx.settings, ctx.out
    with run_lock(settings):
        finish_interrupted_bump(settings, out)
        lock = load_lock(settings.lock_file)
        for p in clean_leftovers(lock.root):
            out.info(f"removed {p.name}, left over from an interrupted run")
        for n in charts or []:
            lock.require(n)
        source_url, tmp = (None, None)
        if source_from:
            source_url, tmp = bundle_source(source_from, lock.root)
        try:
            results = _run(ctx, lock, charts or [], source_url, force, source_from if tmp is not None else None)
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    failed = [r for r in results if r.action == FAILED]
    if out.json_mode:
        out.emit_json({"charts": [_json(r) for r in results], "ok": not failed})
    else:
        for r in results:
            if r.action == OK:
                if not out.quiet:
                    out.text(f"{r.name}: ok ({r.entry.version}, verified)")
            elif r.action == FAILED:
                out.err.print(f"error: {about(r.name, r.error or '')}", markup=False, style="red")
                if r.hint:
                    out.err.print(f"hint: {r.hint}", markup=False)
            else:
                out.text(f"{r.name}: vendored {r.entry.chart} {r.entry.version} -> {r.entry.folder} (was {r.was})")
    return EXIT_ERROR if failed else EXIT_OK


def _run(ctx: AppContext, lock: Any, names: list[str], source_url: str | None, force: bool,
         source_label: str | None) -> list[SyncResult]:
    out = ctx.out
    if not out.show_progress:
        _, results = sync_lock(ctx.settings, lock, names, source_from=source_url, force=force, out=out,
                               source_label=source_label)
        return results
    total = len(names) if names else len(lock.entries)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[bytes]}"), TimeElapsedColumn(), console=out.err, transient=True) as progress:
        task = progress.add_task("sync", total=total, bytes="")
        stop = threading.Event()

        def watch() -> None:
            # Sources write downloads into the staging folder: its growing size is the download.
            while not stop.wait(0.2):
                size = _staging_bytes(lock.root)
                progress.update(task, bytes=f"{_human(size)} staged" if size else "")

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()

        def start(e: LockEntry) -> None:
            progress.update(task, description=f"{e.name} {e.version}")

        def done(_: SyncResult) -> None:
            progress.advance(task)

        try:
            _, results = sync_lock(ctx.settings, lock, names, source_from=source_url, force=force, out=None,
                                   source_label=source_label,
                                   on_start=start, on_done=done)
        finally:
            stop.set()
            watcher.join(1)
    return results


def _staging_bytes(root: Path) -> int:
    total = 0
    for d in root.glob(STAGING_PREFIX + "*"):
        for dirpath, _, files in os.walk(d):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    pass
    return total


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _json(r: SyncResult) -> dict[str, Any]:
    d: dict[str, Any] = {"name": r.name, "action": r.action, "was": r.was, "entry": entry_json(r.entry)}
    if r.error:
        d["error"] = r.error
    return d
