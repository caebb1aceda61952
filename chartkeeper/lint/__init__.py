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
  `helm dependency build`, which reaches the network and writes archives into the vendored folder);
- vendored folders are what the lock pins (no committed hand edit: `verify`'s drift), and no state
  file mixes `environments:`/`bases:` with `releases:` in one YAML part (helmfile 1.x refuses it).

Findings carry stable `lint.*` codes (docs/findings.md, "Lint findings"); the override and patch
checks keep the `values.*` / `patch.*` codes of the modules that make them
(`chartkeeper.analysis.values.check_overrides`, `chartkeeper.kustomize.check_patches`).

Modules, one concern each: `tree` (lock and vendored folders, unused pins and patches),
`committed` (vendored-folder drift, state files' YAML parts),
`releases` (one release in one environment), `charts` (overrides, helm lint, render, patches on
a local chart), `schemas` (environment values, secrets files), `context` (the run's state),
`report` (LintReport).
"""

from __future__ import annotations

from chartkeeper import helmfile as model
from chartkeeper.errors import ChartkeeperError, InputError
from chartkeeper.findings import Severity, sort_findings
from chartkeeper.helmfile.gotmpl import UnsupportedTemplate
from chartkeeper.lint import credentials
from chartkeeper.lint.committed import mixed_parts, vendored_drift
from chartkeeper.lint.context import LintContext
from chartkeeper.lint.releases import check_release
from chartkeeper.lint.report import LintReport
from chartkeeper.lint.schemas import check_env_values, check_secrets_files
from chartkeeper.lint.tree import check_lock_folders, check_unused
from chartkeeper.lockfile import load_lock
from chartkeeper.settings import Settings

__all__ = ["LintReport", "lint"]


def lint(settings: Settings, envs: list[str] | None = None) -> LintReport:
    """Lint the deployment tree in `envs` (default: every environment the helmfile defines).

    Raises `ChartkeeperError` only when linting cannot start (no lock, no helmfile, unknown
    environment); everything wrong inside the tree is a finding.
    """
    lock = load_lock(settings.lock_file, missing_ok=True)  # a deployment of custom charts only has none
    ctx = LintContext(settings, lock, settings.helmfile_file.parent)
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

    check_lock_folders(ctx)
    ctx.extend(vendored_drift(lock, ctx.rel))
    state_files: dict = {}
    for env in chosen:
        try:
            state = model.load_state(settings, env)
        except UnsupportedTemplate as exc:  # our renderer's limit, not the helmfile's fault
            ctx.unchecked("the helmfile state", exc.message, env=env)
            continue
        except ChartkeeperError as exc:
            ctx.add("lint.helmfile-invalid", Severity.BREAKING, f"the helmfile does not load: {exc.message}", env=env)
            continue
        state_files.update(dict.fromkeys(state.files))
        check_env_values(ctx, env, state.env_values)
        credentials.collect_environment(ctx, state, env)
        for file, line, message in state.warnings:
            ctx.add("lint.helmfile-merge-override", Severity.REVIEW, message, file=ctx.rel(file), line=line,
                    action="move the key into the anchored map, or drop `<<:` and write the keys out")
        for release in state.releases:
            check_release(ctx, model, state, release, env)
    ctx.extend(mixed_parts(state_files, ctx.rel))
    check_secrets_files(ctx)
    credentials.judge(ctx)
    if not envs:  # only a full run can tell that nothing uses a pin or a patch folder
        check_unused(ctx)
    return LintReport(
        findings=tuple(sort_findings(ctx.findings)),
        environments=tuple(chosen),
        releases=tuple(ctx.releases),
        checked=tuple(ctx.checked),
        not_checked=tuple(ctx.not_checked),
    )
