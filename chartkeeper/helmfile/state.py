"""Read a helmfile state the way helmfile does: parts, bases, environments, sub-helmfiles, releases.

Order of evaluation (helmfile's, checked against helmfile 0.166 and its source):

- A state file is split into parts at `---` lines. Each part is rendered as a Go template
  (`*.gotmpl` always; a plain `.yaml` only when it holds `{{`, as helmfile before v1 does) with
  the environment values loaded by the parts before it, then parsed.
- `bases:` are loaded first and layered under the file: their environments' `values:` lists
  come before the file's own, releases are appended, `helmDefaults` merged. Relative paths in a
  base resolve from the folder of the file that includes it.
- The environment's `values:` (files, `.gotmpl` files, inline maps) merge in order into
  `.Environment.Values`; the top-level `values:` are defaults under them; together they are
  `.Values`/`.StateValues`.
- `helmfiles:` entries (globs allowed) are loaded with their own folder as base and their own
  environments; `values:` given on the entry override those. A sub-helmfile that does not
  define the environment (and gets no `values:`) is skipped, as helmfile skips it.
"""

from __future__ import annotations

import glob as globmod
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from chartkeeper import yamlio
from chartkeeper.errors import InputError
from chartkeeper.helmfile import binary, gotmpl
from chartkeeper.helmfile.envs import state_files_in
from chartkeeper.helmfile.merge import copy_tree, merge_into, plain_merge
from chartkeeper.helmfile.model import HelmfileState, Release, SetEntry, ValuesEntry
from chartkeeper.helmfile.yamllines import load_all_with_lines, load_with_lines
from chartkeeper.masking import is_secret_file, is_sops_encrypted, note_public, note_public_all, note_public_tree

DEFAULT_ENV = "default"

# Renders one template: (text, context, where, base_dir) -> text
TemplateRenderer = Callable[[str, dict, str, Path], str]


def embedded_renderer(text: str, context: dict, where: str, base_dir: Path) -> str:
    return gotmpl.render(text, context, where=where, fenv=gotmpl.FuncEnv(base_dir, os.environ))


@dataclass
class _Part:
    data: dict[str, Any]
    lines: dict[tuple, int]
    text: str  # as parsed (rendered)
    file_lines: list[str]  # the whole file as written, for checking a line number
    templated: bool


@dataclass
class _EnvCtx:
    name: str
    values: dict[str, Any] = field(default_factory=dict)  # .Environment.Values
    defaults: dict[str, Any] = field(default_factory=dict)  # top-level `values:`
    kube_context: str = ""  # the environment's `kubeContext:` (.Environment.KubeContext)

    @property
    def state_values(self) -> dict[str, Any]:
        return plain_merge(self.defaults, self.values)

    def template_context(self, **extra: Any) -> dict[str, Any]:
        sv = self.state_values
        ctx = {
            "Environment": {"Name": self.name, "Values": self.values, "KubeContext": self.kube_context},
            "Values": sv,
            "StateValues": sv,
            "Namespace": "",
        }
        ctx.update(extra)
        return ctx


@dataclass
class _Layer:
    """The merged content of one state file (its parts and bases)."""

    file: Path
    base_dir: Path
    # values entries: (file or map, listing file, line, key lines, from `secrets:`)
    environments: dict[str, list[tuple[Any, Path, int | None, dict, bool]]] = field(default_factory=dict)
    defaults: list[tuple[Any, Path, int | None, dict, bool]] = field(default_factory=list)
    releases: list[tuple[dict, Path, dict[tuple, int], tuple, _Part]] = field(default_factory=list)
    helmfiles: list[tuple[Any, Path, int | None]] = field(default_factory=list)
    helm_defaults: dict[str, Any] = field(default_factory=dict)
    common_labels: dict[str, Any] = field(default_factory=dict)
    missing_file_handler: str | None = None
    env_missing_file_handler: dict[str, str] = field(default_factory=dict)
    env_kube_context: dict[str, str] = field(default_factory=dict)
    namespace: str | None = None  # top-level `namespace:`: overrides every release's namespace
    templates: dict[str, Any] = field(default_factory=dict)  # `templates:` (for `inherit:`)


def _rel(root: Path, p: Path) -> str:
    try:
        return str(p.relative_to(root))
    except ValueError:
        return str(p)


