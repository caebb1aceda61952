"""`apply_kustomization` / `apply_pair`: the post-render pass, with a real kustomize binary or the
embedded engine.

The embedded engine always runs: it explains per patch what matched and what changed, which a
binary cannot. With a binary, the manifests come from the binary, so what is analysed is exactly
what `kubectl kustomize` produces. `CHARTKEEPER_KUSTOMIZE` (or the `engine` argument) chooses:
`embedded`, `kubectl`, `kustomize`, or `auto` (the default: a kubectl or kustomize on PATH whose
kustomize is v5 or later, else embedded). The binary's kustomize version is checked and is part of
the engine label reports show; the binary's own error output is never put in a report.

An upgrade compares OLD and NEW patched by the same engine (`apply_pair`): when the binary fails on
one side, both sides are patched by the embedded engine and the result says why.
"""

from __future__ import annotations

import os
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

ENV_VAR = "CHARTKEEPER_KUSTOMIZE"
ENGINES = ("auto", "embedded", "kubectl", "kustomize", "binary")  # "binary": any supported binary, required


@dataclass(frozen=True)
class Engine:
    """What patches the manifests of a run: a binary, or the embedded engine (`binary` None)."""

    binary: _binary.Binary | None
    note: str | None = None  # why `auto` left a binary it found unused

    @property
    def label(self) -> str:
        return self.binary.label if self.binary else "embedded"


def select_engine(mode: str | None = None) -> Engine:
    """The engine for `mode` (default: `$CHARTKEEPER_KUSTOMIZE`, else auto). Raises `InputError` for an
    unknown mode, or a binary asked for by name that is missing or has a kustomize older than v5."""
    from_env = mode is None
    mode = (os.environ.get(ENV_VAR) or "auto").strip() if from_env else mode
    where = f"{ENV_VAR}={mode}" if from_env else f"kustomize engine {mode!r}"
    if mode not in ENGINES:
        raise InputError(f"unknown {where} (expected one of embedded, kubectl, kustomize, auto)")
    if mode == "embedded":
        return Engine(None)
    if mode in ("kubectl", "kustomize"):
        tool = _binary.find_tool(mode)
        if tool is None:
            raise InputError(f"{where}: no working `{mode}` on PATH", hint=f"install it, or set {ENV_VAR}=embedded")
        if not tool.supported:
            raise InputError(f"{where}: {tool.unsupported_reason}", hint=f"put a newer {mode} first on PATH, or set {ENV_VAR}=embedded")
        return Engine(tool)
    found = _binary.find_binary()
    if found is not None:
        return Engine(found)
    if mode == "binary":
        raise InputError("no `kubectl` or `kustomize` binary on PATH (engine 'binary' was asked for)")
    skipped = [t.unsupported_reason for k in ("kubectl", "kustomize") if (t := _binary.find_tool(k)) is not None]
    note = f"not used: {'; '.join(r for r in skipped if r)}" if skipped else None
    return Engine(None, note)


def _engine(engine: "str | Engine | None") -> Engine:
    return engine if isinstance(engine, Engine) else select_engine(engine)


@dataclass(frozen=True)
class KustomizeResult:
    manifests: list[dict[str, Any]]  # patched, in the input order (resources a patch adds or keeps come after)
    engine: str  # "embedded" or e.g. "kubectl 1.35.2 (kustomize v5.7.1)"
    effects: tuple[PatchEffect, ...]  # one per step, in the order applied
    warnings: tuple[str, ...] = field(default=())
    build_error: str | None = None  # set when `kustomize build` would fail on these manifests (our words)
    note: str | None = None  # why the engine is not the one asked for (a fallback, a binary left unused)
    tool_error: str | None = field(default=None, compare=False)  # the binary's own error: logs and tests only

    @property
    def failed(self) -> bool:
        return self.build_error is not None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"engine": self.engine, "effects": [e.to_json() for e in self.effects]}
        if self.warnings:
            d["warnings"] = list(self.warnings)
        if self.build_error:
            d["buildError"] = self.build_error
        if self.note:
            d["note"] = self.note
        return d


