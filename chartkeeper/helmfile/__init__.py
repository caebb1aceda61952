"""The helmfile model: which releases use each vendored chart, and what each environment sets.

Public interface (used by `diff`, `bump`, lint and the analysis):

    list_environments(settings) -> list[str]
    load_state(settings, env) -> HelmfileState
    effective_values(state, release) -> EffectiveValues
    releases_for_chart(state, lock, entry_name) -> list[Release]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from chartkeeper.errors import InputError
from chartkeeper.helmfile import binary, gotmpl, state, values
from chartkeeper.helmfile.envs import environment_names
from chartkeeper.helmfile.model import EffectiveValues, HelmfileState, Release, SetEntry, ValuesEntry
from chartkeeper.helmfile.templated import Templated, templated_values
from chartkeeper.helmfile.state import StateLoader
from chartkeeper.helmfile.values import effective_values

if TYPE_CHECKING:
    from chartkeeper.lockfile import Lock
    from chartkeeper.settings import Settings

__all__ = [
    "EffectiveValues",
    "clear_caches",
    "HelmfileState",
    "Release",
    "SetEntry",
    "Templated",
    "ValuesEntry",
    "effective_values",
    "entry_file",
    "has_state",
    "list_environments",
    "load_state",
    "releases_for_chart",
    "templated_overrides",
]


def clear_caches() -> None:
    """Forget parsed and rendered files (they are keyed by content, so this is only for measuring),
    and what the helmfile binary said (`helmfile build`, a failed fallback), as a new process would."""
    state._PARSED.clear()
    state._PARTS.clear()
    gotmpl._RENDERED.clear()
    gotmpl._REWRITTEN.clear()
    gotmpl._HELPERS.clear()
    gotmpl._CTX_KEYS.clear()
    gotmpl._TIMED_OUT.clear()
    binary._build_cached.cache_clear()
    values._BINARY_FAILED.clear()


def entry_file(settings: "Settings") -> Path:
    """The configured helmfile, its `.gotmpl` twin when only that exists, or — as helmfile does
    when there is no `helmfile.yaml` — the `helmfile.d/` folder next to it."""
    f = settings.helmfile_file
    if f.is_file():
        return f
    for alt in (f.with_name(f.name + ".gotmpl"), f.with_name(f.name.removesuffix(".gotmpl"))):
        if alt != f and alt.is_file():
            return alt
    if f.is_dir():
        for name in ("helmfile.yaml", "helmfile.yaml.gotmpl"):
            if (f / name).is_file():
                return f / name
        if (f / "helmfile.d").is_dir():
            return f / "helmfile.d"
        return f
    if (f.parent / "helmfile.d").is_dir():
        return f.parent / "helmfile.d"
    raise InputError(f"{settings.helmfile_path}: helmfile not found", hint="set `helmfile:` in chartkeeper.yaml")


def has_state(settings: "Settings") -> bool:
    """A helmfile state exists where `entry_file` looks for one."""
    try:
        entry_file(settings)
    except InputError:
        return False
    return True


def load_state(settings: "Settings", env: str) -> HelmfileState:
    return StateLoader(settings.root, env).load(entry_file(settings))


def list_environments(settings: "Settings") -> list[str]:
    return environment_names(settings.root, entry_file(settings))


def unknown_environments(unknown: list[str], known: list[str]) -> InputError:
    """The one wording for environments the helmfile does not define."""
    return InputError(f"unknown environment(s) {', '.join(unknown)} (the helmfile defines: {', '.join(known) or 'none'})")


def wanted_environments(settings: "Settings", envs: "list[str] | tuple[str, ...] | None") -> list[str]:
    """The environments asked for (all the helmfile defines when none), refusing unknown ones before any work."""
    known = list_environments(settings)
    wanted = list(envs or known or ["default"])
    unknown = [e for e in wanted if known and e not in known]
    if unknown:
        raise unknown_environments(unknown, known)
    return wanted


def releases_for_chart(state: HelmfileState, lock: "Lock", entry_name: str) -> list[Release]:
    """The releases whose local `chart:` is the vendored folder of lock entry `entry_name`."""
    entry = lock.require(entry_name)
    folder = lock.folder_of(entry)
    if not folder.is_absolute():
        folder = state.root / folder
    folder = folder.resolve()
    return [r for r in state.releases if r.chart_path is not None and r.chart_path.resolve() == folder]


def templated_overrides(state: HelmfileState, values: EffectiveValues) -> dict[tuple, Templated]:
    """The release's overrides whose value a template decides, with the environment values it reads."""
    rel = values.release
    env_values = {**dict(rel.environment_values or {}), **dict(rel.state_values or {})}
    return templated_values(state.root, values.provenance, env_values)