class StateLoader:
    def __init__(self, root: Path, env: str, renderer: TemplateRenderer | None = None) -> None:
        self.root = root.resolve()
        self.env = env
        self.render = renderer or embedded_renderer
        self.files: list[Path] = []
        self.skipped: list[Path] = []
        self.secret_files: list[Path] = []
        self.encrypted_files: list[Path] = []
        self._values_cache: dict[tuple, tuple[dict, dict[tuple, int], str]] = {}
        self.merge_sources: list[tuple[Path, int, str]] = []
        self.rendered_by_helmfile: list[Path] = []  # state files read from `helmfile build`
        self.entry: Path | None = None
        self._where: dict[Path, str] = {}
        note_public(env, "the environment name")

    # --- files and parts -----------------------------------------------------------------

    def where(self, p: Path) -> str:
        hit = self._where.get(p)
        if hit is None:
            hit = self._where[p] = _rel(self.root, p)
            note_public(hit, "a path of the tree")
        return hit

    def _read(self, path: Path, what: str, referrer: Path | None) -> str:
        try:
            return yamlio.decode(path.read_bytes(), self.where(path))
        except FileNotFoundError:
            by = f" (listed in {self.where(referrer)})" if referrer else ""
            raise InputError(f"{self.where(path)}: {what} not found{by}") from None
        except IsADirectoryError:
            raise InputError(f"{self.where(path)}: {what} is a folder, not a file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.where(path)}: cannot read {what} ({exc})") from None

    def _parts(self, path: Path, referrer: Path | None) -> tuple[list[tuple[str, int, bool]], list[str]]:
        text = self._read(path, "helmfile", referrer).replace("\r\n", "\n")
        chunks = text.split("\n---\n")
        out = []
        offset = 0
        for chunk in chunks:
            out.append((chunk, offset, path.name.endswith(".gotmpl") or "{{" in chunk))
            offset += chunk.count("\n") + 2
        return out, text.split("\n")

    def _load_part(
        self, path: Path, chunk: str, offset: int, templated: bool, ctx: _EnvCtx, base_dir: Path, index: int, file_lines: list[str]
    ) -> _Part:
        where = f"{self.where(path)} (part {index + 1})" if index else self.where(path)
        text = self.render(chunk, ctx.template_context(), where, base_dir) if templated else chunk
        docs, line_docs = _parse_state_part(text, self.where(path), offset)
        if "<<" in text:
            # checked only when asked (lint): a second parse of every part is not free
            self.merge_sources.append((path, offset, text))
        data: dict[str, Any] = {}
        lines: dict[tuple, int] = {}
        for i, doc in enumerate(docs):
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise InputError(f"{self.where(path)}: a helmfile document must be a mapping, not {type(doc).__name__}")
            for k, v in doc.items():
                if isinstance(v, list) and isinstance(data.get(k), list):
                    base = len(data[k])
                    data[k] = data[k] + v
                    for p, ln in (line_docs[i] if i < len(line_docs) else {}).items():
                        if p[:1] == (k,) and len(p) > 1 and isinstance(p[1], int):
                            lines[(k, p[1] + base) + p[2:]] = ln
                    continue
                if isinstance(v, dict) and isinstance(data.get(k), dict):
                    merge_into(data[k], v)
                else:
                    data[k] = v
                for p, ln in (line_docs[i] if i < len(line_docs) else {}).items():
                    if p[:1] == (k,):
                        lines[p] = ln
        return _Part(data, lines, text, file_lines, templated)

    # --- one state file ------------------------------------------------------------------

    def load_layer(
        self,
        path: Path,
        base_dir: Path,
        ctx: _EnvCtx,
        *,
        evaluate_bases: bool,
        referrer: Path | None,
    ) -> tuple[_Layer, _EnvCtx, bool]:
        """Load `path`; return its merged layer, the environment after it, and whether it defines the env.

        A state file the embedded renderer fails on is read as `helmfile build` rendered it, when
        a helmfile binary is installed (then its lines are not known)."""
        chunks, file_lines = self._parts(path, referrer)
        try:
            return self._load_chunks(path, chunks, file_lines, base_dir, ctx, evaluate_bases=evaluate_bases)
        except gotmpl.TemplateError as exc:
            built = self._built_state(path, exc)
            if built is None:
                raise
            self.rendered_by_helmfile.append(path)
            return self._load_chunks(path, [(built, 0, False)], file_lines, base_dir, ctx, evaluate_bases=False, built=True)

    def _built_state(self, path: Path, exc: Exception) -> str | None:
        """`path` as `helmfile build` renders it (bases merged in), or None when no binary can."""
        if self.render is not embedded_renderer or self.entry is None or binary.renderer_mode() == "embedded":
            return None
        exe = binary.find_helmfile(self.root)
        if exe is None:
            return None
        try:
            text = binary.build(exe, self.entry, self.env).get(path.resolve())
        except InputError:
            return None
        if text is None:
            return None
        doc = yamlio.loads(text, f"helmfile build: {self.where(path)}")
        if not isinstance(doc, dict):
            return None
        for key in ("bases", "filepath", "helmBinary", "kustomizeBinary", "renderedvalues"):
            doc.pop(key, None)
        return _dump(doc)

    def _built_release(self, source: Path, name: str, exc: Exception) -> dict | None:
        """Release `name` of `source` as `helmfile build` rendered it (its template fields run by
        helmfile), or None."""
        text = self._built_state(source, exc)
        if text is None:
            return None
        doc = yamlio.loads(text, f"helmfile build: {self.where(source)}")
        found = [r for r in (doc.get("releases") or []) if isinstance(r, dict) and r.get("name") == name]
        if len(found) != 1:
            return None
        self.rendered_by_helmfile.append(source)
        release = dict(found[0])
        release.pop("chartPath", None)
        return release

    def _load_chunks(
        self,
        path: Path,
        chunks: list[tuple[str, int, bool]],
        file_lines: list[str],
        base_dir: Path,
        ctx: _EnvCtx,
        *,
        evaluate_bases: bool,
        built: bool = False,
    ) -> tuple[_Layer, _EnvCtx, bool]:
        self.files.append(path)
        layer = _Layer(path, base_dir)
        defined = False
        for index, (chunk, offset, templated) in enumerate(chunks):
            if not chunk.strip():
                continue
            part = self._load_part(path, chunk, offset, templated, ctx, base_dir, index, file_lines)
            if built:
                part.lines = {}  # rendered by helmfile: its lines are not the file's
            current = _Layer(path, base_dir)
            if evaluate_bases:
                bases = part.data.get("bases") or []
                if not isinstance(bases, list):
                    raise InputError(f"{self.where(path)}: bases: must be a list of files")
                for b in bases:
                    if not isinstance(b, str):
                        raise InputError(f"{self.where(path)}: bases: {b!r} is not a file path")
                    bpath = Path(os.path.normpath(base_dir / b))
                    if bpath == path:
                        raise InputError(f"{self.where(path)}: bases: {b} includes the file itself")
                    blayer, _, _ = self.load_layer(bpath, base_dir, ctx, evaluate_bases=False, referrer=path)
                    self._stack_layer(current, blayer)
            elif part.data.get("bases"):
                raise InputError(f"{self.where(path)}: a base helmfile cannot have `bases:` of its own (helmfile refuses nested bases)")
            own = self._layer_of_part(path, base_dir, part)
            self._stack_layer(current, own)
            if self.env in current.environments:
                defined = True
            if evaluate_bases and self.env != DEFAULT_ENV and (current.environments or layer.environments) and not (
                defined or self.env in layer.environments
            ):
                # helmfile stops at the first part after which environments exist but not this
                # one: the rest of the file (which may need its values) is never rendered
                self._merge_part(layer, current)
                return layer, ctx, False
            # this part's environment values, for the parts after it
            ctx = self._next_ctx(ctx, current)
            self._merge_part(layer, current)
        if self.env == DEFAULT_ENV:  # helmfile always accepts the default environment
            defined = True
        layer_defined = defined
        return layer, ctx, layer_defined

    def _layer_of_part(self, path: Path, base_dir: Path, part: _Part) -> _Layer:
        d = part.data
        layer = _Layer(path, base_dir)
        known = {
            "bases", "environments", "values", "releases", "helmfiles", "helmDefaults", "commonLabels",
            "repositories", "missingFileHandler", "templates", "apiVersions", "kubeVersion", "hooks",
            "helmBinary", "kustomizeBinary", "lockFilePath", "namespace", "selectors", "context",
            "missingFileHandlerConfig", "renderedvalues", "filepath", "env", "secrets", "kubeContext",
        }
        unknown = sorted(str(k) for k in d if k not in known)
        if unknown:
            raise InputError(f"{self.where(path)}: unknown top-level key(s) {', '.join(unknown)}")
        envs = d.get("environments") or {}
        if not isinstance(envs, dict):
            raise InputError(f"{self.where(path)}: environments: must be a mapping of environment names")
        for name, spec in envs.items():
            spec = spec or {}
            if not isinstance(spec, dict):
                raise InputError(f"{self.where(path)}: environments.{name}: must be a mapping")
            entries = []
            for key in ("values", "secrets"):
                vals = spec.get(key) or []
                if not isinstance(vals, list):
                    raise InputError(f"{self.where(path)}: environments.{name}.{key}: must be a list")
                for i, v in enumerate(vals):
                    entries.append((v, path, part.lines.get(("environments", name, key, i)), _sub_lines(part.lines, ("environments", name, key, i)), key == "secrets"))
            if spec.get("missingFileHandler"):
                layer.env_missing_file_handler[str(name)] = str(spec["missingFileHandler"])
            if spec.get("kubeContext"):
                layer.env_kube_context[str(name)] = str(spec["kubeContext"])
            # helmfile merges the environment's secrets over its values
            layer.environments[str(name)] = [e for e in entries if not e[4]] + [e for e in entries if e[4]]
        top_values = d.get("values") or []
        if not isinstance(top_values, list):
            raise InputError(f"{self.where(path)}: values: must be a list of files or maps")
        for i, v in enumerate(top_values):
            layer.defaults.append((v, path, part.lines.get(("values", i)), _sub_lines(part.lines, ("values", i)), False))
        rels = d.get("releases") or []
        if not isinstance(rels, list):
            raise InputError(f"{self.where(path)}: releases: must be a list")
        for i, r in enumerate(rels):
            if not isinstance(r, dict):
                raise InputError(f"{self.where(path)}: releases[{i}]: must be a mapping")
            layer.releases.append((r, path, _sub_lines(part.lines, ("releases", i)), ("releases", i), part))
        hfs = d.get("helmfiles") or []
        if not isinstance(hfs, list):
            raise InputError(f"{self.where(path)}: helmfiles: must be a list")
        for i, h in enumerate(hfs):
            layer.helmfiles.append((h, path, part.lines.get(("helmfiles", i))))
        hd = d.get("helmDefaults") or {}
        if not isinstance(hd, dict):
            raise InputError(f"{self.where(path)}: helmDefaults: must be a mapping")
        layer.helm_defaults = dict(hd)
        cl = d.get("commonLabels") or {}
        if not isinstance(cl, dict):
            raise InputError(f"{self.where(path)}: commonLabels: must be a mapping")
        layer.common_labels = dict(cl)
        if d.get("missingFileHandler"):
            layer.missing_file_handler = str(d["missingFileHandler"])
        if d.get("namespace"):
            layer.namespace = str(d["namespace"])
        templates = d.get("templates") or {}
        if not isinstance(templates, dict):
            raise InputError(f"{self.where(path)}: templates: must be a mapping of template names")
        layer.templates = dict(templates)
        return layer

    @staticmethod
    def _stack_layer(dst: _Layer, src: _Layer) -> None:
        """Bases under the file: env value lists concatenate, releases append, maps merge."""
        for name, entries in src.environments.items():
            dst.environments.setdefault(name, []).extend(entries)
        dst.env_missing_file_handler.update(src.env_missing_file_handler)
        dst.env_kube_context.update(src.env_kube_context)
        dst.templates.update(src.templates)
        if src.namespace:
            dst.namespace = src.namespace
        dst.defaults.extend(src.defaults)
        dst.releases.extend(src.releases)
        dst.helmfiles.extend(src.helmfiles)
        merge_into(dst.helm_defaults, src.helm_defaults)
        merge_into(dst.common_labels, src.common_labels)
        if src.missing_file_handler:
            dst.missing_file_handler = src.missing_file_handler

    @staticmethod
    def _merge_part(dst: _Layer, src: _Layer) -> None:
        # helmfile merges parts with mergo.WithOverride: a later non-empty list replaces.
        for name, entries in src.environments.items():
            dst.environments[name] = list(entries)
        dst.env_missing_file_handler.update(src.env_missing_file_handler)
        dst.env_kube_context.update(src.env_kube_context)
        dst.templates.update(src.templates)
        if src.namespace:
            dst.namespace = src.namespace
        if src.releases:
            dst.releases = list(src.releases)
        if src.helmfiles:
            dst.helmfiles = list(src.helmfiles)
        if src.defaults:
            dst.defaults = list(src.defaults)
        merge_into(dst.helm_defaults, src.helm_defaults)
        merge_into(dst.common_labels, src.common_labels)
        if src.missing_file_handler:
            dst.missing_file_handler = src.missing_file_handler

    def _next_ctx(self, ctx: _EnvCtx, layer: _Layer) -> _EnvCtx:
        values = dict(ctx.values)
        if self.env in layer.environments:
            handler = layer.env_missing_file_handler.get(self.env) or layer.missing_file_handler
            loaded = self.load_values_list(layer.environments[self.env], layer.base_dir, ctx, "environment values", handler)
            values = plain_merge(values, loaded)
        defaults = dict(ctx.defaults)
        if layer.defaults:
            loaded = self.load_values_list(layer.defaults, layer.base_dir, ctx, "state values", layer.missing_file_handler)
            defaults = plain_merge(defaults, loaded)
        return _EnvCtx(ctx.name, values, defaults, layer.env_kube_context.get(self.env, ctx.kube_context))

    # --- values entries --------------------------------------------------------------------

    def load_values_list(self, entries: list, base_dir: Path, ctx: _EnvCtx, what: str, missing: str | None) -> dict:
        out: dict = {}
        for raw, source, _line, _lines, secret in entries:
            if isinstance(raw, dict):
                merge_into(out, raw)
                continue
            if not isinstance(raw, str):
                raise InputError(f"{self.where(source)}: {what}: {raw!r} is neither a file nor a map")
            for p in self._expand_file(raw, base_dir, source, what, missing):
                data, _, _ = self.values_file(p, ctx.template_context(), base_dir, source)
                secret_file, encrypted = secret or is_secret_file(p), is_sops_encrypted(data)
                if secret_file:
                    self.secret_files.append(p)
                # a rendered template's strings may hold copies of secrets: only its keys are public
                note_public_tree(data, secret_file=secret_file or encrypted or p.name.endswith(".gotmpl"))
                if encrypted:
                    # never decrypted: sops leaves the keys readable, so templates still find
                    # them and render the ciphertext, which masking hides leaf by leaf
                    self.encrypted_files.append(p)
                    data = {k: v for k, v in data.items() if k != "sops"}
                merge_into(out, data)
        return out

    def _expand_file(self, raw: str, base_dir: Path, source: Path, what: str, missing: str | None) -> list[Path]:
        if "://" in raw or raw.startswith("git::"):
            raise InputError(f"{self.where(source)}: {what} {raw}: remote values files are not supported (vendor the file)")
        p = Path(os.path.normpath(raw if os.path.isabs(raw) else base_dir / raw))
        if any(c in raw for c in "*?["):
            found = sorted(Path(x) for x in globmod.glob(str(p)))
            if not found and (missing or "Error") == "Error":
                raise InputError(f"{self.where(source)}: {what} {raw}: no file matches")
            return found
        if not p.exists():
            if (missing or "Error").lower() in ("warn", "info", "debug"):
                return []
            raise InputError(f"{self.where(p)}: {what} file not found (listed in {self.where(source)})")
        return [p]

    def values_file(self, path: Path, context: dict, base_dir: Path, referrer: Path) -> tuple[dict, dict[tuple, int], str]:
        """Load (and render, for `.gotmpl`) a values file: (data, line map, rendered text).

        The data is shared by every caller (and cached by content): never mutate it.
        """
        templated = path.name.endswith(".gotmpl")
        key: tuple = (path, base_dir)
        if templated:
            key = key + (gotmpl.ctx_key(context),)
        hit = self._values_cache.get(key)
        if hit is not None:
            return hit
        text = self._read(path, "values file", referrer)
        if templated:
            # helmfile renders a values file from its own folder: `readFile`, `isFile` and the
            # `_*.tpl` helpers resolve there, not from the state file's folder
            text = self.render(text, context, self.where(path), path.parent)
        data, lines = _parse_values(text, self.where(path))
        result = (data, lines, text)
        self._values_cache[key] = result
        return result

    # --- the whole tree ---------------------------------------------------------------------

    def load(self, entry: Path) -> HelmfileState:
        entry = entry.resolve()
        self.entry = entry
        if not entry.exists():
            raise InputError(f"{self.where(entry)}: helmfile not found", hint="set `helmfile:` in chartkeeper.yaml")
        releases: list[Release] = []
        if entry.is_dir():
            root_layer, root_ctx = self._load_folder(entry, releases)
        else:
            root_layer, root_ctx, defined = self.load_layer(entry, entry.parent, _EnvCtx(self.env), evaluate_bases=True, referrer=None)
            if not defined:
                names = list(root_layer.environments) or [DEFAULT_ENV]
                raise InputError(f"{self.where(entry)}: unknown environment(s) {self.env} (the helmfile defines: {', '.join(names)})")
            groups: list[tuple[_Layer, _EnvCtx]] = []
            self._collect(root_layer, root_ctx, groups, [entry])
            releases = self._releases_of(groups)
        return HelmfileState(
            root=self.root,
            entry=entry,
            environment=self.env,
            releases=tuple(releases),
            helm_defaults=root_layer.helm_defaults,
            env_values=root_ctx.values,
            state_values=root_ctx.state_values,
            files=tuple(dict.fromkeys(self.files)),
            skipped=tuple(self.skipped),
            secret_files=tuple(dict.fromkeys(self.secret_files)),
            encrypted_files=tuple(dict.fromkeys(self.encrypted_files)),
            merge_sources=tuple(self.merge_sources),
            rendered_by_helmfile=tuple(dict.fromkeys(self.rendered_by_helmfile)),
            loader=self,
        )

    def _load_folder(self, folder: Path, releases: list[Release]) -> tuple[_Layer, _EnvCtx]:
        """A `helmfile.d/` entry: every `*.y*ml` then `*.y*ml.gotmpl` file, in file-name order, each
        loaded as a helmfile of its own; one that does not define the environment is skipped.
        Returns the first loaded file's layer and environment (what `.Environment` means for
        the tree as a whole)."""
        files = state_files_in(folder)
        if not files:
            raise InputError(f"{self.where(folder)}: no state file (*.yaml, *.yml, *.yaml.gotmpl) in the folder")
        first: tuple[_Layer, _EnvCtx] | None = None
        groups: list[tuple[_Layer, _EnvCtx]] = []
        for f in files:
            layer, ctx, defined = self.load_layer(f, f.parent, _EnvCtx(self.env), evaluate_bases=True, referrer=None)
            if not defined:
                self.skipped.append(f)
                continue
            first = first or (layer, ctx)
            self._collect(layer, ctx, groups, [f])
        releases.extend(self._releases_of(groups))
        if first is None:
            raise InputError(f"{self.where(folder)}: unknown environment(s) {self.env} (none of its files defines it)")
        return first

    def _warm_release_fields(self, groups: list[tuple[_Layer, _EnvCtx]]) -> None:
        """Render the first pass of every release's template fields in one engine call
        (`_render_release_fields` then finds them rendered)."""
        if self.render is not embedded_renderer:
            return
        environ = os.environ
        jobs = []
        for layer, ctx in groups:
            fenv = gotmpl.FuncEnv(layer.base_dir, environ)
            jobs.extend(self._release_field_jobs(layer, ctx, fenv))
        gotmpl.render_many(jobs)

    def _release_field_jobs(self, layer: _Layer, ctx: _EnvCtx, fenv: gotmpl.FuncEnv) -> list:
        jobs = []
        for spec, source, _lines, _pos, _part in layer.releases:
            where = f"{self.where(source)}: release {spec.get('name')}"
            try:
                r = _with_defaults(spec, layer, where)
            except InputError:
                continue  # reported when the release is read
            if not _has_release_templates(r):
                continue
            extra = {"Release": _release_ctx(r), "Namespace": layer.namespace or "", "KubeContext": "", "Chart": ""}
            context = ctx.template_context(**extra)
            texts: list[str] = []

            def collect(text: Any) -> Any:
                if isinstance(text, str) and "{{" in text:
                    texts.append(text)
                return text

            try:
                self._render_release_once(r, collect, where)
            except InputError:
                pass  # a `valuesTemplate` only parses once rendered: what was collected still helps
            jobs.extend((t, context, where, fenv) for t in texts)
        return jobs

    def _releases_of(self, groups: list[tuple[_Layer, _EnvCtx]]) -> list[Release]:
        """The releases of every state file, in helmfile's order; their template fields are
        rendered for the whole tree in one engine call first."""
        self._warm_release_fields(groups)
        out = []
        for layer, ctx in groups:
            for spec, source, lines, _pos, part in layer.releases:
                out.append(self._release(spec, source, lines, part, layer, ctx))
        return out

    def _collect(self, layer: _Layer, ctx: _EnvCtx, out: list[tuple[_Layer, _EnvCtx]], stack: list[Path]) -> None:
        """Every state file with releases of the tree under `layer`, sub-helmfiles first."""
        for raw, source, line in layer.helmfiles:
            if isinstance(raw, str):
                spec: dict[str, Any] = {"path": raw}
            elif isinstance(raw, dict) and isinstance(raw.get("path"), str):
                spec = raw
            else:
                raise InputError(f"{self.where(source)}: helmfiles: each entry needs a `path:`")
            pattern = spec["path"]
            if "://" in pattern or pattern.startswith("git::"):
                raise InputError(f"{self.where(source)}: helmfiles: {pattern}: remote helmfiles are not supported")
            full = Path(pattern) if os.path.isabs(pattern) else layer.base_dir / pattern
            if any(c in pattern for c in "*?["):
                matches = sorted(Path(os.path.normpath(x)) for x in globmod.glob(str(full)))
                if not matches:
                    raise InputError(f"{self.where(source)}: helmfiles: {pattern}: no file matches")
            else:
                if full.is_dir():
                    found = [full / "helmfile.yaml", full / "helmfile.yaml.gotmpl"]
                    full = next((f for f in found if f.exists()), found[0])
                if not full.exists():
                    raise InputError(f"{self.where(full)}: sub-helmfile not found (listed in {self.where(source)})")
                matches = [Path(os.path.normpath(full))]
            overrides = spec.get("values") or []
            if not isinstance(overrides, list):
                raise InputError(f"{self.where(source)}: helmfiles: {pattern}: values: must be a list")
            passed = (
                self.load_values_list([(v, source, None, {}, False) for v in overrides], layer.base_dir, ctx, "helmfiles values", layer.missing_file_handler)
                if overrides
                else None
            )
            for sub in matches:
                if sub in stack:
                    chain = " -> ".join(self.where(p) for p in stack + [sub])
                    raise InputError(f"{self.where(source)}: helmfiles form a cycle: {chain}")
                sub_ctx = _EnvCtx(self.env, dict(passed or {}), {})
                sub_layer, sub_after, defined = self.load_layer(sub, sub.parent, sub_ctx, evaluate_bases=True, referrer=source)
                if passed is not None:
                    sub_after = _EnvCtx(self.env, plain_merge(sub_after.values, passed), sub_after.defaults, sub_after.kube_context)
                    # helmfile: values passed down stand for an environment only in a sub-helmfile
                    # that defines no environments at all; one that defines others is skipped
                    defined = defined or not sub_layer.environments
                if not defined:
                    self.skipped.append(sub)
                    continue
                self._collect(sub_layer, sub_after, out, stack + [sub])
        if layer.releases:
            out.append((layer, ctx))

    # --- releases ---------------------------------------------------------------------------

    def _release(self, r: dict, source: Path, lines: dict[tuple, int], part: _Part, layer: _Layer, ctx: _EnvCtx) -> Release:
        where = self.where(source)
        name = r.get("name")
        if not isinstance(name, str) or not name:
            raise InputError(f"{where}: a release without a `name:` (line {lines.get((), '?')})")
        where = f"{where}: release {name}"
        own = r
        r = _with_defaults(r, layer, where)
        try:
            r = self._render_release_fields(r, ctx, where, layer.base_dir, layer.namespace)
        except gotmpl.TemplateError as exc:
            built = self._built_release(source, name, exc)
            if built is None:
                raise
            r = built
        name = r["name"]
        chart = r.get("chart")
        if not isinstance(chart, str) or not chart:
            raise InputError(f"{where}: `chart:` is required")
        base_dir = layer.base_dir
        chart_path: Path | None = None
        if chart.startswith(("./", "../", "/")) or chart in (".", "..") or (base_dir / chart).is_dir():
            chart_path = Path(os.path.normpath(base_dir / chart))
        # helmfile's top-level `namespace:` overrides every release's own
        namespace = layer.namespace or r.get("namespace") or ""
        version = r.get("version")
        labels = {str(k): str(v) for k, v in (r.get("labels") or {}).items()}
        values: list[ValuesEntry] = []
        for key, secret in (("values", False), ("secrets", True)):
            items = r.get(key) or []
            if not isinstance(items, list):
                raise InputError(f"{where}: {key}: must be a list")
            where_written = _written_at(key, len(items), own, layer.templates, lines, part.lines)
            for i, v in enumerate(items):
                vline, vlines = where_written[i]
                if isinstance(v, dict):
                    values.append(ValuesEntry(source, vline, data=v, lines=vlines, secret=secret))
                elif isinstance(v, str):
                    for p in self._expand_file(v, base_dir, source, f"release {name} {key}", r.get("missingFileHandler") or layer.missing_file_handler):
                        # lexical, like helmfile's filepath.Join: the path as the release names it
                        values.append(ValuesEntry(source, vline, path=Path(os.path.normpath(p)), written=v, secret=secret))
                else:
                    raise InputError(f"{where}: {key}[{i}]: {v!r} is neither a file nor a map")
        sets: list[SetEntry] = []
        set_written = _written_at("set", len(r.get("set") or []), own, layer.templates, lines, part.lines)
        for i, s in enumerate(r.get("set") or []):
            if not isinstance(s, dict) or not isinstance(s.get("name"), str):
                raise InputError(f"{where}: set[{i}]: needs `name:` and `value:`, `values:` or `file:`")
            sline = set_written[i][0]
            if "values" in s:
                vals = s.get("values") or []
                if not isinstance(vals, list):
                    raise InputError(f"{where}: set[{i}].values: must be a list")
                sets.append(SetEntry(s["name"], source, sline, values=tuple(_set_str(x) for x in vals)))
            elif "file" in s:
                sets.append(SetEntry(s["name"], source, sline, file=str(s["file"])))
            else:
                sets.append(SetEntry(s["name"], source, sline, value=_set_str(s.get("value"))))
        needs = r.get("needs") or []
        if not isinstance(needs, list):
            raise InputError(f"{where}: needs: must be a list")
        installed = r.get("installed", True)
        if installed is None:
            installed = True
        if isinstance(installed, str):
            installed = installed.strip().lower() not in ("false", "no", "0", "")
        condition = r.get("condition")
        active = bool(installed)
        if condition:
            active = active and _condition_holds(str(condition), ctx.state_values, where)
        chart_line = self._chart_line(part, lines, chart)
        defaults = layer.helm_defaults or {}
        renderer_args = r.get("postRendererArgs", defaults.get("postRendererArgs")) or []
        if not isinstance(renderer_args, list):
            raise InputError(f"{where}: postRendererArgs: must be a list")
        note_public(name, "the release name")
        note_public(str(namespace), "the namespace")
        note_public(chart, "the chart")
        note_public_all(labels.values(), "a release label")
        return Release(
            name=name,
            namespace=str(namespace),
            chart=chart,
            chart_path=chart_path,
            version=str(version) if version is not None else None,
            values=tuple(values),
            set=tuple(sets),
            needs=tuple(str(n) for n in needs),
            labels=labels,
            installed=bool(installed),
            condition=str(condition) if condition else None,
            source=source,
            chart_line=chart_line,
            chart_file=source,
            base_dir=base_dir,
            active=active,
            kube_context=r.get("kubeContext"),
            environment_kube_context=ctx.kube_context,
            namespace_override=layer.namespace or "",
            state_values=ctx.state_values,
            environment_values=ctx.values,
            skip_deps=_flag(r.get("skipDeps", defaults.get("skipDeps", False))),
            post_renderer=r.get("postRenderer", defaults.get("postRenderer")) or None,
            post_renderer_args=tuple(str(a) for a in renderer_args),
        )

    def _render_release_fields(self, r: dict, ctx: _EnvCtx, where: str, base_dir: Path, override_ns: str | None = None) -> dict:
        """helmfile's release templates: `{{ .Release.Name }}` left in a release's fields after the
        state was rendered (written as {{`{{ … }}`}}) is rendered with the release's own context,
        and so are the `*Template` fields (`installedTemplate`, `waitTemplate`, `verifyTemplate`,
        `valuesTemplate`, `setTemplate`). Like helmfile, plain inline `values:` maps are left as
        they are, `valuesTemplate`/`setTemplate` entries go before `values`/`set`, and the fields
        are rendered again with the result until nothing changes (at most 6 times)."""
        if not _has_release_templates(r):
            return r

        prev = r
        for _ in range(6):
            rc = _release_ctx(prev)
            extra = {"Release": rc, "Namespace": override_ns or "", "KubeContext": "", "Chart": ""}

            def render(text: Any) -> Any:
                if not isinstance(text, str) or "{{" not in text:
                    return text
                return self.render(text, ctx.template_context(**extra), where, base_dir)

            cur = self._render_release_once(r, render, where)
            if cur == prev:
                break
            if _release_ctx(cur) == rc:
                break  # the next pass would see the same context and give `cur` again
            prev = cur
        else:
            raise InputError(f"{where}: release templates refer to each other: recursive references can't be resolved")
        for f in ("installedTemplate", "waitTemplate", "verifyTemplate"):
            if f in cur and cur[f] is not None:
                target = f.removesuffix("Template")
                cur[target] = _template_bool(cur.pop(f), f, where)
        return cur

    @staticmethod
    def _render_release_once(r: dict, render: Callable[[Any], Any], where: str) -> dict:
        out = dict(r)
        for f in ("name", "chart", "namespace", "version", "waitTemplate", "installedTemplate", "verifyTemplate", "condition"):
            if isinstance(r.get(f), str):
                out[f] = render(r[f])
        if isinstance(r.get("installed"), str):
            out["installed"] = render(r["installed"]).strip()
        if isinstance(r.get("labels"), dict):
            out["labels"] = {k: render(v) for k, v in r["labels"].items()}
        values = list(r.get("values") or []) if isinstance(r.get("values"), list) else r.get("values")
        vt = r.get("valuesTemplate")
        if isinstance(vt, list) and vt:
            rendered = []
            for i, t in enumerate(vt):
                if isinstance(t, dict):
                    text = render(_dump(t))
                    data = yamlio.loads(text, f"{where}: valuesTemplate[{i}]")
                    if data is not None and not isinstance(data, dict):
                        raise InputError(f"{where}: valuesTemplate[{i}]: must render to a map")
                    rendered.append(data or {})
                else:
                    rendered.append(t)
            values = rendered + list(values or [])
        if isinstance(values, list):
            out["values"] = [render(v) if isinstance(v, str) else v for v in values]
        if isinstance(r.get("secrets"), list):
            out["secrets"] = [render(v) if isinstance(v, str) else v for v in r["secrets"]]
        # helmfile renders `setTemplate` entries and puts them before `set:`, which it passes to
        # Helm as written (a {{`{{ .Release.Name }}`}} there reaches Helm as that text)
        st = r.get("setTemplate")
        if isinstance(st, list) and st:
            rendered_sets = []
            for item in st:
                if isinstance(item, dict):
                    item = dict(item)
                    for f in ("name", "value", "file"):
                        if f in item:
                            item[f] = render(item[f])
                    if isinstance(item.get("values"), list):
                        item["values"] = [render(v) for v in item["values"]]
                rendered_sets.append(item)
            own_sets = r.get("set") if isinstance(r.get("set"), list) else []
            out["set"] = rendered_sets + list(own_sets or [])
        if isinstance(r.get("needs"), list):
            out["needs"] = [render(n) for n in r["needs"]]
        return out

    @staticmethod
    def _chart_line(part: _Part, lines: dict[tuple, int], chart: str) -> int | None:
        """The 1-based line of `chart:` in the source file, checked against the file's text.

        A templated part may not line up with the file (a `range` that writes releases):
        then the line is the only one in the file naming this chart, or unknown.
        """
        ln = lines.get(("chart",))
        fl = part.file_lines
        if ln is not None and 0 < ln <= len(fl) and _line_has_chart(fl[ln - 1], chart):
            return ln
        hits = [i + 1 for i, t in enumerate(fl) if _line_has_chart(t, chart)]
        return hits[0] if len(hits) == 1 else None


