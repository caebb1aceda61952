"""Which version a bump goes to."""

from __future__ import annotations

import pytest

from chartkeeper.upgrade.target import resolve
from chartkeeper.errors import InputError, RefusedError
from chartkeeper.lockfile import LockEntry
from chartkeeper.sources.base import ChartRelease, VersionListing
from chartkeeper.versions import ChartVersion


def listing(*versions: str) -> VersionListing:
    return VersionListing(tuple(ChartRelease("gpu-operator", ChartVersion.parse(v)) for v in versions))


PUBLISHED = listing("v24.9.2", "v25.3.0", "v25.3.2", "v25.10.0", "v25.10.1-rc.1", "v26.3.0", "25.11.0")
ENTRY = LockEntry("gpu-operator", "gpu-operator", "https://charts.example.invalid", "v25.3.2", constraint="v25.x")


def test_none_means_newest_inside_the_constraint() -> None:
    t = resolve(ENTRY, None, PUBLISHED)
    assert str(t.version) == "25.11.0" and t.kind == "minor" and t.release is not None


def test_constraint_and_exact_and_prefix_spelling() -> None:
    assert str(resolve(ENTRY, "~25.10", PUBLISHED).version) == "v25.10.0"
    assert str(resolve(ENTRY, "v26.3.0", PUBLISHED).version) == "v26.3.0"
    assert str(resolve(ENTRY, "26.3.0", PUBLISHED).version) == "v26.3.0"  # published spelling is kept
    assert str(resolve(ENTRY, "~25.10", PUBLISHED, pre=True).version) == "v25.10.1-rc.1"


def test_already_there() -> None:
    assert resolve(ENTRY, "v25.3.2", PUBLISHED).up_to_date
    assert resolve(ENTRY.with_changes(version="25.11.0"), None, PUBLISHED).up_to_date


def test_downgrade_refused_unless_allowed() -> None:
    with pytest.raises(RefusedError, match="older than the pinned"):
        resolve(ENTRY, "v24.9.2", PUBLISHED)
    assert resolve(ENTRY, "v24.9.2", PUBLISHED, allow_downgrade=True).kind == "downgrade"


def test_nothing_matches_names_what_exists() -> None:
    with pytest.raises(InputError, match=r"matches 'v27.x' \(newest: v26.3.0"):
        resolve(ENTRY, "v27.x", PUBLISHED)
    with pytest.raises(InputError, match="v25.3.9"):
        resolve(ENTRY, "v25.3.9", PUBLISHED)
