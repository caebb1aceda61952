"""Picking environments and releases for the `releases`, `values` and `env-diff` commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from chartkeeper.errors import InputError
from chartkeeper.helmfile import list_environments, releases_for_chart
from chartkeeper.helmfile.model import HelmfileState, Release
from chartkeeper.helmfile.values import register_state_secrets
from chartkeeper.lockfile import load_lock

if TYPE_CHECKING:
    from chartkeeper.lockfile import Lock
    from chartkeeper.settings import Settings


def resolve_env(settings: "Settings", env: str | None) -> str:
    names = list_environments(settings)
    if env is None:
        if len(names) == 1:
            return names[0]
        raise InputError(f"several environments are defined ({', '.join(names)}): choose one with --env")
    return env


def lock_of(settings: "Settings") -> "Lock":
    return load_lock(settings.lock_file, missing_ok=True)


def chart_kind(release: Release, lock: "Lock", root: Path) -> str:
    """The lock entry a release deploys, or `custom` (a local chart outside the lock's folder),
    `unpinned` (inside it, or fetched from a repository at deploy time)."""
    if release.chart_path is None:
        return "unpinned"
    target = release.chart_path.resolve()
    for e in lock.entries:
        if lock.folder_of(e).resolve() == target:
            return e.name
    lock_root = lock.root.resolve() if lock.path else None
    if lock_root is not None and (target == lock_root or lock_root in target.parents):
        return "unpinned"
    return "custom"


def releases_matching(state: HelmfileState, lock: "Lock", chart: str) -> list[Release]:
    """Releases for CHART: a lock entry name, `NAMESPACE/NAME` (as `releases` prints a release), a
    release name, a chart folder name or `chart:` as written."""

    ns, sep, name = chart.partition("/")
    if sep and ns and name and "/" not in name:
        found = [r for r in state.releases if r.namespace == ns and r.name == name]
        if found:
            return found
    if lock.get(chart) is not None:
        found = releases_for_chart(state, lock, chart)
        if found:
            return found
    found = [r for r in state.releases if r.name == chart]
    if found:
        return found
    found = [r for r in state.releases if r.chart == chart or (r.chart_path is not None and r.chart_path.name == chart)]
    if found:
        return found
    known = ", ".join(sorted({r.name for r in state.releases})) or "none"
    raise InputError(f"no release uses chart {chart!r} in environment {state.environment!r} (releases: {known})")


