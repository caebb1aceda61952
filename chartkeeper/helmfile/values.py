"""The values helmfile hands to Helm for one release, leaf by leaf with where it came from.

helmfile renders each `values:`/`secrets:` entry (`.gotmpl` files with the release's context),
passes them to Helm as `-f` files in order, then `set:` entries as `--set`. Helm merges the
files (maps merge, everything else replaces) and applies `--set` on top.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

from chartkeeper import yamlio
from chartkeeper.errors import ChartkeeperError, InputError
from chartkeeper.helmfile import binary, gotmpl
from chartkeeper.helmfile.merge import Provenance, copy_tree, merge_into, merge_layers
from chartkeeper.helmfile.model import EffectiveValues, HelmfileState, Release, SetEntry
from chartkeeper.helmfile.state import StateLoader, embedded_renderer
from chartkeeper.masking import is_secret_file, is_sops_encrypted, mask_values, note_public_tree, register_secret


def release_context(state: HelmfileState, release: Release) -> dict[str, Any]:
    """What a release's `.gotmpl` values file sees (helmfile's template data for releases)."""
    sv = dict(release.state_values)
    return {
        "Environment": {"Name": state.environment, "Values": dict(release.environment_values), "KubeContext": release.environment_kube_context},
        "Values": sv,
        "StateValues": sv,
        "Namespace": release.namespace_override,
        "Release": {
            "Name": release.name,
            "Namespace": release.namespace,
            "Labels": dict(release.labels),
            "Chart": release.chart,
            "KubeContext": release.kube_context or "",
        },
    }


def _keys_only(lines: dict[tuple, int], data: Any) -> dict[tuple, int]:
    return {p: ln for p, ln in lines.items() if p}


def effective_values(state: HelmfileState, release: Release) -> EffectiveValues:
    """The values helmfile passes to Helm for `release`. Every secret they hold (and every secret of
    the environment its templates can copy) is registered with `masking.redact` on the way out,
    so whatever the values become — a command line, a URL, a ConfigMap — no output shows it."""
    ev = _effective_values(state, release)
    mask_values(ev.values, ev.secret_files, ev.provenance)
    mask_values(dict(release.environment_values))  # `keycloak.adminPassword` in environments/prod.yaml
    mask_values(dict(release.state_values))
    register_state_secrets(state)
    return ev


def register_state_secrets(state: HelmfileState, extra_files: tuple[str, ...] = ()) -> None:
    """Register every string of the environment's secrets files (and `extra_files`, relative to the
    root): a template may copy one under a harmless key, or into a longer string."""
    def walk(node: object) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        else:
            register_secret(node)

    for f in list(state.secret_files) + [state.root / f for f in extra_files]:
        try:
            data = yamlio.load_file(f)
        except ChartkeeperError:
            continue
        if not is_sops_encrypted(data):
            walk(data)


def _effective_values(state: HelmfileState, release: Release) -> EffectiveValues:
    mode = binary.renderer_mode()
    if mode == "helmfile" and release.active:
        if binary.find_helmfile(state.root) is None:
            raise InputError("CHARTKEEPER_RENDERER=helmfile but no helmfile binary was found outside the repository (PATH, $CHARTKEEPER_HELMFILE)")
        done = _binary_fallback(state, release)
        if done is not None:
            return done

    loader: StateLoader = state.loader or StateLoader(state.root, state.environment)
    _warm_up(state, loader)
    ctx = _context_of(loader, state, release)
    layers: list[tuple[dict, Provenance]] = []
    secret: list[str] = []
    encrypted: list[str] = []
    sources: list[str] = []
    for entry in release.values:
        if entry.path is not None:
            rel = state.rel(entry.path)
            try:
                data, lines, _ = loader.values_file(entry.path, ctx, release.base_dir, entry.source)
            except gotmpl.TemplateError as exc:
                # whatever failed in the embedded renderer, a real helmfile gets the last word
                fallback = _fallback_or_none(state, release, exc) if mode != "embedded" else None
                if fallback is None:
                    raise
                return fallback
            if is_sops_encrypted(data):
                encrypted.append(rel)
                continue
            if entry.secret or is_secret_file(entry.path):
                secret.append(rel)
            # a rendered template's strings may hold copies of secrets: only its keys are public
            note_public_tree(data, secret_file=entry.secret or is_secret_file(entry.path) or entry.path.name.endswith(".gotmpl"))
            prov = {p: (rel, ln) for p, ln in _keys_only(lines, data).items()}
            sources.append(rel)
        else:
            data = dict(entry.data or {})
            note_public_tree(entry.data or {}, secret_file=entry.secret or entry.source.name.endswith(".gotmpl"))
            src = state.rel(entry.source)
            prov = {p: (src, ln) for p, ln in entry.lines.items() if p}
            sources.append(f"{src}:{entry.line}" if entry.line else src)
        layers.append((data, prov))
    file_values, fprov = merge_layers(layers)
    values = copy_tree(file_values)
    prov = dict(fprov)
    for s in release.set:
        parsed = _parse_set(s, release, state)
        src = state.rel(s.source)
        sprov = {p: (src, s.line or 0) for p in _all_paths(parsed)}
        merge_into(values, parsed, prov=prov, src_prov=sprov)
        sources.append(f"{src}:{s.line}" if s.line else src)
    return EffectiveValues(
        release=release,
        values=values,
        file_values=file_values,
        provenance=prov,
        secret_files=tuple(dict.fromkeys(secret)),
        encrypted_files=tuple(dict.fromkeys(encrypted)),
        sources=tuple(sources),
        deploy_time_refs=tuple(vals_refs(values)),
    )


def vals_refs(tree: Any, path: tuple = ()) -> list[tuple]:
    """Paths whose value holds a vals reference (`ref+vault://…`, `ref+awssecrets://…`): helmfile
    hands those files to vals, which resolves them at deploy time; chartkeeper shows them as written."""
    if isinstance(tree, dict):
        return [p for k, v in tree.items() for p in vals_refs(v, path + (k,))]
    if isinstance(tree, list):
        return [p for i, v in enumerate(tree) for p in vals_refs(v, path + (i,))]
    return [path] if isinstance(tree, str) and "ref+" in tree else []


def _context_of(loader: Any, state: HelmfileState, release: Release) -> dict[str, Any]:
    """One context object per release for the whole run: the warm-up and the values files then
    share it (and its cache key, see `gotmpl.ctx_key`)."""
    cache = loader.__dict__.setdefault("release_contexts", {})
    key = (release.namespace, release.name, str(release.source))
    hit = cache.get(key)
    if hit is None or hit[0] is not release:
        hit = cache[key] = (release, release_context(state, release))
    return hit[1]


def _warm_up(state: HelmfileState, loader: Any) -> None:
    """Render every release's values templates of this state in one engine call, once."""
    if getattr(loader, "warmed", False) or loader.render is not embedded_renderer:
        return
    loader.warmed = True
    environ = os.environ
    jobs = []
    for r in state.releases:
        if not r.active:
            continue
        ctx = None
        for e in r.values:
            if e.path is None or not e.is_template:
                continue
            try:
                text = e.path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            ctx = ctx or _context_of(loader, state, r)
            jobs.append((text, ctx, loader.where(e.path), gotmpl.FuncEnv(e.path.parent, environ)))
    gotmpl.render_many(jobs)


