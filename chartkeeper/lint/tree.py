"""The lock and the vendored folders agree; nothing is pinned or patched that no release uses."""

from __future__ import annotations

from pathlib import Path

from chartkeeper.findings import Severity
from chartkeeper.lint.context import LintContext
from chartkeeper.lockfile import Lock, LockEntry


def check_lock_folders(ctx: LintContext) -> None:
    root = ctx.lock.root
    owned = {ctx.lock.folder_of(e).resolve(): e for e in ctx.lock.entries}
    for entry in ctx.lock.entries:
        folder = ctx.lock.folder_of(entry)
        if not folder.exists():
            ctx.add(
                "lint.not-vendored",
                Severity.INFO,
                f"{entry.name} {entry.version} is pinned but not vendored yet ({ctx.rel(folder)}/ is missing); "
                "run `chartkeeper sync` on a connected machine",
                path=entry.name,
                file=ctx.rel(ctx.settings.lock_file),
            )
        elif not (folder / "Chart.yaml").is_file():
            ctx.add(
                "lint.vendored-invalid",
                Severity.BREAKING,
                f"{ctx.rel(folder)}/ is {entry.name}'s vendored folder but holds no Chart.yaml; re-run `chartkeeper sync {entry.name}`",
                path=entry.name,
            )
    if not root.is_dir():
        return
    for child in sorted(root.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        if child.resolve() not in owned:
            ctx.add(
                "lint.stale-folder",
                Severity.REVIEW,
                f"{ctx.rel(child)}/ is not owned by any versions.lock entry (left over from an upgrade, or "
                "vendored by hand); remove it or pin it",
                file=ctx.rel(child),
            )


def entry_for_folder(lock: Lock, folder: Path) -> LockEntry | None:
    target = folder.resolve()
    for e in lock.entries:
        if lock.folder_of(e).resolve() == target:
            return e
    return None


def check_unused(ctx: LintContext) -> None:
    for entry in ctx.lock.entries:
        if entry.name not in ctx.used_pins:
            ctx.add(
                "lint.unused-pin",
                Severity.REVIEW,
                f"{entry.name} {entry.version} is pinned in versions.lock but no release uses "
                f"{ctx.rel(ctx.lock.folder_of(entry))}/; remove the pin or add the release",
                path=entry.name,
                file=ctx.rel(ctx.settings.lock_file),
            )
    patches_root = ctx.settings.path(ctx.settings.patches_dir)
    if not patches_root.is_dir():
        return
    for folder in sorted(p for p in patches_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (folder / "kustomization.yaml").is_file():
            continue
        if folder.resolve() in ctx.wired_patches:
            continue
        if folder.name in ctx.charts_with_releases:
            ctx.add(
                "lint.patch-not-wired",
                Severity.REVIEW,
                f"{ctx.rel(folder)}/ patches chart {folder.name}, but no release of it runs the post-renderer "
                "(`postRenderer:` + `postRendererArgs:`), so the patches are never applied",
                file=ctx.rel(folder / "kustomization.yaml"),
            )
        else:
            ctx.add(
                "lint.patch-orphan",
                Severity.REVIEW,
                f"{ctx.rel(folder)}/ patches {folder.name}, which is neither a pinned chart nor a custom chart with a release",
                file=ctx.rel(folder / "kustomization.yaml"),
            )