def _written_at(
    key: str, total: int, own: dict, templates: dict, lines: dict[tuple, int], part_lines: dict[tuple, int]
) -> list[tuple[int | None, dict[tuple, int]]]:
    """(line, key lines) of each item of a release's final `values`/`secrets`/`set` list, which is
    helmfile's `valuesTemplate`/`setTemplate` entries, then what `inherit:` brought (written in
    `templates:`), then the release's own. `lines` is the release's line map, `part_lines` the
    state part's."""
    tkey = {"values": "valuesTemplate", "set": "setTemplate"}.get(key)
    positions: list[tuple[dict[tuple, int], tuple]] = []
    own_t = own.get(tkey) if tkey else None
    if isinstance(own_t, list):
        positions += [(lines, (tkey, j)) for j in range(len(own_t))]
    if own.get("inherit"):
        positions += [(part_lines, p) for p in _inherited_positions(own, templates, key, ())]
    own_items = own.get(key)
    positions += [(lines, (key, j)) for j in range(len(own_items) if isinstance(own_items, list) else 0)]
    if len(positions) != total:  # cannot be told apart: better no line than a wrong one
        return [(None, {})] * total
    return [(src.get(p), _sub_lines(src, p)) for src, p in positions]


def _inherited_positions(spec: dict, templates: dict, key: str, path: tuple) -> list[tuple]:
    """Where each item `inherit:` appends to `key` is written, in `_inherit`'s order."""
    inherits = spec.get("inherit")
    if isinstance(inherits, dict):
        inherits = [inherits]
    out: list[tuple] = []
    for item in inherits if isinstance(inherits, list) else []:
        name = item.get("template") if isinstance(item, dict) else None
        if not name:
            break
        template = templates.get(name)
        if not isinstance(template, dict) or name in path or key in (item.get("except") or []):
            continue
        if template.get("inherit"):
            out += _inherited_positions(template, templates, key, path + (name,))
        items = template.get(key)
        out += [("templates", name, key, j) for j in range(len(items) if isinstance(items, list) else 0)]
    return out