def _all_paths(tree: Any, path: tuple = ()) -> list[tuple]:
    out = [path] if path else []
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.extend(_all_paths(v, path + (k,)))
    return out


def _escape(value: str) -> str:
    # helmfile escapes these before handing `--set name=value` to Helm
    return value.replace("{", "\\{").replace("}", "\\}").replace(",", "\\,")


_SIMPLE_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_SIMPLE_VALUE = re.compile(r"^[^,{}\[\]\\=]*$")
_INT = re.compile(r"^[+-]?[0-9]+$")


def _typed(val: str) -> Any:
    """Helm's strvals typing of a `--set` value (int64, bool, null or string)."""
    low = val.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if low == "null":
        return None
    if val == "0":
        return 0
    if val and val[0] != "0" and _INT.match(val):
        n = int(val)
        if -(2**63) <= n < 2**63:
            return n
    return val


def _fast_set(s: SetEntry) -> dict | None:
    """The common `--set a.b=value` without Helm's escapes, indexes or lists, parsed here."""
    if s.file is not None or not _SIMPLE_NAME.match(s.name):
        return None
    if s.values is not None:
        if not all(_SIMPLE_VALUE.match(v) and v for v in s.values):
            return None
        leaf: Any = [_typed(v) for v in s.values]
    else:
        v = s.value or ""
        if not _SIMPLE_VALUE.match(v):
            return None
        leaf = _typed(v)
    out: dict = {}
    node = out
    keys = s.name.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = leaf
    return out


def _parse_set(s: SetEntry, release: Release, state: HelmfileState) -> dict:
    import helm_python  # lazy: helm-python-sdk loads a large native library; only commands that render need it

    fast = _fast_set(s)
    if fast is not None:
        return fast

    where = f"{state.rel(s.source)}: release {release.name}: set {s.name}"
    try:
        if s.file is not None:
            p = Path(s.file) if Path(s.file).is_absolute() else release.base_dir / s.file
            try:
                content = yamlio.decode(p.read_bytes(), f"{where}: file {s.file}")
            except OSError as exc:
                raise InputError(f"{where}: file {s.file}: {exc.strerror or exc}") from None
            return helm_python.parse_set_literal(f"{_escape(s.name)}={content}")
        if s.values is not None:
            return helm_python.parse_set_string(f"{_escape(s.name)}={{{','.join(_escape(v) for v in s.values)}}}")
        return helm_python.parse_set_string(f"{_escape(s.name)}={_escape(s.value or '')}")
    except helm_python.HelmError as exc:
        raise InputError(f"{where}: {exc}") from None


def _fallback_or_none(state: HelmfileState, release: Release, exc: Exception) -> EffectiveValues | None:
    """The binary's values after an embedded-renderer error, or None (no binary, or it fails too:
    then the embedded error, which names the file and line, is the one to show)."""
    key = (str(state.entry), state.environment)
    if key in _BINARY_FAILED:
        return None
    try:
        return _binary_fallback(state, release)
    except InputError:
        _BINARY_FAILED.add(key)  # one failing helmfile run per environment is enough
        return None


_BINARY_FAILED: set[tuple[str, str]] = set()


def _binary_fallback(state: HelmfileState, release: Release) -> EffectiveValues | None:
    """Values rendered by a real helmfile, for templates the embedded renderer cannot run."""
    exe = binary.find_helmfile(state.root)
    if exe is None:
        return None
    by_release = binary.write_values(exe, state.entry, state.environment, root=state.root)
    file_values = by_release.get((release.namespace, release.name))
    if file_values is None:
        return None
    values = copy.deepcopy(file_values)
    prov: Provenance = {}
    for s in release.set:
        merge_into(values, _parse_set(s, release, state), prov=prov, src_prov={})
    sources = tuple(state.rel(e.path) if e.path else state.rel(e.source) for e in release.values)
    return EffectiveValues(
        release=release,
        values=values,
        file_values=file_values,
        provenance={},
        secret_files=tuple(state.rel(e.path) for e in release.values if e.path and (e.secret or is_secret_file(e.path))),
        sources=sources + ("(rendered by helmfile)",),
    )
