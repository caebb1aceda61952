"""`chartkeeper lint`: the deployment tree is consistent and deployable, checked without a cluster.

What the seed design's `validate.sh` meant, in one pass over the helmfile model:

- the lock, the vendored folders and the releases agree: no release on an unpinned external folder
  or a remote chart, no pin without a release, no folder the lock does not own; pins whose folder
  is missing are "not vendored yet" (info, `chartkeeper sync` fills them), never drift;
- every values file, post-renderer and patch file exists;
- environment values validate against `values/schemas/*.schema.json`; secrets files are encrypted;
- every override of a local chart (vendored or custom) names a key the chart has (the upgrade
  analysis' rule, applied to the current version);
- custom charts pass `helm lint` and every local chart renders in every environment with the
  Helm engine; patches apply to what they target in the rendered output;
- releases of vendored charts run with `skipDeps: true` (otherwise helmfile runs
  `helm dependency build`, which reaches the network and writes archives into the vendored folder).

Findings carry stable `lint.*` codes (docs/findings.md, "Lint findings"); the override and patch
checks keep the `values.*` / `patch.*` codes of the modules that make them
(`chartkeeper.analysis.values.check_overrides`, `chartkeeper.kustomize.check_patches`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from chartkeeper import helmfile as model, yamlio
from chartkeeper.analysis.values import check_overrides
from chartkeeper.findings import Finding, Severity, sort_findings
from chartkeeper.errors import ChartkeeperError, InputError
from chartkeeper.helm.render import prepare_chart
from chartkeeper.kustomize import check_patches
from chartkeeper.lockfile import Lock, LockEntry, load_lock
from chartkeeper.settings import Settings

SCHEMA_DIR = Path("values/schemas")  # relative to the helmfile's folder
VALUES_SCHEMA = "values.schema.json"  # validates the merged environment values
_ENC_PREFIX = "ENC["


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...]
    environments: tuple[str, ...]
    releases: tuple[str, ...]  # release ids seen in any environment
    checked: tuple[str, ...] = ()  # what ran, for the summary ("render astrago/dev", ...)

    @property
    def has_problems(self) -> bool:
        """Anything above info. "Not vendored yet" and friends are info: they do not fail lint."""
        return any(f.severity is not Severity.INFO for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        counts = {s.value: 0 for s in Severity}
        for f in self.findings:
            counts[f.severity.value] += 1
        return {
            "version": 1,
            "ok": not self.has_problems,
            "environments": list(self.environments),
            "releases": list(self.releases),
            "counts": counts,
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass
class _Ctx:
    settings: Settings
    lock: Lock
    helmfile_dir: Path
    findings: list[Finding] = field(default_factory=list)
    seen: set[tuple] = field(default_factory=set)
    used_pins: set[str] = field(default_factory=set)
    releases: dict[str, None] = field(default_factory=dict)
    wired_patches: set[Path] = field(default_factory=set)
    charts_with_releases: dict[str, Path] = field(default_factory=dict)  # chart name -> folder
    prepared: dict[Path, Any] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)

    def rel(self, p: Path) -> str:
        try:
            return p.resolve().relative_to(self.settings.root.resolve()).as_posix()
        except ValueError:
            return str(p)

    def add(self, code: str, severity: Severity, message: str, **kw: Any) -> None:
        key = (code, message, kw.get("env"), kw.get("file"), kw.get("path"))
        if key in self.seen:
            return
        self.seen.add(key)
        self.findings.append(Finding(code, severity, message, **kw))

    def extend(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            key = (f.code, f.message, f.env, f.file, f.path)
            if key not in self.seen:
                self.seen.add(key)
                self.findings.append(f)


# --- entry point -----------------------------------------------------------------------------


def lint(settings: Settings, envs: list[str] | None = None) -> LintReport:
    """Lint the deployment tree in `envs` (default: every environment the helmfile defines).

    Raises `ChartkeeperError` only when linting cannot start (no lock, no helmfile, unknown
    environment); everything wrong inside the tree is a finding.
    """
    lock = load_lock(settings.lock_file, missing_ok=True)  # a deployment of custom charts only has none
    ctx = _Ctx(settings, lock, settings.helmfile_file.parent)
    all_envs = model.list_environments(settings)
    if envs:
        unknown = [e for e in envs if e not in all_envs]
        if unknown:
            raise InputError(
                f"{settings.helmfile_path}: environment {', '.join(map(repr, unknown))} is not defined "
                f"(defined: {', '.join(all_envs)})"
            )
        chosen = list(dict.fromkeys(envs))
    else:
        chosen = all_envs

    _check_lock_folders(ctx)
    for env in chosen:
        try:
            state = model.load_state(settings, env)
        except ChartkeeperError as exc:
            ctx.add("lint.helmfile-invalid", Severity.BREAKING, f"the helmfile does not load: {exc.message}", env=env)
            continue
        _check_schema(ctx, env, state.env_values)
        for release in state.releases:
            _check_release(ctx, model, state, release, env)
    _check_secrets_files(ctx)
    if not envs:  # only a full run can tell that nothing uses a pin or a patch folder
        _check_unused(ctx)
    return LintReport(
        findings=tuple(sort_findings(ctx.findings)),
        environments=tuple(chosen),
        releases=tuple(ctx.releases),
        checked=tuple(ctx.checked),
    )


# --- lock and vendored folders ------------------------------------------------------------------


def _check_lock_folders(ctx: _Ctx) -> None:
    root = ctx.lock.root
    owned = {ctx.lock.folder_of(e).resolve(): e for e in ctx.lock.entries}
    for entry in ctx.lock.entries:
        folder = ctx.lock.folder_of(entry)
        if not folder.exists():
            ctx.add(
                "lint.not-vendored",
                Severity.INFO,
                f"{entry.name} {entry.version} is pinned but not vendored yet ({ctx.rel(folder)}/ is missing); "
                "run `chartkeeper sync` on a connected machine",
                path=entry.name,
                file=ctx.rel(ctx.settings.lock_file),
            )
        elif not (folder / "Chart.yaml").is_file():
            ctx.add(
                "lint.vendored-invalid",
                Severity.BREAKING,
                f"{ctx.rel(folder)}/ is {entry.name}'s vendored folder but holds no Chart.yaml; re-run `chartkeeper sync {entry.name}`",
                path=entry.name,
            )
    if not root.is_dir():
        return
    for child in sorted(root.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        if child.resolve() not in owned:
            ctx.add(
                "lint.stale-folder",
                Severity.REVIEW,
                f"{ctx.rel(child)}/ is not owned by any versions.lock entry (left over from an upgrade, or "
                "vendored by hand); remove it or pin it",
                file=ctx.rel(child),
            )


def _entry_for_folder(lock: Lock, folder: Path) -> LockEntry | None:
    target = folder.resolve()
    for e in lock.entries:
        if lock.folder_of(e).resolve() == target:
            return e
    return None


def _under(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


# --- one release in one environment ------------------------------------------------------------


def _check_release(ctx: _Ctx, model: Any, state: Any, release: Any, env: str) -> None:
    ctx.releases.setdefault(release.id, None)
    where = ctx.rel(release.source)
    sub_values = getattr(release, "environment_values", None)
    if sub_values is not None and dict(sub_values) != dict(state.env_values or {}):
        # Sub-helmfiles declare their own environments (helmfile does not pass ours down); a tier
        # whose layering drifted from helmfile.yaml deploys with other values than it shows.
        ctx.add(
            "lint.environment-mismatch",
            Severity.REVIEW,
            f"{where} sees other environment values than {ctx.rel(state.entry)} in {env}; keep the "
            "`environments:` of every helmfile layering the same files",
            env=env,
            file=where,
        )
    active = getattr(release, "active", True)

    for entry in release.values:
        if entry.path is not None and not entry.path.exists():
            ctx.add(
                "lint.missing-file",
                Severity.BREAKING,
                f"release {release.id}: values file {entry.written or ctx.rel(entry.path)} does not exist",
                env=env,
                file=where,
                line=entry.line,
            )

    chart_dir: Path | None = release.chart_path
    vendored_entry: LockEntry | None = None
    if chart_dir is None:
        ctx.add(
            "lint.remote-chart",
            Severity.BREAKING,
            f"release {release.id} installs {release.chart!r} from a repository; an air-gapped deployment "
            "installs only local charts (pin it with `chartkeeper add` and point `chart:` at the vendored folder)",
            env=env,
            file=ctx.rel(release.chart_file),
            line=release.chart_line,
        )
    elif _under(chart_dir, ctx.lock.root):
        vendored_entry = _entry_for_folder(ctx.lock, chart_dir)
        if vendored_entry is None:
            ctx.add(
                "lint.unpinned-chart",
                Severity.BREAKING,
                f"release {release.id} uses {ctx.rel(chart_dir)}/, which no versions.lock entry pins"
                + ("" if chart_dir.exists() else " (and the folder does not exist)"),
                env=env,
                file=ctx.rel(release.chart_file),
                line=release.chart_line,
            )
            chart_dir = None
        else:
            ctx.used_pins.add(vendored_entry.name)
            ctx.charts_with_releases.setdefault(vendored_entry.name, chart_dir)
            if not (chart_dir / "Chart.yaml").is_file():
                chart_dir = None  # not vendored yet: reported once, by the lock check
            elif not _skip_deps(state, release):
                ctx.add(
                    "lint.skipdeps-missing",
                    Severity.BREAKING,
                    f"release {release.id} uses the vendored chart {vendored_entry.name} without `skipDeps: true`: "
                    "helmfile would run `helm dependency build`, reach the network and write archives into "
                    f"{ctx.rel(ctx.lock.folder_of(vendored_entry))}/",
                    env=env,
                    file=where,
                    suggestion="set `skipDeps: true` on the release or in the helmDefaults of its helmfile",
                )
    else:
        if not (chart_dir / "Chart.yaml").is_file():
            ctx.add(
                "lint.missing-chart",
                Severity.BREAKING,
                f"release {release.id} points at {ctx.rel(chart_dir)}/, which is not a chart folder",
                env=env,
                file=ctx.rel(release.chart_file),
                line=release.chart_line,
            )
            chart_dir = None
        else:
            ctx.charts_with_releases.setdefault(chart_dir.name, chart_dir)

    patch_dir = _patch_dir(ctx, release, env, where)
    if chart_dir is None or not active:
        return

    try:
        ev = model.effective_values(state, release)
    except ChartkeeperError as exc:
        ctx.add("lint.values-invalid", Severity.BREAKING, f"release {release.id}: {exc.message}", env=env, file=where)
        return
    ctx.extend(_check_overrides(chart_dir, ev.values, ev.provenance, env))
    custom = vendored_entry is None
    if custom and not _helm_lint(ctx, chart_dir, ev.values, release, env):
        return
    manifests = _render(ctx, chart_dir, ev.values, release, env)
    if manifests is None:
        return
    if patch_dir is None and vendored_entry is not None and not getattr(release, "post_renderer", None):
        # a vendored chart's release with no post-renderer: `<patches>/<chart>/` is not wired (reported
        # as such); still tell whether it would apply. A local chart's folder name proves nothing.
        candidate = ctx.settings.path(ctx.settings.patches_dir) / vendored_entry.name
        if (candidate / "kustomization.yaml").is_file():
            patch_dir = candidate
    if patch_dir is not None and (patch_dir / "kustomization.yaml").is_file():
        ctx.checked.append(f"patches {ctx.rel(patch_dir)} on {release.id}/{env}")
        ctx.extend(_with_env(_check_patches(ctx, manifests, patch_dir, release.namespace or "default"), env))


def _skip_deps(state: Any, release: Any) -> bool:
    """Effective `skipDeps` of a release: its own, else the helmDefaults of the file declaring it."""
    own = getattr(release, "skip_deps", None)
    if own is not None:
        return bool(own)
    defaults = getattr(release, "helm_defaults", None)
    if defaults is None:
        defaults = state.helm_defaults
    return bool((defaults or {}).get("skipDeps", False))


def _patch_dir(ctx: _Ctx, release: Any, env: str, where: str) -> Path | None:
    """The kustomization a release's post-renderer applies, checking that its files exist."""
    renderer = getattr(release, "post_renderer", None)
    args = tuple(getattr(release, "post_renderer_args", ()) or ())
    if not renderer:
        return None
    base = release.base_dir
    script = Path(renderer) if Path(renderer).is_absolute() else base / renderer
    if ("/" in renderer or renderer.startswith(".")) and not script.exists():
        ctx.add(
            "lint.missing-file",
            Severity.BREAKING,
            f"release {release.id}: post-renderer {renderer} does not exist",
            env=env,
            file=where,
        )
    for arg in args:
        candidate = Path(arg) if Path(arg).is_absolute() else base / arg
        patches_root = ctx.settings.path(ctx.settings.patches_dir)
        if _under(candidate, patches_root) or (candidate / "kustomization.yaml").exists():
            if not (candidate / "kustomization.yaml").is_file():
                ctx.add(
                    "lint.missing-file",
                    Severity.BREAKING,
                    f"release {release.id}: post-renderer argument {arg}: {ctx.rel(candidate)}/kustomization.yaml does not exist",
                    env=env,
                    file=where,
                )
                return None
            ctx.wired_patches.add(candidate.resolve())
            _check_kustomization_files(ctx, candidate)
            return candidate
    return None