def _with_defaults(r: dict, layer: _Layer, where: str) -> dict:
    """A release as helmfile has it before its templates run: `inherit:` applied, `commonLabels`
    added, `helmDefaults.kubeContext` when it has none."""
    if r.get("inherit"):
        r = _inherit(r, layer.templates, where)
    if layer.common_labels:
        r = dict(r)
        r["labels"] = {**(r.get("labels") or {}), **layer.common_labels}
    if not r.get("kubeContext") and layer.helm_defaults.get("kubeContext"):
        r = {**r, "kubeContext": layer.helm_defaults["kubeContext"]}
    return r


def _release_ctx(r: dict) -> dict:
    """`.Release` of a release's own templates."""
    return {
        "Name": r.get("name"),
        "Namespace": r.get("namespace") or "",
        "Labels": dict(r.get("labels") or {}),
        "Chart": r.get("chart") or "",
        "KubeContext": r.get("kubeContext") or "",
    }


_TEMPLATE_FIELDS = ("installedTemplate", "waitTemplate", "verifyTemplate", "valuesTemplate", "setTemplate")


def _has_release_templates(r: dict) -> bool:
    if any(f in r for f in _TEMPLATE_FIELDS):
        return True
    strings = [r.get(f) for f in ("name", "namespace", "chart", "version", "installed", "condition")]
    strings += list((r.get("labels") or {}).values()) if isinstance(r.get("labels"), dict) else []
    for key in ("values", "secrets", "needs"):
        strings += [v for v in (r.get(key) or []) if isinstance(v, str)] if isinstance(r.get(key), list) else []
    return any(isinstance(x, str) and "{{" in x for x in strings)


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=True, allow_unicode=True)


