"""Which pinned charts have upgrades: one row per lock entry, sources queried concurrently.

`assess` is the pure part (an entry and its published versions -> a row); `check_entries`
does the I/O: one worker per repository, each repository's index read once, a failing
source recorded on its rows without stopping the others.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Sequence

from chartkeeper.errors import ChartkeeperError
from chartkeeper.lockfile import LockEntry
from chartkeeper.settings import Settings
from chartkeeper.sources.base import ChartRelease, Source, VersionListing
from chartkeeper.sources.factory import open_source
from chartkeeper.versions import ChartVersion, newest, update_kind

MAX_WORKERS = 8

STATUS_CURRENT = "current"
STATUS_UPDATE = "update"  # the constraint allows something newer
STATUS_HELD = "held"  # newer versions exist, but none the constraint allows
STATUS_ERROR = "error"


@dataclass(frozen=True)
class CheckRow:
    name: str
    chart: str
    repository: str  # as the lock spells it (the upstream, even when a mirror answered)
    current: str
    constraint: str | None
    status: str
    wanted: str | None = None
    latest: str | None = None
    update: str | None = None  # kind of current -> wanted: patch/minor/major/prerelease, None when none
    latest_update: str | None = None  # kind of current -> latest
    behind: int = 0  # published versions newer than current (prereleases only with --pre)
    wanted_published: str | None = None
    latest_published: str | None = None
    current_published: bool = True  # False when upstream no longer lists the pinned version
    skipped_invalid: tuple[str, ...] = ()
    error: str | None = None
    error_hint: str | None = None

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "chart": self.chart,
            "repository": self.repository,
            "current": self.current,
            "constraint": self.constraint,
            "wanted": self.wanted,
            "latest": self.latest,
            "update": self.update,
            "latestUpdate": self.latest_update,
            "behind": self.behind,
            "published": {"wanted": self.wanted_published, "latest": self.latest_published},
            "currentPublished": self.current_published,
            "status": self.status,
            "skippedInvalid": len(self.skipped_invalid),
            "error": self.error,
        }


def assess(entry: LockEntry, listing: VersionListing, *, pre: bool = False) -> tuple[CheckRow, ChartRelease | None, ChartRelease | None]:
    """The row for `entry` given what its source publishes; also the wanted and latest releases."""
    current = entry.parsed_version
    constraint = entry.parsed_constraint
    by_version = {r.version: r for r in listing.releases}
    versions: list[ChartVersion] = list(by_version)
    latest = newest(versions, None, pre=pre)
    # No constraint: anything newer is wanted. Never propose a downgrade (e.g. a pinned prerelease).
    wanted = newest(versions, constraint, pre=pre) if constraint is not None else latest
    if wanted is None or wanted < current:
        wanted = current
    if latest is None or latest < current:
        latest = current
    behind = sum(1 for v in versions if v > current and v <= latest and (pre or not v.is_prerelease))
    kind = update_kind(current, wanted)
    latest_kind = update_kind(current, latest)
    status = STATUS_UPDATE if wanted > current else STATUS_HELD if latest > current else STATUS_CURRENT
    wanted_rel = by_version.get(wanted)
    latest_rel = by_version.get(latest)
    row = CheckRow(
        name=entry.name,
        chart=entry.chart,
        repository=entry.repository,
        current=entry.version,
        constraint=entry.constraint,
        status=status,
        wanted=str(wanted_rel.version) if wanted_rel else entry.version,
        latest=str(latest_rel.version) if latest_rel else entry.version,
        update=kind if kind not in ("none", "downgrade") else None,
        latest_update=latest_kind if latest_kind not in ("none", "downgrade") else None,
        behind=behind,
        wanted_published=wanted_rel.created if wanted_rel else None,
        latest_published=latest_rel.created if latest_rel else None,
        current_published=current in by_version,
        skipped_invalid=listing.skipped_invalid,
    )
    return row, wanted_rel, latest_rel


def _error_row(entry: LockEntry, exc: ChartkeeperError) -> CheckRow:
    return CheckRow(
        name=entry.name,
        chart=entry.chart,
        repository=entry.repository,
        current=entry.version,
        constraint=entry.constraint,
        status=STATUS_ERROR,
        error=exc.message,
        error_hint=exc.hint,
    )


def _with_dates(source: Source, row: CheckRow, wanted: ChartRelease | None, latest: ChartRelease | None) -> CheckRow:
    """OCI tag lists carry no dates: ask for the two releases the row shows. Dates are
    information, not the verdict, so a release that cannot be described keeps its row."""
    described: dict[ChartVersion, ChartRelease] = {}
    for rel in (wanted, latest):
        if rel is None or rel.created is not None or rel.version in described:
            continue
        try:
            described[rel.version] = source.describe(rel)
        except ChartkeeperError:
            described[rel.version] = rel
    if wanted is not None and wanted.version in described:
        row = replace(row, wanted_published=described[wanted.version].created)
    if latest is not None and latest.version in described:
        row = replace(row, latest_published=described[latest.version].created)
    return row


def _check_repository(
    repository: str, entries: Sequence[LockEntry], settings: Settings, pre: bool, opener: Callable[[str, Settings], Source]
) -> list[CheckRow]:
    try:
        source = opener(repository, settings)
    except ChartkeeperError as exc:
        return [_error_row(e, exc) for e in entries]
    rows: list[CheckRow] = []
    try:
        for entry in entries:
            try:
                row, wanted, latest = assess(entry, source.versions(entry.chart), pre=pre)
                row = _with_dates(source, row, wanted, latest)
                rows.append(row)
            except ChartkeeperError as exc:
                rows.append(_error_row(entry, exc))
    finally:
        source.close()
    return rows


def check_entries(
    entries: Iterable[LockEntry],
    settings: Settings,
    *,
    pre: bool = False,
    opener: Callable[[str, Settings], Source] = open_source,
) -> list[CheckRow]:
    """Rows in the order of `entries`; each repository is asked once, repositories in parallel."""
    entries = list(entries)
    groups: dict[str, list[LockEntry]] = {}
    for e in entries:
        groups.setdefault(e.repository.rstrip("/"), []).append(e)
    by_name: dict[str, CheckRow] = {}
    if not groups:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(groups)), thread_name_prefix="check") as pool:
        futures = [pool.submit(_check_repository, repo, group, settings, pre, opener) for repo, group in groups.items()]
        for fut in futures:
            for row in fut.result():
                by_name[row.name] = row
    return [by_name[e.name] for e in entries]


@dataclass(frozen=True)
class Summary:
    total: int
    updates: int
    held: int
    errors: int
    rows: tuple[CheckRow, ...] = field(default=())


def summarize(rows: Sequence[CheckRow]) -> Summary:
    return Summary(
        total=len(rows),
        updates=sum(1 for r in rows if r.status == STATUS_UPDATE),
        held=sum(1 for r in rows if r.status == STATUS_HELD),
        errors=sum(1 for r in rows if r.status == STATUS_ERROR),
        rows=tuple(rows),
    )
