"""The upgrade analysis: OLD (vendored) against NEW (staged by `chartkeeper.upgrade`), per environment.

`analyze_pair` does the work on two chart folders and a list of releases with their effective
overrides; `analyze_upgrade` gathers those inputs from the repository (lock, helmfile model, patches)
and never changes anything in the repository. Neither fetches: NEW comes in as a folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from chartkeeper import helmfile, kustomize
from chartkeeper.analysis import actions, chart_meta, crds, images, kube_compat, manifests, rendered_effect
from chartkeeper.analysis.custom_resources import TreeResource, check_custom_resources, kinds_of
from chartkeeper.analysis.history import Blame
from chartkeeper.analysis.chart_keys import Path_, build_universe, deep_merge, fmt_path, read_chart
from chartkeeper.analysis.credentials import Credential, credential_findings, credentials_of
from chartkeeper.analysis.deployed import TreeRenderer
from chartkeeper.findings import Finding, NotChecked, Severity, sort_findings
from chartkeeper.analysis.report import ReleaseReport, UpgradeReport, merge_env_findings
from chartkeeper.analysis.secrets import is_secret_path, register_secret_values
from chartkeeper.analysis.values import ValuesAnalysis
from chartkeeper.errors import ChartkeeperError, InputError
from chartkeeper.helm.render import PreparedChart, RenderError, RenderedManifest, prepare_chart
from chartkeeper.kustomize.findings import patch_findings
from chartkeeper.resources import group_of
from chartkeeper.sources.registry import check_images

Progress = Callable[[str], None]
# (group, kind) of the CRDs NEW changes -> the custom resources of those kinds the tree's other releases
# render, and notes on what could not be rendered
TreeResources = Callable[[set[tuple[str, str]]], tuple[list[TreeResource], list[str]]]


@dataclass(frozen=True)
class ReleaseInput:
    """One release of the chart in one environment, with our effective overrides."""

    env: str
    release: str
    namespace: str
    values: dict[str, Any]
    provenance: Any = None
    values_files: tuple[str, ...] = ()
    secret_files: tuple[str, ...] = ()  # values files whose every value is secret (masked in the report)
    # the kustomization its post-renderer applies; `from_helmfile` says the helmfile was read, so None
    # means "no patches" rather than "unknown" (then the chart's `<patches>/<chart>/` is used)
    kustomization: Path | None = None
    from_helmfile: bool = False
    templated: Mapping[tuple, Any] = field(default_factory=dict)  # values a template decides (helmfile.templated_overrides)
    encrypted_files: tuple[str, ...] = ()  # sops-encrypted values files it reads (not decrypted: keys only there unseen)


@dataclass(frozen=True)
class PatchHooks:
    """How to apply our kustomize patches and judge them (the kustomize module)."""

    kustomization_dir: Path | None  # `<patches>/<chart>/`, for releases whose helmfile wiring is unknown
    # (old, new, kustomization dir, namespace=) -> (patched OLD, patched NEW), both by the same engine;
    # each a list of manifests or a result with `.manifests`
    apply_pair: Callable[..., tuple[Any, Any]]
    findings: Callable[..., list[Finding]] | None = None  # (old, new, dir, namespace=release namespace)

    def kustomization_for(self, rel: ReleaseInput) -> Path | None:
        return rel.kustomization if rel.from_helmfile else (rel.kustomization or self.kustomization_dir)


def _manifests_of(result: Any, notes: list[str], side: str) -> list[dict[str, Any]]:
    """Manifests from the kustomize hook; its engine and any build error become notes of the release."""
    if isinstance(result, list):
        return result
    engine = getattr(result, "engine", None)
    if engine:
        note = f"kustomize patches applied with {engine}"
        if note not in notes:
            notes.append(note)
    if getattr(result, "note", None) and result.note not in notes:
        notes.append(result.note)
    if getattr(result, "build_error", None):
        notes.append(f"{side}: kustomize would refuse these manifests: {result.build_error}")
    return list(result.manifests)


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _render(chart: PreparedChart, rel: ReleaseInput) -> tuple[list[RenderedManifest] | None, Any, str | None]:
    try:
        res = chart.render(rel.values, release=rel.release, namespace=rel.namespace)
        return list(res.manifests), res, None
    except RenderError as exc:
        return None, None, exc.message


def _renderer(chart: PreparedChart, rel: ReleaseInput) -> rendered_effect.Render:
    """NEW's objects for other values of this release (None when they do not render)."""
    def render(values: dict[str, Any]) -> list[dict[str, Any]] | None:
        try:
            return [m.obj for m in chart.render(values, release=rel.release, namespace=rel.namespace).manifests]
        except RenderError:
            return None
    return render