def _check_kustomization_files(ctx: _Ctx, folder: Path) -> None:
    kfile = folder / "kustomization.yaml"
    try:
        data = yamlio.load_file(kfile) or {}
    except InputError as exc:
        ctx.add("lint.patch-invalid", Severity.BREAKING, exc.message, file=ctx.rel(kfile))
        return
    if not isinstance(data, dict):
        ctx.add("lint.patch-invalid", Severity.BREAKING, f"{ctx.rel(kfile)}: must be a mapping", file=ctx.rel(kfile))
        return
    if "resources" in data:
        ctx.add(
            "lint.patch-invalid",
            Severity.BREAKING,
            f"{ctx.rel(kfile)}: lists `resources:`; the post-renderer adds the rendered chart as the only resource",
            file=ctx.rel(kfile),
        )
    for ref in _kustomization_file_refs(data):
        if not (folder / ref).is_file():
            ctx.add(
                "lint.missing-file",
                Severity.BREAKING,
                f"{ctx.rel(kfile)} names {ref}, which does not exist",
                file=ctx.rel(kfile),
            )


def _kustomization_file_refs(data: Mapping[str, Any]) -> Iterator[str]:
    for p in data.get("patches") or []:
        if isinstance(p, dict) and isinstance(p.get("path"), str):
            yield p["path"]
    for p in data.get("patchesStrategicMerge") or []:
        if isinstance(p, str) and "\n" not in p:
            yield p
    for p in data.get("patchesJson6902") or []:
        if isinstance(p, dict) and isinstance(p.get("path"), str):
            yield p["path"]
    for gen in list(data.get("secretGenerator") or []) + list(data.get("configMapGenerator") or []):
        if isinstance(gen, dict):
            for f in gen.get("files") or []:
                if isinstance(f, str):
                    yield f.split("=", 1)[-1]
            for f in gen.get("envs") or []:
                if isinstance(f, str):
                    yield f


