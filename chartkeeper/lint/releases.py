"""One release in one environment: its files exist, its chart is local and pinned, its values
name keys the chart has, it renders, and its post-render patches find their targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

from chartkeeper import yamlio
from chartkeeper.errors import ChartkeeperError, InputError
from chartkeeper.helmfile.gotmpl import UnsupportedTemplate
from chartkeeper.findings import Severity
from chartkeeper.lint import credentials
from chartkeeper.lint.charts import helm_lint, lint_overrides, lint_patches, render_release
from chartkeeper.lint.context import LintContext, is_under, with_env
from chartkeeper.lint.tree import entry_for_folder
from chartkeeper.lockfile import LockEntry


def check_release(ctx: LintContext, model: Any, state: Any, release: Any, env: str) -> None:
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
            ctx.missing(f"release {release.id}: values file {entry.written or ctx.rel(entry.path)}", env=env, file=where, line=entry.line)

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
    elif is_under(chart_dir, ctx.lock.root):
        vendored_entry = entry_for_folder(ctx.lock, chart_dir)
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
    except UnsupportedTemplate as exc:  # our renderer's limit (and no helmfile binary): not a finding
        ctx.unchecked(f"values, render and patches of {release.id}", exc.message, env=env)
        return
    except ChartkeeperError as exc:
        ctx.add("lint.values-invalid", Severity.BREAKING, f"release {release.id}: {exc.message}", env=env, file=where)
        return
    if ev.encrypted_files:
        ctx.unchecked(f"overrides of {release.id} set only in {', '.join(ev.encrypted_files)}",
                      "sops-encrypted values are not decrypted", env=env)
    ctx.extend(lint_overrides(ctx, chart_dir, ev.values, ev.provenance, env))
    credentials.collect(ctx, release, ev, chart_dir, env)
    custom = vendored_entry is None
    if custom and not helm_lint(ctx, chart_dir, ev.values, release, env):
        return
    manifests = render_release(ctx, chart_dir, ev.values, release, env)
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
        ctx.extend(with_env(lint_patches(ctx, manifests, patch_dir, release.namespace or "default"), env))


def _skip_deps(state: Any, release: Any) -> bool:
    """Effective `skipDeps` of a release: its own, else the helmDefaults of the file declaring it."""
    own = getattr(release, "skip_deps", None)
    if own is not None:
        return bool(own)
    defaults = getattr(release, "helm_defaults", None)
    if defaults is None:
        defaults = state.helm_defaults
    return bool((defaults or {}).get("skipDeps", False))


def _patch_dir(ctx: LintContext, release: Any, env: str, where: str) -> Path | None:
    """The kustomization a release's post-renderer applies, checking that its files exist."""
    renderer = getattr(release, "post_renderer", None)
    args = tuple(getattr(release, "post_renderer_args", ()) or ())
    if not renderer:
        return None
    base = release.base_dir
    script = Path(renderer) if Path(renderer).is_absolute() else base / renderer
    if ("/" in renderer or renderer.startswith(".")) and not script.exists():
        ctx.missing(f"release {release.id}: post-renderer {renderer}", env=env, file=where)
    for arg in args:
        candidate = Path(arg) if Path(arg).is_absolute() else base / arg
        patches_root = ctx.settings.path(ctx.settings.patches_dir)
        if is_under(candidate, patches_root) or (candidate / "kustomization.yaml").exists():
            if not (candidate / "kustomization.yaml").is_file():
                ctx.missing(f"release {release.id}: post-renderer argument {arg}: {ctx.rel(candidate)}/kustomization.yaml",
                            env=env, file=where)
                return None
            ctx.wired_patches.add(candidate.resolve())
            _check_kustomization_files(ctx, candidate)
            return candidate
    return None


def _check_kustomization_files(ctx: LintContext, folder: Path) -> None:
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
            ctx.missing(f"{ctx.rel(kfile)} names {ref}, which", file=ctx.rel(kfile))


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