def sort_manifests(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """kind/namespace/name order: kustomize reorders its output, so compare in this order."""
    return sorted(manifests, key=lambda m: resource_id(m).sort_key)


def _like(output: list[dict[str, Any]], reference: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`output` in the order of `reference` (by resource id); unknown ids keep their order at the end."""
    rank = {str(resource_id(m)): i for i, m in enumerate(reference)}
    return sorted(output, key=lambda m: rank.get(str(resource_id(m)), len(rank)))


def _embedded(manifests: list[dict[str, Any]], kz: Kustomization, namespace: str) -> KustomizeResult:
    out, effects, _ = embedded.run(manifests, kz, namespace=namespace, scopes=Scopes.of(manifests))
    errors = [f"{e.step.describe()}: {e.error}" for e in effects if e.error]
    return KustomizeResult(out, "embedded", tuple(effects), kz.warnings, errors[0] if errors else None)


def apply_kustomization(
    manifests: list[dict[str, Any]],
    kustomization_dir: Path,
    *,
    engine: "str | Engine | None" = None,
    root: Path | None = None,
    kustomization: Kustomization | None = None,
    namespace: str = "",
) -> KustomizeResult:
    """Apply `kustomization_dir`'s kustomization to rendered `manifests` (the input is not modified).

    `engine`: a mode (see `select_engine`; None reads `$CHARTKEEPER_KUSTOMIZE`) or a selected `Engine`.
    Raises `InputError` for a malformed kustomization or patch file or a bad engine choice. A patch
    that kustomize would refuse on these manifests (a missing target, a failing JSON 6902 op) is not
    raised: it is in `build_error` and in the step's `PatchEffect.error`, and the other patches still
    apply. When the binary fails, the embedded result is returned and `note` says so.
    """
    eng = _engine(engine)
    kz = kustomization or load_kustomization(Path(kustomization_dir), root=root)
    emb = _embedded(manifests, kz, namespace)
    if eng.binary is None:
        return _noted(emb, eng.note)
    real, error = _binary.run_binary(eng.binary, manifests, kz)
    if real is None:
        why = "" if emb.build_error else " where the embedded engine sees no error"
        return _noted(emb, f"{eng.label} failed{why}: patched with the embedded engine", error)
    return KustomizeResult(_like(real, manifests), eng.label, emb.effects, kz.warnings, emb.build_error)


def _noted(result: KustomizeResult, note: str | None, tool_error: str | None = None) -> KustomizeResult:
    if not note and not tool_error:
        return result
    return KustomizeResult(result.manifests, result.engine, result.effects, result.warnings, result.build_error,
                           note, tool_error)


def apply_pair(
    old: list[dict[str, Any]],
    new: list[dict[str, Any]],
    kustomization_dir: Path,
    *,
    engine: "str | Engine | None" = None,
    root: Path | None = None,
    namespace: str = "",
) -> tuple[KustomizeResult, KustomizeResult]:
    """OLD and NEW patched by the same engine, so that comparing them compares the chart, not engines.

    When the binary fails on either side, both sides are the embedded engine's, and both results'
    `note` says which side failed (in our words: the embedded engine's explanation when it has one,
    never the binary's error output).
    """
    eng = _engine(engine)
    kz = load_kustomization(Path(kustomization_dir), root=root)
    emb_old, emb_new = _embedded(old, kz, namespace), _embedded(new, kz, namespace)
    if eng.binary is None:
        return _noted(emb_old, eng.note), _noted(emb_new, eng.note)
    real_old, err_old = _binary.run_binary(eng.binary, old, kz)
    real_new, err_new = _binary.run_binary(eng.binary, new, kz)
    if real_old is not None and real_new is not None:
        return (KustomizeResult(_like(real_old, old), eng.label, emb_old.effects, kz.warnings, emb_old.build_error),
                KustomizeResult(_like(real_new, new), eng.label, emb_new.effects, kz.warnings, emb_new.build_error))
    sides = []
    for side, real, emb in (("OLD", real_old, emb_old), ("NEW", real_new, emb_new)):
        if real is None:
            sides.append(f"{side} ({emb.build_error})" if emb.build_error else f"{side} (the embedded engine sees no error)")
    note = (f"{eng.label} failed on {' and '.join(sides)}: OLD and NEW were both patched with the embedded engine, "
            "so that they compare like for like")
    tool_error = "; ".join(e for e in (err_old, err_new) if e)
    return _noted(emb_old, note, tool_error), _noted(emb_new, note, tool_error)