def _with_env(findings: Iterable[Finding], env: str) -> list[Finding]:
    return [f if f.env else replace(f, env=env) for f in findings]


# --- charts: overrides, helm lint, render, patches ---------------------------------------------


def _check_overrides(chart_dir: Path, values: Mapping[str, Any], provenance: Any, env: str) -> list[Finding]:
    # The info findings (an override equal to the chart default, ...) are upgrade hints; values
    # driven by environment settings often coincide with a default in one environment.
    return [f for f in check_overrides(chart_dir, values, provenance, env=env) if f.severity is not Severity.INFO]


def _helm_lint(ctx: _Ctx, chart_dir: Path, values: Mapping[str, Any], release: Any, env: str) -> bool:
    """`helm lint --strict` on a custom chart with the release's values; False when it has errors."""
    import helm_python  # lazy: helm-python-sdk loads a large native library; only commands that render need it

    ctx.checked.append(f"helm lint {ctx.rel(chart_dir)} ({env})")
    try:
        result = helm_python.lint(str(chart_dir), json.loads(json.dumps(values, default=str)), strict=True,
                                   namespace=release.namespace, kube_version=ctx.settings.kube_version)
    except Exception as exc:  # the engine reports bad charts as exceptions of its own
        ctx.add("lint.chart-lint", Severity.BREAKING, f"{ctx.rel(chart_dir)}: helm lint failed: {_one_line(exc)}", env=env)
        return False
    ok = True
    for msg in result.get("messages") or []:
        sev = msg.get("severity", 0)
        if sev < 2:
            continue  # INFO such as "icon is recommended"
        ok = ok and sev < 3
        ctx.add(
            "lint.chart-lint",
            Severity.BREAKING if sev >= 3 else Severity.REVIEW,
            f"{ctx.rel(chart_dir)}/{msg.get('path', '')}: {_one_line(msg.get('error', ''))} (release {release.id})",
            env=env,
            file=ctx.rel(chart_dir / str(msg.get("path", ""))),
        )
    return ok