def _inherited_to_check(va: ValuesAnalysis, found: Sequence[Finding]) -> list[tuple[Path_, Any]]:
    """(path, OLD default) of the inherited default changes `rendered_effect` confirms by rendering: those a
    person would review (image versions aside: the image they make is the finding), then the info ones of
    a map or list, whose text says least about what renders."""
    rank: dict[str, int] = {}
    for f in found:
        if f.code != "values.default-changed" or actions.is_version_default(f):
            continue
        if f.severity is Severity.REVIEW:
            rank[str(f.path)] = 0
        elif isinstance(f.old, (dict, list)) or isinstance(f.new, (dict, list)):
            rank[str(f.path)] = 1
    changed = [(p, old) for p, old, _new in va.defaults_diff.changed if fmt_path(p) in rank and not is_secret_path(p)]
    return sorted(changed, key=lambda c: rank[fmt_path(c[0])])


def analyze_pair(
    old_dir: Path,
    new_dir: Path,
    releases: Sequence[ReleaseInput],
    *,
    chart: str,
    kube_version: str,
    api_versions: Sequence[str] = (),
    upstream_chart: str | None = None,
    repository: str = "",
    engine: str = "auto",
    patches: PatchHooks | None = None,
    upstream_releases: Iterable[Any] = (),
    crd_folder: str | None = None,
    notes: Sequence[str] = (),
    progress: Progress | None = None,
    driver_os_suffixes: Sequence[str] = (),
    show_label_churn: bool = False,
    history: Blame | None = None,
    tree_resources: TreeResources | None = None,
) -> UpgradeReport:
    """Analyse the upgrade of the chart in `old_dir` to the one in `new_dir` for every release given.

    `crd_folder` is where the NEW chart will be vendored (relative to the repository), for the exact
    `kubectl apply` step; `upstream_releases` are the source's `ChartRelease`s (for change notes);
    `history` tells when and why an override line was written (the masked-default findings show it);
    `tree_resources` gives the custom resources of the tree's other releases, checked with the chart's own
    against NEW's CRDs.
    """
    say = progress or (lambda _m: None)
    old_info, new_info = read_chart(old_dir), read_chart(new_dir)
    old_uni, new_uni = build_universe(old_info), build_universe(new_info)
    va = ValuesAnalysis(old_uni, new_uni)
    findings: list[Finding] = []
    findings += va.new_keys() + va.removed_keys()
    findings += chart_meta.meta_findings(old_info, new_info)
    findings += kube_compat.kube_version_findings(new_info.kube_version, old_info.kube_version, kube_version)

    release_reports: list[ReleaseReport] = []
    weak: list[Credential] = []
    all_crd_changes: dict[str, crds.CrdChange] = {}
    crd_objects: dict[str, tuple[Any, Any]] = {}
    own_resources: list[TreeResource] = []
    envs = [r.env for r in releases]
    diffs = manifests.DiffCache()
    versions = [(old_info.version, new_info.version), (old_info.app_version, new_info.app_version)]
    rendered_envs: list[str] = []
    probe = rendered_effect.EffectProbe()
    ours_on: dict[str, tuple[str, ...]] = {}  # workload -> fields our values set on it (rendered_effect)
    defaults_of: dict[tuple[str, str], Any] = {}  # (release, namespace) -> NEW rendered with its defaults alone
    behaviour: dict[tuple[str, str], list[str]] = {}  # (env, workload) -> fields that change how its pods run
    say(f"preparing {old_info.name} {old_info.version} and {new_info.version} for Kubernetes {kube_version}")
    with prepare_chart(old_dir, kube_version=kube_version, engine=engine, api_versions=api_versions) as old_chart, \
            prepare_chart(new_dir, kube_version=kube_version, engine=engine, api_versions=api_versions) as new_chart:
        for rel in releases:
            say(f"{rel.env}: analysing release {rel.release}")
            register_secret_values(rel.values, rel.secret_files, rel.provenance)
            weak += credentials_of(rel.values, owner=f"release {rel.release}", env=rel.env, secret_files=rel.secret_files,
                                   provenance=rel.provenance, universe=old_uni)
            own = va.analyze(rel.values, rel.provenance, env=rel.env, secret_files=rel.secret_files,
                             templated=rel.templated)
            findings += own
            old_m, old_res, old_err = _render(old_chart, rel)
            new_m, new_res, new_err = _render(new_chart, rel)
            if new_err:
                findings.append(Finding("render.failed", Severity.BREAKING,
                                        f"NEW does not render with the {rel.env} values: {new_err}", env=rel.env,
                                        introduced=not old_err))
            if old_err and not new_err:
                findings.append(Finding("render.failed-old", Severity.REVIEW,
                                        f"OLD does not render with the {rel.env} values (today's deployment may be broken): {old_err}",
                                        env=rel.env))
            if old_m is None or new_m is None:
                release_reports.append(ReleaseReport(rel.env, rel.release, rel.namespace, error=new_err or old_err,
                                                     values_files=rel.values_files))
                continue
            old_objs, new_objs = [m.obj for m in old_m], [m.obj for m in new_m]
            to_check = _inherited_to_check(va, own)
            if to_check:
                probe.check(rel.env, rel.namespace, rel.values, to_check, new_objs, _renderer(new_chart, rel),
                            merged=deep_merge(new_uni.defaults, rel.values))
            patched = False
            patch_notes: list[str] = []
            kdir = patches.kustomization_for(rel) if patches is not None else None
            if patches is not None and kdir is not None:
                try:
                    r_old, r_new = patches.apply_pair(old_objs, new_objs, kdir, namespace=rel.namespace)
                    p_old = _manifests_of(r_old, patch_notes, "OLD")
                    p_new = _manifests_of(r_new, patch_notes, "NEW")
                    if patches.findings is not None:
                        findings += [f if f.env else replace(f, env=rel.env) for f in patches.findings(
                            old_objs, new_objs, kdir, namespace=rel.namespace)]
                    old_objs, new_objs, patched = p_old, p_new, True
                except ChartkeeperError as exc:  # a kustomization that does not load is a finding, not a crash
                    findings.append(Finding("patch.apply-failed", Severity.BREAKING,
                                            f"kustomize patches cannot be applied: {exc.message}", env=rel.env))
            d = manifests.diff_manifests(old_objs, new_objs, namespace=rel.namespace, cache=diffs, versions=versions,
                                         show_label_churn=show_label_churn)
            rendered_envs.append(rel.env)
            for c in d.changed:
                # each as "path old → new" (manifests.behaviour_changes): the path is the first word
                fields = [text.split(" ", 1)[0] for _what, text in manifests.behaviour_changes(c)]
                if fields:
                    behaviour[(rel.env, str(c.key))] = fields
            ours = _ours_on_containers(d, rel, new_chart, new_objs, defaults_of)
            ours_on.update(ours)
            old_x = images.extract(old_objs, os_suffixes=driver_os_suffixes)
            new_x = images.extract(new_objs, os_suffixes=driver_os_suffixes)
            ic = images.image_changes(old_x, new_x)
            findings += manifests.manifest_findings(d, env=rel.env)
            findings += images.image_findings(ic, env=rel.env)
            findings += images.invalid_findings(new_x.invalid, env=rel.env, old_invalid=old_x.invalid)
            findings += kube_compat.api_findings(new_objs, kube_version, env=rel.env, old_objs=old_objs)
            # the first environment's CRD change stands for all (a CRD is cluster-wide): the others are not redone
            for c in crds.crd_changes(old_m, new_m, skip=all_crd_changes):
                all_crd_changes[c.name] = c
                if c.change != "removed":
                    crd_objects[c.name] = crds.crd_objects(old_m, new_m, c.name)
            own_resources += [TreeResource(rel.env, f"{rel.namespace}/{rel.release}", rel.namespace, o)
                              for o in new_objs if isinstance(o, dict)]
            engine_notes = tuple(dict.fromkeys((old_res.notes if old_res else ()) + (new_res.notes if new_res else ())
                                               + tuple(patch_notes)))
            release_reports.append(ReleaseReport(
                rel.env, rel.release, rel.namespace, engine=new_res.engine, engine_version=new_res.engine_version,
                render_notes=engine_notes, patched=patched, manifest_diff=d, images=ic, values_files=rel.values_files,
                ours_on_containers=tuple(sorted(ours.items()))))

    # weak credentials hold with OLD already: the upgrade changes nothing about them (`lint` reports them)
    findings += credential_findings(weak, introduced=False)
    crd_list = sorted(all_crd_changes.values(), key=lambda c: c.name)
    dirs = crds.crd_dirs(crd_list)
    applies = crds.apply_commands(crd_folder or str(new_dir), dirs) if dirs else []
    # every crds/ folder's apply in one step: a CRD's action names all of them, not "check" when there are two
    findings += crds.crd_findings(crd_list, apply_step=" && ".join(applies) if applies else None)
    if crd_objects:
        kinds = kinds_of(crd_objects)
        others: list[TreeResource] = []
        if tree_resources is not None:
            say("checking the tree's custom resources against NEW's CRDs")
            others, tree_notes = tree_resources(kinds)
            notes = list(notes) + tree_notes
        findings += check_custom_resources(crd_objects, own_resources + others,
                                           renamed={c.name: c.renamed for c in crd_list})
    # stored objects move off a removed storage version before any CRD is applied
    steps = [s for c in crd_list if c.storage_version_removed for s in crds.migration_steps(c)] + applies
    findings = rendered_effect.fold_covered(probe.judge(findings, ours_on), behaviour)
    findings = actions.calibrate(findings, rendered_envs=rendered_envs)
    findings = actions.merge_duplicates(findings)
    if history is not None:
        findings = [_with_pin(f, history) for f in findings]
    # crd/manifest findings without an env belong to all; the merge also folds identical per-env findings
    merged = actions.with_actions(merge_env_findings(findings, envs))
    return UpgradeReport(
        chart=chart,
        upstream_chart=upstream_chart or new_info.name,
        repository=repository,
        old_version=old_info.version,
        new_version=new_info.version,
        kube_version=kube_version,
        generated=_now(),
        findings=tuple(merged),
        releases=tuple(release_reports),
        crd_changes=tuple(crd_list),
        crd_steps=tuple(steps),
        crd_later_steps=tuple(s for c in crd_list if c.storage_version_moved for s in crds.moved_storage_steps(c)),
        upstream_notes=tuple(chart_meta.notes_from_releases(upstream_releases, old_info.version, new_info.version)),
        changelog=tuple(chart_meta.changelog_excerpt(new_info, old_info.version, new_info.version)),
        subchart_notes=tuple(chart_meta.subchart_notes(old_info, new_info)),
        old_app_version=old_info.app_version,
        new_app_version=new_info.app_version,
        notes=tuple(notes),
        not_checked=tuple(
            NotChecked(f"overrides of {rel.release} set only in {', '.join(rel.encrypted_files)}",
                       "sops-encrypted values are not decrypted", env=rel.env)
            for rel in releases if rel.encrypted_files) + tuple(va.not_checked),
    )


