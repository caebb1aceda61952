"""The releases that use a pinned chart, per environment, with their effective values (helmfile model)."""

from __future__ import annotations

from typing import Any

from chartkeeper import helmfile
from chartkeeper.lockfile import load_lock
from chartkeeper.settings import Settings


def environments(settings: Settings) -> list[str]:
    if not helmfile.has_state(settings):
        return []
    return list(helmfile.list_environments(settings))


def releases_using(settings: Settings, name: str, env: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(release, namespace, effective override values) of every release of chart `name` in `env`."""
    if not helmfile.has_state(settings):
        return []
    lock = load_lock(settings.lock_file)
    state = helmfile.load_state(settings, env)
    out = []
    for rel in helmfile.releases_for_chart(state, lock, name):
        eff = helmfile.effective_values(state, rel)
        out.append((str(rel.name), str(getattr(rel, "namespace", None) or "default"), dict(eff.values or {})))
    return out
