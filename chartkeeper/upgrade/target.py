"""Which version a bump moves to: an exact version, a constraint, or the newest the lock allows."""

from __future__ import annotations

from dataclasses import dataclass

from chartkeeper.errors import InputError, RefusedError
from chartkeeper.lockfile import LockEntry
from chartkeeper.sources.base import ChartRelease, VersionListing
from chartkeeper.versions import ChartVersion, Constraint, newest, update_kind


@dataclass(frozen=True)
class Target:
    entry: LockEntry
    current: ChartVersion
    version: ChartVersion  # equals `current` when there is nothing to do
    release: ChartRelease | None  # the published release of `version` (None when up to date)
    kind: str  # major/minor/patch/prerelease/none/downgrade (versions.update_kind)
    asked: str | None  # the user's spec, or None for "newest the lock's constraint allows"

    @property
    def up_to_date(self) -> bool:
        return self.kind == "none"


def _published(listing: VersionListing) -> list[ChartVersion]:
    return [r.version for r in listing.releases]


def _why_none(entry: LockEntry, spec: str, listing: VersionListing, pre: bool) -> str:
    versions = sorted(_published(listing), reverse=True)
    stable = [v for v in versions if not v.is_prerelease]
    shown = ", ".join(str(v) for v in (stable or versions)[:5]) or "none"
    msg = f"{entry.name}: no published version of {entry.chart} matches {spec!r} (newest: {shown})"
    skipped_pre = [v for v in versions if v.is_prerelease]
    if skipped_pre and not pre:
        msg += f"; {len(skipped_pre)} prerelease(s) skipped, add --pre to consider them"
    return msg


def resolve(
    entry: LockEntry,
    spec: str | None,
    listing: VersionListing,
    *,
    pre: bool = False,
    allow_downgrade: bool = False,
) -> Target:
    """The target of bumping `entry` to `spec` (a version or constraint; None = lock's constraint)."""
    current = entry.parsed_version
    by_version = {r.version: r for r in listing.releases}
    versions = list(by_version)

    if spec is None or not spec.strip():
        constraint = entry.parsed_constraint
        best = newest(versions, constraint, pre=pre)
        if best is None or best <= current:
            # Nothing newer inside the constraint (a pin ahead of the constraint is not a reason to go back).
            return Target(entry, current, current, None, "none", None)
        return Target(entry, current, best, by_version[best], update_kind(current, best), None)

    spec = spec.strip()
    exact = ChartVersion.try_parse(spec)
    if exact is not None:
        match = next((v for v in versions if v == exact), None)
        if match is None:
            if exact == current:
                return Target(entry, current, current, None, "none", spec)
            raise InputError(_why_none(entry, spec, listing, True))
        target = match
    else:
        constraint = Constraint.parse(spec)
        found = newest(versions, constraint, pre=pre)
        if found is None:
            if constraint.allows(current, pre=True):
                return Target(entry, current, current, None, "none", spec)
            raise InputError(_why_none(entry, spec, listing, pre))
        target = found
    kind = update_kind(current, target)
    if kind == "none":
        return Target(entry, current, current, None, "none", spec)
    if kind == "downgrade" and not allow_downgrade:
        raise RefusedError(
            f"{entry.name}: {spec!r} resolves to {target}, older than the pinned {entry.version}",
            hint="add --allow-downgrade to go back on purpose",
        )
    return Target(entry, current, target, by_version[target], kind, spec)