def _ours_on_containers(d: manifests.ManifestDiff, rel: ReleaseInput, chart: PreparedChart,
                        ours: list[dict[str, Any]], defaults_of: dict[tuple[str, str], Any]) -> dict[str, tuple[str, ...]]:
    """For each workload whose security context, command, volumes or probes change: the fields our values
    and patches set on it (NEW with the chart defaults alone against NEW as we deploy it). One more render,
    only when such a change exists and we set anything, and once per release name and namespace
    (`defaults_of` keeps it: environments that deploy the release alike render the same defaults)."""
    wanted = {str(c.key) for c in d.changed if c.key.kind in manifests.WORKLOAD_KINDS
              and any(rendered_effect.sensitive(e) for e in c.edits)}
    if not wanted or not rel.values:
        return {}
    key = (rel.release, rel.namespace)
    if key not in defaults_of:
        defaults_of[key] = _renderer(chart, rel)({})
    defaults = defaults_of[key]
    if defaults is None:
        return {}
    return rendered_effect.our_container_fields(defaults, ours, rel.namespace, wanted)


def _with_pin(f: Finding, history: Blame) -> Finding:
    """A masked default carries why we pinned it: the commit that last changed our override line."""
    if f.code != "values.default-changed-overridden":
        return f
    pin = history.pin(f.file, f.line)
    if pin is None or pin.commit == "uncommitted":
        return f
    return replace(f, message=f"{f.message} ({pin})", details=tuple(f.details) + (("pinned", pin.to_json()),))


