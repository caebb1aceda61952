"""`apply_kustomization`: the post-render pass, with a real kustomize binary or the embedded engine.

The embedded engine always runs: it explains per patch what matched and what changed, which a
binary cannot. With a binary (engine "auto" when one is on PATH, or "binary"), the manifests come
from the binary, so what is analysed is exactly what `kubectl kustomize` produces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chartkeeper.errors import InputError
from chartkeeper.kustomize import binary as _binary
from chartkeeper.kustomize import embedded
from chartkeeper.kustomize.embedded import PatchEffect
from chartkeeper.kustomize.loader import load_kustomization
from chartkeeper.kustomize.model import Kustomization
from chartkeeper.kustomize.selectors import resource_id
from chartkeeper.resources import Scopes

ENGINES = ("auto", "embedded", "binary")


@dataclass(frozen=True)
class KustomizeResult:
    manifests: list[dict[str, Any]]  # patched, in the input order (resources a patch adds or keeps come after)
    engine: str  # "embedded" or e.g. "kubectl 1.35.2 (kustomize v5.7.1)"
    effects: tuple[PatchEffect, ...]  # one per step, in the order applied
    warnings: tuple[str, ...] = field(default=())
    build_error: str | None = None  # set when `kustomize build` would fail on these manifests

    @property
    def failed(self) -> bool:
        return self.build_error is not None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"engine": self.engine, "effects": [e.to_json() for e in self.effects]}
        if self.warnings:
            d["warnings"] = list(self.warnings)
        if self.build_error:
            d["buildError"] = self.build_error
        return d


def sort_manifests(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """kind/namespace/name order: kustomize reorders its output, so compare in this order."""
    return sorted(manifests, key=lambda m: resource_id(m).sort_key)


def _like(output: list[dict[str, Any]], reference: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`output` in the order of `reference` (by resource id); unknown ids keep their order at the end."""
    rank = {str(resource_id(m)): i for i, m in enumerate(reference)}
    return sorted(output, key=lambda m: rank.get(str(resource_id(m)), len(rank)))


def apply_kustomization(
    manifests: list[dict[str, Any]],
    kustomization_dir: Path,
    *,
    engine: str = "auto",
    root: Path | None = None,
    kustomization: Kustomization | None = None,
    namespace: str = "",
) -> KustomizeResult:
    """Apply `kustomization_dir`'s kustomization to rendered `manifests` (the input is not modified).

    Raises `InputError` for a malformed kustomization or patch file, an unknown engine, or a
    binary that fails where the embedded engine sees no reason to. A patch that kustomize would
    refuse on these manifests (a missing target, a failing JSON 6902 op) is not raised: it is in
    `build_error` and in the step's `PatchEffect.error`, and the other patches still apply.
    """
    if engine not in ENGINES:
        raise InputError(f"unknown kustomize engine {engine!r} (expected one of {', '.join(ENGINES)})")
    kz = kustomization or load_kustomization(Path(kustomization_dir), root=root)
    out, effects, _ = embedded.run(manifests, kz, namespace=namespace, scopes=Scopes.of(manifests))
    errors = [f"{e.step.describe()}: {e.error}" for e in effects if e.error]
    embedded_error = errors[0] if errors else None

    tool = _binary.find_binary() if engine in ("auto", "binary") else None
    if engine == "binary" and tool is None:
        raise InputError("no `kubectl` or `kustomize` binary on PATH (engine 'binary' was asked for)")
    if tool is None:
        return KustomizeResult(out, "embedded", tuple(effects), kz.warnings, embedded_error)

    real, error = _binary.run_binary(tool, manifests, kz)
    if real is None:
        if embedded_error is None:
            raise InputError(f"{kz.path}: {tool.label} failed: {error}")
        return KustomizeResult(
            out, f"embedded ({tool.label} failed)", tuple(effects), kz.warnings, f"{tool.label}: {error}"
        )
    return KustomizeResult(_like(real, manifests), tool.label, tuple(effects), kz.warnings, embedded_error)
