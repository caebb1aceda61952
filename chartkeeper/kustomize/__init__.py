"""Kustomize post-render patches: load `patches/<chart>/kustomization.yaml`, apply it (real binary
or embedded engine), and tell what an upgrade does to each patch."""

from __future__ import annotations

from chartkeeper.kustomize.embedded import PatchEffect
from chartkeeper.kustomize.engine import KustomizeResult, apply_kustomization, sort_manifests
from chartkeeper.kustomize.findings import check_patches, patch_findings
from chartkeeper.kustomize.loader import find_kustomization, load_kustomization
from chartkeeper.kustomize.model import ImageRule, Kustomization, Patch, Target

__all__ = [
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
    "sort_manifests",
]