def _render(ctx: _Ctx, chart_dir: Path, values: Mapping[str, Any], release: Any, env: str) -> list[dict[str, Any]] | None:
    ctx.checked.append(f"render {release.id} ({env})")
    try:
        prepared = ctx.prepared.get(chart_dir)
        if prepared is None:
            prepared = ctx.prepared[chart_dir] = prepare_chart(chart_dir, kube_version=ctx.settings.kube_version,
                                                               api_versions=ctx.settings.api_versions)
        result = prepared.render(dict(values), release=release.name, namespace=release.namespace)
    except ChartkeeperError as exc:
        ctx.add(
            "lint.render-failed",
            Severity.BREAKING,
            f"release {release.id} does not render: {_one_line(exc.message)}",
            env=env,
            file=ctx.rel(chart_dir),
        )
        return None
    return [m.obj for m in result.manifests if not m.is_crd_file]


def _check_patches(ctx: _Ctx, manifests: list[dict[str, Any]], folder: Path, namespace: str) -> list[Finding]:
    try:
        return list(check_patches(manifests, folder, root=ctx.settings.root, namespace=namespace))
    except ChartkeeperError as exc:  # a kustomization the engine cannot model
        return [Finding("lint.patch-invalid", Severity.BREAKING, exc.message, file=ctx.rel(folder / "kustomization.yaml"))]


