"""Which kustomization a helmfile release's post-renderer applies.

The helmfile says it: `postRenderer:` runs a script and `postRendererArgs:` passes it the folder of
the kustomization (`[patches/gpu-operator]`). Only a release of a vendored chart that has no
post-renderer at all falls back to `<patches>/<chart>/` (so that `lint` can say the folder is not
wired, and `diff` can still show what it would do). A local chart's folder name says nothing about
which patches belong to it: two charts in folders of the same name are different charts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chartkeeper.kustomize.loader import find_kustomization


def wired_kustomizations(release: Any) -> list[Path]:
    """Folders holding a kustomization among the release's `postRendererArgs` (relative to its helmfile)."""
    if not getattr(release, "post_renderer", None):
        return []
    out: list[Path] = []
    base = Path(getattr(release, "base_dir", "."))
    for arg in tuple(getattr(release, "post_renderer_args", ()) or ()):
        candidate = Path(arg) if Path(arg).is_absolute() else base / arg
        if candidate.is_file() and candidate.parent.is_dir() and find_kustomization(candidate.parent) == candidate:
            candidate = candidate.parent  # the kustomization file itself was passed
        if candidate.is_dir() and find_kustomization(candidate) is not None and candidate not in out:
            out.append(candidate)
    return out


def release_kustomization(release: Any, patches_root: Path, vendored_chart: str | None) -> Path | None:
    """The kustomization folder the release's post-renderer applies; for a release of vendored chart
    `vendored_chart` with no post-renderer, `<patches_root>/<vendored_chart>/` when it holds one."""
    if getattr(release, "post_renderer", None):
        wired = wired_kustomizations(release)
        return wired[0] if wired else None
    if vendored_chart:
        candidate = Path(patches_root) / vendored_chart
        if candidate.is_dir() and find_kustomization(candidate) is not None:
            return candidate
    return None
