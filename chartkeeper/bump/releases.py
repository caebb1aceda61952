"""The releases that use a pinned chart, per environment, with their effective values (helmfile model)."""

from __future__ import annotations

from typing import Any

from chartkeeper.lockfile import load_lock
from chartkeeper.settings import Settings


def _model() -> Any:
    try:
        from chartkeeper import helmfile
    except ImportError:  # pragma: no cover - the model ships with chartkeeper; kept for partial builds
        return None
    return helmfile


def environments(settings: Settings) -> list[str]:
    model = _model()
    if model is None or not settings.helmfile_file.exists():
        return []
    return list(model.list_environments(settings))


def releases_using(settings: Settings, name: str, env: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(release, namespace, effective override values) of every release of chart `name` in `env`."""
    model = _model()
    if model is None or not settings.helmfile_file.exists():
        return []
    lock = load_lock(settings.lock_file)
    state = model.load_state(settings, env)
    out = []
    for rel in model.releases_for_chart(state, lock, name):
        eff = model.effective_values(state, rel)
        out.append((str(rel.name), str(getattr(rel, "namespace", None) or "default"), dict(eff.values or {})))
    return out
