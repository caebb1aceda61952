"""Checks made before a bump writes anything: a git repository, a clean tree, an untouched vendored chart."""

from __future__ import annotations

import os
from pathlib import Path

from chartkeeper import gitops
from chartkeeper.errors import RefusedError
from chartkeeper.lockfile import Lock, LockEntry

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
    """Refuse when the vendored folder differs from its lock checksum; returns a warning, if any."""
    from chartkeeper.vendor import treesum

    folder = lock.folder_of(entry)
    rel = os.path.relpath(folder, repo_root)
    if not folder.is_dir():
        raise RefusedError(
            f"{entry.name}: the vendored folder {rel} is missing",
            hint=f"run `chartkeeper sync {entry.name}` to restore it from the lock first",
        )
    if entry.tree_checksum is None:
        return f"{entry.name}: the lock has no treeChecksum, so hand edits in {rel} cannot be detected"
    actual = treesum.tree_manifest(folder)
    if treesum.checksum_of_manifest(actual) == entry.tree_checksum:
        return None
    stored = treesum.read_manifest(lock.root, entry.name, entry.tree_checksum)
    lines = [f"{entry.name}: the vendored chart {rel} differs from its lock checksum (drift)"]
    if stored is not None:
        drift = treesum.diff_manifests(stored, actual)
        for label, paths in (("modified", drift.modified), ("added", drift.added), ("removed", drift.removed)):
            lines += [f"  {label}: {rel}/{p}" for p in paths[:_SHOW]]
            if len(paths) > _SHOW:
                lines.append(f"  … and {len(paths) - _SHOW} more {label}")
    else:
        lines.append(f"  expected {entry.tree_checksum}, found {treesum.checksum_of_manifest(actual)}")
    raise RefusedError(
        "\n".join(lines),
        hint=f"a bump replaces the whole folder and would drop these edits: move them into "
        f"patches/{entry.name}/ (kustomize) or values, then `chartkeeper sync {entry.name}`",
    )
