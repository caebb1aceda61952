"""What a helmfile state is made of, as chartkeeper reads it: releases, their values, the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

from chartkeeper.helmfile.yamllines import merge_overrides

from chartkeeper.errors import InputError


@dataclass(frozen=True)
class ValuesEntry:
    """One item of a release's `values:` (or `secrets:`) list, in order.

    A file entry has `path` (resolved, absolute) and `written` (as in the state file); an
    inline entry has `data` and `lines` (line of each key path inside the state file).
    """

    source: Path  # the state file that lists it
    line: int | None  # its line in that file
    path: Path | None = None
    written: str | None = None
    data: Mapping[str, Any] | None = None
    lines: Mapping[tuple, int] = field(default_factory=dict)
    secret: bool = False  # listed under `secrets:` (helm-secrets decrypts it at deploy time)

    @property
    def is_file(self) -> bool:
        return self.path is not None

    @property
    def is_template(self) -> bool:
        return self.path is not None and self.path.name.endswith(".gotmpl")


@dataclass(frozen=True)
class SetEntry:
    """One item of a release's `set:` list (`--set name=value`, `name={a,b}` or `--set-file`)."""

    name: str
    source: Path
    line: int | None
    value: str | None = None
    values: tuple[str, ...] | None = None
    file: str | None = None


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    chart: str  # as written
    chart_path: Path | None  # resolved absolute folder for a local chart, else None
    version: str | None
    values: tuple[ValuesEntry, ...]
    set: tuple[SetEntry, ...]
    needs: tuple[str, ...]
    labels: Mapping[str, str]
    installed: bool
    condition: str | None
    source: Path  # the state file that declares the release
    chart_line: int | None  # 1-based line of `chart:` in `chart_file` (None when it cannot be told)
    chart_file: Path
    base_dir: Path  # relative paths of this release resolve from here
    active: bool = True  # installed and its condition holds in this environment
    kube_context: str | None = None
    environment_kube_context: str = ""  # the environment's `kubeContext:` (.Environment.KubeContext)
    namespace_override: str = ""  # the state file's top-level `namespace:` (`.Namespace` in templates)
    # `.Values` and `.Environment.Values` of the state file that declares it (its templates see these)
    state_values: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    environment_values: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # `skipDeps`, `postRenderer`, `postRendererArgs`: the release's own, else the helmDefaults of the
    # helmfile declaring it (helmfile does not pass helmDefaults down to sub-helmfiles)
    skip_deps: bool = False
    post_renderer: str | None = None
    post_renderer_args: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def is_local(self) -> bool:
        return self.chart_path is not None


@dataclass(frozen=True)
class HelmfileState:
    """The releases of one environment, with the values helmfile computes for its templates."""

    root: Path  # the repository root (provenance is relative to it)
    entry: Path  # helmfile.yaml or helmfile.yaml.gotmpl
    environment: str
    releases: tuple[Release, ...]
    helm_defaults: Mapping[str, Any]
    env_values: Mapping[str, Any]  # `.Environment.Values` of the entry file
    state_values: Mapping[str, Any]  # `.Values` / `.StateValues` of the entry file
    files: tuple[Path, ...] = ()  # every state file read
    skipped: tuple[Path, ...] = ()  # sub-helmfiles that do not define this environment
    secret_files: tuple[Path, ...] = ()  # environment secrets files read
    encrypted_files: tuple[Path, ...] = ()  # sops-encrypted environment files (not decrypted)
    # state parts holding a `<<:` merge: (file, line offset, rendered text), for `warnings`
    merge_sources: tuple[tuple[Path, int, str], ...] = field(default=(), compare=False, repr=False)
    # state files the embedded renderer could not render, read as `helmfile build` rendered them
    rendered_by_helmfile: tuple[Path, ...] = ()
    loader: Any = field(default=None, compare=False, repr=False)

    def release(self, name: str, namespace: str | None = None) -> Release:
        found = [r for r in self.releases if r.name == name and (namespace is None or r.namespace == namespace)]
        if not found:
            raise InputError(f"no release named {name!r} in environment {self.environment!r}")
        if len(found) > 1:
            raise InputError(f"release name {name!r} is used in several namespaces: {', '.join(r.id for r in found)}")
        return found[0]

    @cached_property
    def warnings(self) -> tuple[tuple[Path, int, str], ...]:
        """What helmfile 0.166 refuses but chartkeeper reads: (file, line, message)."""
        out = []
        for path, offset, text in self.merge_sources:
            for line, key in merge_overrides(text):
                out.append((path, line + 1 + offset, f"`{key}:` overrides a key merged in by `<<:`; helmfile 0.166 refuses this (\"key already set in map\")"))
        return tuple(dict.fromkeys(out))

    def rel(self, p: Path) -> str:
        try:
            return str(p.relative_to(self.root))
        except ValueError:
            return str(p)


@dataclass(frozen=True)
class EffectiveValues:
    """What helmfile passes to Helm for one release, merged with Helm's rules.

    `values` includes `set:`; `file_values` is what `helmfile write-values` writes (values
    and secrets files and inline maps, without `set:`). A `None` leaf is an explicit `null`:
    it deletes the chart default of that key (see `merge.coalesce`).
    """

    release: Release
    values: dict[str, Any]
    file_values: dict[str, Any]
    provenance: dict[tuple, tuple[str, int]]  # values path -> (file relative to the root, line)
    secret_files: tuple[str, ...] = ()  # files (relative) whose values are all secret
    encrypted_files: tuple[str, ...] = ()  # sops-encrypted files: reported, never decrypted
    sources: tuple[str, ...] = ()  # every values source in merge order (files relative, "inline" entries as file:line)
    # values paths holding a vals reference (`ref+vault://…`): helmfile resolves them at deploy time
    deploy_time_refs: tuple[tuple, ...] = ()