def _template_bool(text: Any, field_name: str, where: str) -> bool:
    """helmfile reads a rendered `installedTemplate` (…) as a YAML boolean."""
    if isinstance(text, bool):
        return text
    word = str(text).strip()
    if word in ("true", "True", "TRUE"):
        return True
    if word in ("false", "False", "FALSE", ""):
        return False
    raise InputError(f"{where}: {field_name}: rendered to {word!r}, not a boolean")


# `inherit: [{template: t, except: [...]}]` may leave these out of what a template gives
_INHERIT_EXCEPT = {"labels", "values", "valuesTemplate", "setTemplate", "set", "secrets"}


def _inherit(r: dict, templates: dict[str, Any], where: str, path: tuple[str, ...] = ()) -> dict:
    """helmfile's `inherit:` (>= 0.159): the named release templates, then the release itself,
    merged as helmfile's mergo does: lists append, maps merge, a later non-empty value overrides
    (an empty string, list or map is not carried over)."""
    inherits = r.get("inherit")
    if isinstance(inherits, dict):
        inherits = [inherits]
    if not isinstance(inherits, list):
        raise InputError(f"{where}: inherit: must be a list of {{template: NAME}}")
    merged: dict[str, Any] = {}
    for item in inherits:
        if not isinstance(item, dict):
            raise InputError(f"{where}: inherit: each entry needs `template:`")
        name = item.get("template")
        if not name:
            return r
        if name in path:
            raise InputError(f"{where}: cyclic inheritance detected: {'->'.join(path + (name,))}")
        template = templates.get(name)
        if not isinstance(template, dict):
            raise InputError(f"{where}: tried to inherit inexistent release template {name!r}")
        src = _inherit(template, templates, where, path + (name,)) if template.get("inherit") else dict(template)
        for k in item.get("except") or []:
            if k not in _INHERIT_EXCEPT:
                raise InputError(f"{where}: inherit: {k!r} is not allowed under `except` (allowed: {', '.join(sorted(_INHERIT_EXCEPT))})")
            src.pop(k, None)
        _mergo(merged, src)
    own = {k: v for k, v in r.items() if k != "inherit"}
    _mergo(merged, own)
    merged.pop("inherit", None)
    return merged