# -- gathering the inputs from the repository ---------------------------------------------------------


def vendored_folder_after(lock: Any, entry: Any, new_version: str, root: Path) -> str:
    """Where NEW will live once bumped, relative to the repository root (for the CRD step)."""
    folder = lock.folder_of(entry)
    if entry.version in folder.name:
        folder = folder.with_name(folder.name.replace(entry.version, new_version))
    try:
        return folder.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return folder.as_posix()


def releases_from_helmfile(settings: Any, lock: Any, entry: Any, envs: list[str] | None) -> tuple[list[ReleaseInput], list[str]]:
    """Every release of the chart per environment with its effective overrides, from the helmfile model."""
    notes: list[str] = []
    try:
        helmfile.entry_file(settings)
    except InputError:
        notes.append(f"no helmfile state at {settings.helmfile_path}: analysed with the chart defaults only")
        return [], notes
    wanted = helmfile.wanted_environments(settings, envs)
    out: list[ReleaseInput] = []
    patches_root = settings.path(settings.patches_dir)
    for env in wanted:
        state = helmfile.load_state(settings, env)
        for rel in helmfile.releases_for_chart(state, lock, entry.name):
            if not rel.active:
                notes.append(f"{env}: release {rel.id} is not installed in this environment (skipped)")
                continue
            eff = helmfile.effective_values(state, rel)
            out.append(ReleaseInput(env, rel.name, rel.namespace or "default", dict(eff.values or {}), eff.provenance,
                                    tuple(eff.sources), tuple(eff.secret_files),
                                    kustomization=kustomize.release_kustomization(rel, patches_root, entry.name),
                                    from_helmfile=True, templated=helmfile.templated_overrides(state, eff),
                                    encrypted_files=tuple(eff.encrypted_files)))
    if not out:
        notes.append(f"no helmfile release uses {entry.name} in {', '.join(wanted)}: analysed with the chart defaults only")
    return out, notes


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def patch_hooks(settings: Any, entry: Any, releases: Sequence[ReleaseInput] = ()) -> tuple[PatchHooks | None, list[str]]:
    """Our kustomize patches: each release's from its helmfile wiring (`ReleaseInput.kustomization`),
    `<patches>/<chart>/` for releases whose wiring is unknown. None when no release has patches. The
    engine (`$CHARTKEEPER_KUSTOMIZE`) is chosen once here and patches OLD and NEW alike."""
    kdir = settings.path(settings.patches_dir) / entry.name
    root = Path(settings.root)
    has_own = kdir.is_dir() and kustomize.find_kustomization(kdir) is not None
    if not has_own and not any(r.kustomization for r in releases):
        return None, []
    engine = kustomize.select_engine()  # a bad CHARTKEEPER_KUSTOMIZE is bad input (exit 2), before any work

    def apply_pair(old: list[dict[str, Any]], new: list[dict[str, Any]], d: Path, namespace: str = "") -> tuple[Any, Any]:
        return kustomize.apply_pair(old, new, d, engine=engine, root=root, namespace=namespace)

    def findings(old: list[dict[str, Any]], new: list[dict[str, Any]], d: Path, namespace: str = "") -> list[Finding]:
        return patch_findings(old, new, d, chart=entry.name, root=root, namespace=namespace)

    return PatchHooks(kdir if has_own else None, apply_pair, findings), []


