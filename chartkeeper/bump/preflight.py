"""Checks made before a bump writes anything: a git repository, a clean tree, an untouched vendored chart."""

from __future__ import annotations

import os
from pathlib import Path

from chartkeeper.bump import git as gitops
from chartkeeper.errors import RefusedError
from chartkeeper.lockfile import Lock, LockEntry
from chartkeeper.vendoring.report import chart_report_lines
from chartkeeper.vendoring.verify import CLEAN, NO_CHECKSUM, check_entry

_SHOW = 20


def require_clean(repo: Path) -> None:
    """Refuse when tracked files have staged or unstaged changes, listing them."""
    dirty = gitops.dirty_files(repo)
    if not dirty:
        return
    shown = [f"{d.status.strip() or '?'} {d.path}" for d in dirty[:_SHOW]]
    more = f" (and {len(dirty) - _SHOW} more)" if len(dirty) > _SHOW else ""
    raise RefusedError(
        f"the working tree has uncommitted changes: {', '.join(shown)}{more}",
        hint="commit or stash them first (bump branches from the last commit); "
        "or write into the working tree with --in-place --allow-dirty",
    )


def require_no_drift(lock: Lock, entry: LockEntry, repo_root: Path) -> str | None:
    """Refuse unless the vendored folder matches its lock checksum (`verify`); returns a warning, if any."""
    report = check_entry(lock, entry)
    if report.state == CLEAN:
        return None
    rel = os.path.relpath(lock.folder_of(entry), repo_root)
    if report.state == NO_CHECKSUM:
        return f"{entry.name}: the lock has no treeChecksum, so hand edits in {rel} cannot be detected"
    lines = chart_report_lines(report)
    if len(lines) > _SHOW + 1:
        lines = lines[: _SHOW + 1] + [f"  … and {len(lines) - _SHOW - 1} more"]
    if report.drift is None:  # missing, never vendored, or drift without a manifest naming files
        raise RefusedError(
            "\n".join(lines), hint=f"run `chartkeeper sync {entry.name}` to vendor it as the lock says, then bump"
        )
    raise RefusedError(
        f"{entry.name}: the vendored chart {rel} differs from versions.lock (drift); `chartkeeper verify` says:\n"
        + "\n".join(lines),
        hint=f"a bump replaces the whole folder and would drop these edits: move them into "
        f"patches/{entry.name}/ (kustomize) or values, then `chartkeeper sync {entry.name}` to restore the folder",
    )