def _mergo(dst: dict, src: dict) -> None:
    for k, v in src.items():
        if _empty(v):
            continue
        cur = dst.get(k)
        if isinstance(cur, list) and isinstance(v, list):
            dst[k] = cur + copy_tree(v)
        elif isinstance(cur, dict) and isinstance(v, dict):
            merged = dict(cur)
            _mergo(merged, v)
            dst[k] = merged
        else:
            dst[k] = copy_tree(v)


def _empty(v: Any) -> bool:
    # helmfile's optional fields are pointers: `installed: false` is a value, an empty string,
    # list or map is not
    return v is None or v == "" or v == [] or v == {}


def _flag(value: Any) -> bool:
    """A helmfile boolean that a template may have rendered as a string."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return bool(value)


def _line_has_chart(text: str, chart: str) -> bool:
    s = text.strip().lstrip("-").strip()
    if not s.startswith("chart:"):
        return False
    value = s[len("chart:") :].split(" #")[0].strip().strip("'\"")
    return value == chart


_PARSED: dict[tuple[str, str], tuple[dict, dict[tuple, int]]] = {}
_PARTS: dict[tuple[str, str, int], tuple[list, list]] = {}


def _parse_state_part(text: str, where: str, offset: int) -> tuple[list, list]:
    """The YAML documents of a state part and their line maps; a fresh copy (callers merge into it)."""
    key = (where, text, offset)
    hit = _PARTS.get(key)
    if hit is None:
        hit = load_all_with_lines(text, where, offset)
        if len(_PARTS) > 1024:
            _PARTS.clear()
        _PARTS[key] = hit
    return [copy_tree(d) for d in hit[0]], hit[1]


def _parse_values(text: str, where: str) -> tuple[dict, dict[tuple, int]]:
    """Parse a values document once per content (several environments share most files)."""
    hit = _PARSED.get((where, text))
    if hit is not None:
        return hit
    data, lines = load_with_lines(text, where)
    if data is None:
        data, lines = {}, {}
    if not isinstance(data, dict):
        raise InputError(f"{where}: a values file must be a mapping, not {type(data).__name__}")
    if len(_PARSED) > 2048:
        _PARSED.clear()
    _PARSED[(where, text)] = (data, lines)
    return _PARSED[(where, text)]


def _sub_lines(lines: dict[tuple, int], prefix: tuple) -> dict[tuple, int]:
    n = len(prefix)
    return {p[n:]: ln for p, ln in lines.items() if p[:n] == prefix}


def _set_str(v: Any) -> str:
    # helmfile reads `value:` as a string; YAML booleans and numbers print as Go would.
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    return str(v)


def _condition_holds(condition: str, values: dict, where: str) -> bool:
    """helmfile's `condition: a.b.enabled`: true only when that key is the boolean true."""
    keys = condition.split(".")
    if len(keys) < 2 or keys[-1] != "enabled":
        raise InputError(f"{where}: condition: {condition!r} must have the form `<key>.enabled`")
    node: Any = values
    walked = ""
    for k in keys[:-1]:
        walked += "." + k
        if not isinstance(node, dict) or k not in node:
            raise InputError(f"{where}: condition {condition}: environment values field '{walked}' not found")
        node = node[k]
        if not isinstance(node, dict):
            raise InputError(f"{where}: condition {condition}: environment values field '{walked}' is not a map")
    flag = node.get("enabled")
    return flag is True
