"""Kustomize post-render patches: find the kustomization a release's post-renderer applies, apply it
(real binary or embedded engine, one per comparison), and tell what an upgrade does to each patch."""

from __future__ import annotations

from chartkeeper.kustomize.embedded import PatchEffect
from chartkeeper.kustomize.engine import ENV_VAR, Engine, KustomizeResult, apply_kustomization, apply_pair, select_engine, sort_manifests
from chartkeeper.kustomize.findings import check_patches, patch_findings
from chartkeeper.kustomize.loader import find_kustomization, load_kustomization
from chartkeeper.kustomize.model import ImageRule, Kustomization, Patch, Target
from chartkeeper.kustomize.wiring import release_kustomization, wired_kustomizations

__all__ = [
    "ENV_VAR",
    "Engine",
    "apply_pair",
    "select_engine",
    "ImageRule",
    "KustomizeResult",
    "Kustomization",
    "Patch",
    "PatchEffect",
    "Target",
    "apply_kustomization",
    "check_patches",
    "find_kustomization",
    "load_kustomization",
    "patch_findings",
    "release_kustomization",
    "sort_manifests",
    "wired_kustomizations",
]