# --- environment values and secrets ----------------------------------------------------------


def _schemas(ctx: _Ctx) -> dict[str, Path]:
    folder = ctx.helmfile_dir / SCHEMA_DIR
    if not folder.is_dir():
        return {}
    return {p.name[: -len(".schema.json")]: p for p in sorted(folder.glob("*.schema.json"))}


def _load_schema(ctx: _Ctx, path: Path) -> dict[str, Any] | None:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        ctx.add("lint.schema-invalid", Severity.BREAKING, f"{ctx.rel(path)}: not a JSON schema ({_one_line(exc)})", file=ctx.rel(path))
        return None
    import jsonschema  # lazy: jsonschema takes ~60 ms to import; only charts that ship a values schema need it

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        ctx.add("lint.schema-invalid", Severity.BREAKING, f"{ctx.rel(path)}: {_one_line(exc.message)}", file=ctx.rel(path))
        return None
    return schema


_SECRETISH = re.compile(r"(?i)pass|secret|token|credential|private|key$")


def _validate(ctx: _Ctx, schema_path: Path, instance: Any, *, env: str | None, what: str, file: str | None, secret: bool = False) -> None:
    """Validate; messages name the path and the rule, never a value that may be a secret."""
    import jsonschema  # lazy: jsonschema takes ~60 ms to import; only charts that ship a values schema need it

    schema = _load_schema(ctx, schema_path)
    if schema is None:
        return
    validator = jsonschema.validators.validator_for(schema)(schema)
    for err in sorted(validator.iter_errors(json.loads(json.dumps(instance, default=str))), key=lambda e: list(e.absolute_path)):
        at = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        message = err.message
        if (secret or _SECRETISH.search(at)) and not isinstance(err.instance, (dict, list)):
            message = message.replace(repr(err.instance), "the value").replace(str(err.instance), "the value")
        ctx.add(
            "lint.schema-violation",
            Severity.BREAKING,
            f"{what}: {at}: {_one_line(message)} ({ctx.rel(schema_path)})",
            env=env,
            path=at,
            file=file,
        )


