"""Make vendored folders match the lock: verify each, re-vendor only what is not clean.

Per chart: a folder that checksums to the lock's `treeChecksum` is left alone (nothing is
fetched). Anything else — a new machine, a wiped or edited folder, a lock edited by hand —
is staged from the lock's repository (or a bundle given with `--from`) at the pinned
version, checked against the pinned digest and tree checksum, swapped in, and the lock is
written right away, so a run killed half-way keeps what it finished. One chart failing is
reported and the others go on.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from chartkeeper.errors import ChartkeeperError, InputError
from chartkeeper.lockfile import Lock, LockEntry, write_lock
from chartkeeper.vendoring.bundle import BUNDLE_TOP
from chartkeeper.vendoring.stage import SourcePool, install, stage_chart, vendored_folder
from chartkeeper.vendoring.unpack import ExtractLimits, STAGING_PREFIX, safe_extract
from chartkeeper.vendoring.verify import CLEAN, check_entry

if TYPE_CHECKING:
    from chartkeeper.output import Output
    from chartkeeper.settings import Settings

OK = "ok"
VENDORED = "vendored"
FAILED = "failed"


@dataclass(frozen=True)
class SyncResult:
    name: str
    action: str
    entry: LockEntry
    was: str = ""  # the verify state before (clean, drift, missing, not-vendored, no-checksum)
    error: str | None = None
    hint: str | None = None


def merged_entry(pinned: LockEntry, fresh: LockEntry) -> LockEntry:
    """What the lock says after re-vendoring `pinned`: its fields win; missing ones are filled in."""
    return pinned.with_changes(
        digest=pinned.digest or fresh.digest,
        tree_checksum=pinned.tree_checksum or fresh.tree_checksum,
        app_version=pinned.app_version or fresh.app_version,
        fetched=pinned.fetched or fresh.fetched,
        subcharts=pinned.subcharts or fresh.subcharts,
    )


def sync_lock(
    settings: "Settings",
    lock: Lock,
    names: list[str] | tuple[str, ...] = (),
    *,
    source_from: str | None = None,
    force: bool = False,
    out: "Output | None" = None,
    on_start: Callable[[LockEntry], None] | None = None,
    on_done: Callable[[SyncResult], None] | None = None,
    source_label: str | None = None,
) -> tuple[Lock, list[SyncResult]]:
    """`source_label`: what to call `source_from` in messages (the bundle the user gave, not the
    staging folder it was unpacked into)."""
    entries = [lock.require(n) for n in names] if names else sorted(lock.entries, key=lambda e: e.name)
    for entry in entries:  # every place is checked before the first chart is written
        vendored_folder(lock.root, entry, settings.root)
    labels = {source_from: source_label} if source_from and source_label else None
    with SourcePool(settings, labels) as pool:
        return _sync(settings, lock, entries, pool, source_from, force, out, on_start, on_done)


def _sync(
    settings: "Settings",
    lock: Lock,
    entries: list[LockEntry],
    pool: SourcePool,
    source_from: str | None,
    force: bool,
    out: "Output | None",
    on_start: Callable[[LockEntry], None] | None,
    on_done: Callable[[SyncResult], None] | None,
) -> tuple[Lock, list[SyncResult]]:
    results: list[SyncResult] = []
    for entry in entries:
        if on_start:
            on_start(entry)
        before = check_entry(lock, entry)
        if before.state == CLEAN and not force:
            result = SyncResult(entry.name, OK, entry, before.state)
        else:
            try:
                staged = stage_chart(
                    settings,
                    name=entry.name,
                    chart=entry.chart,
                    repository=entry.repository,
                    version=entry.version,
                    staging_parent=lock.root,
                    out=out,
                    constraint=entry.constraint,
                    path=entry.path,
                    expected_digest=entry.digest,
                    expected_tree=entry.tree_checksum,
                    source_url=source_from,
                    pinned_subcharts=entry.subcharts,
                    sources=pool,
                )
            except ChartkeeperError as exc:
                result = SyncResult(entry.name, FAILED, entry, before.state, exc.message, exc.hint)
            else:
                new = merged_entry(entry, staged.entry)
                install(staged, lock.root)
                lock = lock.upsert(new)
                if new != entry:
                    write_lock(lock)
                result = SyncResult(entry.name, VENDORED, new, before.state)
        results.append(result)
        if on_done:
            on_done(result)
    return lock, results


def bundle_source(path: str, staging_parent: Path) -> tuple[str, Path | None]:
    """`--from`: a bundle folder / file:// URL as is, or a bundle .tgz unpacked into a staging folder.

    Returns (source URL, temp folder to remove afterwards or None).
    """
    p = Path(path[len("file://"):] if path.startswith("file://") else path)
    if "://" not in path or path.startswith("file://"):
        if not p.exists():  # refused even when every chart is clean and nothing needs the bundle
            raise InputError(f"--from {path}: no such bundle file or folder")
    if p.is_file():
        tmp = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX + "bundle-", dir=staging_parent))
        limits = ExtractLimits()
        big = ExtractLimits(max_bytes=limits.max_bytes * 8, max_files=limits.max_files * 8, max_ratio=limits.max_ratio)
        try:
            folder = safe_extract(p, tmp / BUNDLE_TOP, BUNDLE_TOP, big, is_chart=False, skip="images")  # `unbundle`'s
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return str(folder), tmp
    if p.is_dir() and not (p / "index.yaml").exists() and (p / BUNDLE_TOP / "index.yaml").is_file():
        return str(p / BUNDLE_TOP), None  # the folder the bundle was unpacked into
    return path, None
