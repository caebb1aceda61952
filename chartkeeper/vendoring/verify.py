"""Vendored folders against the lock: clean, drifted file by file, missing, or unowned.

A chart is clean when its folder's tree checksum equals the lock's `treeChecksum`. When it
does not, the per-file manifest stored next to the lock (trusted only while it still
checksums to the lock's value) names the files added, removed and modified. A lock entry
with neither digest nor tree checksum and no folder was never vendored: that is its own
state ("not vendored yet", fixed by `sync`), not drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chartkeeper.lockfile import Lock, LockEntry
from chartkeeper.vendoring import treesum
from chartkeeper.vendoring.treesum import Drift
from chartkeeper.vendoring.unpack import STAGING_PREFIX

CLEAN = "clean"
DRIFT = "drift"
MISSING = "missing"  # pinned and vendored once (digest/treeChecksum known), folder gone
NOT_VENDORED = "not-vendored"  # pinned, never vendored
NO_CHECKSUM = "no-checksum"  # folder present, lock has no treeChecksum to check it against


@dataclass(frozen=True)
class ChartReport:
    name: str
    folder: str
    state: str
    drift: Drift | None = None
    checksum: str | None = None  # what the folder checksums to now
    detail: str | None = None

    @property
    def ok(self) -> bool:
        """Nothing wrong with the folder: clean, or pinned and never vendored (information, not drift)."""
        return self.state in (CLEAN, NOT_VENDORED)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "folder": self.folder, "state": self.state}
        if self.drift is not None:
            d.update(self.drift.as_dict())
        if self.checksum is not None:
            d["treeChecksum"] = self.checksum
        if self.detail:
            d["detail"] = self.detail
        return d


@dataclass(frozen=True)
class VerifyReport:
    charts: tuple[ChartReport, ...]
    unowned: tuple[str, ...] = ()  # folders next to the lock that no entry owns
    leftovers: tuple[str, ...] = ()  # staging folders of an interrupted run

    @property
    def clean(self) -> bool:
        return all(c.ok for c in self.charts) and not self.unowned

    @property
    def not_vendored(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.charts if c.state == NOT_VENDORED)

    def as_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "notVendored": list(self.not_vendored),
            "charts": [c.as_dict() for c in self.charts],
            "unowned": list(self.unowned),
            "leftovers": list(self.leftovers),
        }


def check_entry(lock: Lock, entry: LockEntry) -> ChartReport:
    folder = lock.folder_of(entry)
    if not folder.is_dir() or folder.is_symlink():
        if entry.digest is None and entry.tree_checksum is None:
            return ChartReport(entry.name, entry.folder, NOT_VENDORED, detail="not vendored yet; run `chartkeeper sync`")
        return ChartReport(entry.name, entry.folder, MISSING, detail="folder missing; run `chartkeeper sync`")
    actual = treesum.tree_manifest(folder)
    checksum = treesum.checksum_of_manifest(actual)
    if entry.tree_checksum is None:
        return ChartReport(entry.name, entry.folder, NO_CHECKSUM, checksum=checksum,
                           detail="the lock has no treeChecksum for it; run `chartkeeper sync` to vendor it from the lock")
    if checksum == entry.tree_checksum:
        return ChartReport(entry.name, entry.folder, CLEAN, checksum=checksum)
    stored = treesum.read_manifest(lock.root, entry.name, entry.tree_checksum)
    if stored is None:
        return ChartReport(entry.name, entry.folder, DRIFT, checksum=checksum,
                           detail="tree checksum differs; no per-file manifest matching the lock to name the files")
    return ChartReport(entry.name, entry.folder, DRIFT, drift=treesum.diff_manifests(stored, actual), checksum=checksum)


def verify_tree(settings: Any, lock: Lock, names: tuple[str, ...] | list[str] = ()) -> VerifyReport:
    """Check every (or the named) lock entries' folders; list unowned folders and leftovers."""
    entries = [lock.require(n) for n in names] if names else sorted(lock.entries, key=lambda e: e.name)
    reports = tuple(check_entry(lock, e) for e in entries)
    root = lock.root
    owned = {Path(e.folder).parts[0] for e in lock.entries}
    unowned: list[str] = []
    leftovers: list[str] = []
    if root.is_dir() and not names:
        for p in sorted(root.iterdir()):
            if p.name.startswith(STAGING_PREFIX):
                leftovers.append(p.name)
            elif p.is_dir() and not p.name.startswith(".") and p.name not in owned:
                unowned.append(p.name)
    return VerifyReport(reports, tuple(unowned), tuple(leftovers))