def _check_schema(ctx: _Ctx, env: str, env_values: Mapping[str, Any]) -> None:
    schemas = _schemas(ctx)
    if VALUES_SCHEMA[: -len(".schema.json")] in schemas:
        ctx.checked.append(f"schema values ({env})")
        _validate(ctx, schemas["values"], dict(env_values or {}), env=env, what=f"environment {env} values", file=None)


def _environment_files(ctx: _Ctx, stem: str) -> list[Path]:
    folder = ctx.helmfile_dir / "environments"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"*/{stem}.yaml") if p.is_file())


def _check_secrets_files(ctx: _Ctx) -> None:
    schemas = _schemas(ctx)
    for stem, schema in schemas.items():
        if stem == "values":
            continue
        for f in _environment_files(ctx, stem):
            try:
                data = yamlio.load_file(f)
            except InputError as exc:
                ctx.add("lint.values-invalid", Severity.BREAKING, exc.message, file=ctx.rel(f))
                continue
            _validate(ctx, schema, data if data is not None else {}, env=None, what=ctx.rel(f), file=ctx.rel(f), secret=True)
    folder = ctx.helmfile_dir / "environments"
    if not folder.is_dir():
        return
    for f in sorted(folder.rglob("secrets*.yaml")):
        try:
            data = yamlio.load_file(f)
        except InputError:
            continue  # reported above when a schema covers it; a broken file cannot leak anyway
        plain = _plaintext_leaves(data) if isinstance(data, dict) else []
        if not isinstance(data, dict) or not isinstance(data.get("sops"), dict) or plain:
            detail = f"{len(plain)} value(s) in clear, e.g. at {plain[0]}" if plain else "no sops metadata"
            ctx.add(
                "lint.secret-not-encrypted",
                Severity.BREAKING,
                f"{ctx.rel(f)} is not sops-encrypted ({detail}); encrypt it before committing "
                "(`sops --encrypt --in-place` or `helm secrets enc`)",
                file=ctx.rel(f),
            )


def _plaintext_leaves(data: Mapping[str, Any]) -> list[str]:
    out: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
        elif node is not None and not (isinstance(node, str) and node.startswith(_ENC_PREFIX)):
            out.append(path)  # the path only: never the value

    for key, value in data.items():
        if key != "sops":
            walk(value, str(key))
    return out


# --- what nothing uses -------------------------------------------------------------------------


def _check_unused(ctx: _Ctx) -> None:
    for entry in ctx.lock.entries:
        if entry.name not in ctx.used_pins:
            ctx.add(
                "lint.unused-pin",
                Severity.REVIEW,
                f"{entry.name} {entry.version} is pinned in versions.lock but no release uses "
                f"{ctx.rel(ctx.lock.folder_of(entry))}/; remove the pin or add the release",
                path=entry.name,
                file=ctx.rel(ctx.settings.lock_file),
            )
    patches_root = ctx.settings.path(ctx.settings.patches_dir)
    if not patches_root.is_dir():
        return
    for folder in sorted(p for p in patches_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (folder / "kustomization.yaml").is_file():
            continue
        if folder.resolve() in ctx.wired_patches:
            continue
        if folder.name in ctx.charts_with_releases:
            ctx.add(
                "lint.patch-not-wired",
                Severity.REVIEW,
                f"{ctx.rel(folder)}/ patches chart {folder.name}, but no release of it runs the post-renderer "
                "(`postRenderer:` + `postRendererArgs:`), so the patches are never applied",
                file=ctx.rel(folder / "kustomization.yaml"),
            )
        else:
            ctx.add(
                "lint.patch-orphan",
                Severity.REVIEW,
                f"{ctx.rel(folder)}/ patches {folder.name}, which is neither a pinned chart nor a custom chart with a release",
                file=ctx.rel(folder / "kustomization.yaml"),
            )


def _one_line(value: Any) -> str:
    text = str(value).strip()
    return " ".join(text.split())
