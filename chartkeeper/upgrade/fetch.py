"""Resolve an upgrade once: one listing of the chart's versions, NEW fetched at most once.

    with SourcePool(settings) as pool, resolve_upgrade(settings, entry, spec, pool=pool) as up:
        up.target                # the version to move to (`up_to_date` when there is none)
        staged = up.new_chart()  # downloaded, digest-verified, unpacked, made offline: once

The staged copy lives in this run's scratch folder (`fsutil.temp_folder`: in the cache, swept
after a killed run), outside the deployment, until the `with` ends. `bump` copies it into its
own staging folder, so the repository keeps its guarantees (nothing written until the journal
swaps it in) and the archive is downloaded once.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

from chartkeeper.fsutil import temp_folder
from chartkeeper.helm.render import parse_crds_ahead
from chartkeeper.lockfile import LockEntry
from chartkeeper.sources.base import ChartRelease, VersionListing
from chartkeeper.upgrade.target import Target, resolve
from chartkeeper.vendoring.stage import SourcePool, StagedChart, stage_chart

if TYPE_CHECKING:
    from chartkeeper.output import Output
    from chartkeeper.settings import Settings


class Upgrade:
    """`entry` resolved against its repository; `new_chart()` stages NEW on first use only."""

    def __init__(self, settings: "Settings", target: Target, listing: VersionListing, pool: SourcePool,
                 out: "Output | None" = None) -> None:
        self.settings = settings
        self.target = target
        self.listing = listing
        self._pool = pool
        self._out = out
        self._tmp = contextlib.ExitStack()
        self._staged: StagedChart | None = None

    @property
    def upstream_releases(self) -> tuple[ChartRelease, ...]:
        """The published releases up to NEW (the change notes between OLD and NEW come from them)."""
        return tuple(r for r in self.listing.releases if r.version <= self.target.version)

    def new_chart(self) -> StagedChart:
        """NEW, fetched from the release the listing named, verified and prepared for vendoring."""
        if self._staged is None:
            if self.target.up_to_date or self.target.release is None:
                raise ValueError(f"{self.target.entry.name}: up to date, there is no NEW chart to fetch")
            entry = self.target.entry
            parse_crds_ahead(self.settings.lock_file.parent / entry.folder)  # OLD's, on another core, while NEW downloads
            folder = self._tmp.enter_context(temp_folder("new-", self.settings.cache_dir))
            self._staged = stage_chart(
                self.settings, name=entry.name, chart=entry.chart, repository=entry.repository,
                version=self.target.release.version.text, staging_parent=folder, out=self._out,
                constraint=entry.constraint, release=self.target.release, sources=self._pool,
            )
            parse_crds_ahead(self._staged.folder)  # NEW's, while the analysis reads the tree
        return self._staged

    def close(self) -> None:
        self._staged = None
        self._tmp.close()


@contextlib.contextmanager
def resolve_upgrade(
    settings: "Settings",
    entry: LockEntry,
    spec: str | None,
    *,
    pool: SourcePool,
    pre: bool = False,
    allow_downgrade: bool = False,
    out: "Output | None" = None,
) -> Iterator[Upgrade]:
    """List `entry`'s chart once from `pool` and resolve `spec` against it (see `target.resolve`)."""
    listing = pool.get(entry.repository).versions(entry.chart)
    up = Upgrade(settings, resolve(entry, spec, listing, pre=pre, allow_downgrade=allow_downgrade), listing, pool, out)
    try:
        yield up
    finally:
        up.close()