def _mentions(chart_dir: Path, words: Iterable[bytes], cache: dict[Path, bool]) -> bool:
    """Whether any file of the chart (its `crds/` aside) holds one of `words`, or a subchart archive we
    cannot read through. A kind reaches a rendered resource as text from the chart or its values: a chart
    that spells none of the kinds renders none, and is not rendered to find out."""
    if chart_dir not in cache:
        found = False
        for path in sorted(chart_dir.rglob("*")):
            if found:
                break
            if not path.is_file() or "crds" in path.relative_to(chart_dir).parts[:-1]:
                continue
            if path.suffix in (".tgz", ".gz"):
                found = True
                continue
            data = path.read_bytes()
            found = any(w in data for w in words)
        cache[chart_dir] = found
    return cache[chart_dir]


def tree_custom_resources(settings: Any, lock: Any, entry: Any, envs: Sequence[str]) -> TreeResources:
    """The custom resources the tree's other releases (other vendored charts and custom charts) render in
    `envs`, with their post-render patches, for the kinds asked. Each chart is prepared once; a release
    whose chart spells none of the kinds (files and values) is not rendered."""
    ours = lock.folder_of(entry).resolve()

    def gather(kinds: set[tuple[str, str]]) -> tuple[list[TreeResource], list[str]]:
        words = [k.encode() for _g, k in kinds]
        seen: dict[Path, bool] = {}
        out: list[TreeResource] = []
        notes: list[str] = []
        with TreeRenderer(settings, lock) as tree:
            for env in envs:
                state = helmfile.load_state(settings, env)
                for rel in state.releases:
                    if not rel.active or rel.chart_path is None or rel.chart_path.resolve() == ours:
                        continue
                    if not (rel.chart_path / "Chart.yaml").is_file():
                        continue
                    eff = helmfile.effective_values(state, rel)
                    values = dict(eff.values or {})
                    if not _mentions(rel.chart_path, words, seen) and not any(
                            w.decode() in str(values) for w in words):
                        continue
                    tree.chart(rel)  # a chart that does not load stops the analysis, as any other input error
                    try:
                        objs = tree.objects(rel, values)
                    except ChartkeeperError as exc:
                        notes.append(f"{env}: release {rel.id} does not render ({exc.message}): its custom resources "
                                     "are not checked against NEW's CRDs")
                        continue
                    out += [TreeResource(env, rel.id, rel.namespace or "default", o) for o in objs if isinstance(o, dict)
                            and (group_of(o.get("apiVersion")), o.get("kind")) in kinds]
        return out, notes

    return gather


def analyze_upgrade(
    settings: Any,
    lock: Any,
    entry: Any,
    new_dir: Path,
    new_version: str,
    envs: list[str] | None,
    *,
    upstream_releases: Iterable[Any] = (),
    engine: str = "auto",
    out: Any = None,
    show_label_churn: bool = False,
) -> UpgradeReport:
    """Analyse the upgrade of `entry` to `new_version`, the chart in `new_dir` (NEW, fetched and staged
    by the caller outside the repository); nothing in the repository changes."""
    say: Progress = (lambda m: out.info(m)) if out is not None and hasattr(out, "info") else (lambda _m: None)
    old_dir = lock.folder_of(entry)
    if not (old_dir / "Chart.yaml").is_file():
        raise InputError(f"{entry.name}: vendored folder {old_dir} is missing or not a chart",
                         hint="run `chartkeeper sync` to restore it from the lock")
    releases, notes = releases_from_helmfile(settings, lock, entry, envs)
    if not releases:
        releases = [ReleaseInput(env, entry.name, "default", {}) for env in (envs or ["default"])]
    hooks, pnotes = patch_hooks(settings, entry, releases)
    notes += pnotes
    report = analyze_pair(
        old_dir, new_dir, releases,
        chart=entry.name, upstream_chart=entry.chart, repository=entry.repository,
        kube_version=settings.kube_version, api_versions=settings.api_versions, engine=engine, patches=hooks,
        upstream_releases=upstream_releases, crd_folder=vendored_folder_after(lock, entry, new_version, settings.root),
        notes=notes, progress=say, driver_os_suffixes=settings.driver_os_suffixes, show_label_churn=show_label_churn,
        history=Blame(Path(settings.root)),
        tree_resources=(tree_custom_resources(settings, lock, entry, sorted({r.env for r in releases}))
                        if helmfile.has_state(settings) else None),
    )
    return check_new_images(report, settings, progress=say)


def check_new_images(report: UpgradeReport, settings: Any, *, progress: Progress | None = None) -> UpgradeReport:
    """Map each new image to where the site keeps it; when `images:` mapping exists (or `--check-images`),
    ask the site's registry and add `images.missing-from-mirror` / `images.check-failed` findings."""
    new = report.images_to_mirror
    if not new:
        return report
    mirrors = {i: settings.image_mirror_of(i) for i in new}
    checked = bool(settings.images_mapped or settings.check_images)
    presence: dict[str, Any] = {}
    if checked:
        if progress is not None:
            progress(f"checking {len(new)} new image(s) in the site's registry")
        presence = check_images(settings, mirrors.values())
    checks = tuple(images.ImageCheck(i, mirrors[i], getattr(presence.get(mirrors[i]), "present", None),
                                     getattr(presence.get(mirrors[i]), "error", None)) for i in new)
    sources: dict[str, list[str]] = {}
    envs: dict[str, list[str]] = {}
    for r in report.releases:
        if r.images is None:
            continue
        for i in r.images.to_mirror:
            if r.env not in envs.setdefault(i, []):
                envs[i].append(r.env)
            for s in r.images.sources_of(i):
                if s not in sources.setdefault(i, []):
                    sources[i].append(s)
    found = images.mirror_findings(checks, sources, envs)
    return replace(report, findings=tuple(sort_findings(list(report.findings) + found)), image_checks=checks,
                   images_checked=checked)
