"""Checks on a local chart with a release's values: overrides, `helm lint`, render, patches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from chartkeeper.analysis.values import check_overrides
from chartkeeper.errors import ChartkeeperError
from chartkeeper.findings import Finding, Severity
from chartkeeper.helm.render import RenderError, prepare_chart
from chartkeeper.kustomize import check_patches
from chartkeeper.lint.context import LintContext, one_line


def lint_overrides(ctx: LintContext, chart_dir: Path, values: Mapping[str, Any], provenance: Any, env: str) -> list[Finding]:
    # The info findings (an override equal to the chart default, ...) are upgrade hints; values
    # driven by environment settings often coincide with a default in one environment.
    findings, unchecked = check_overrides(chart_dir, values, provenance, env=env, universe=ctx.universe(chart_dir))
    for item in unchecked:
        ctx.unchecked(item.what, item.why, env=item.env)
    return [f for f in findings if f.severity is not Severity.INFO]


def helm_lint(ctx: LintContext, chart_dir: Path, values: Mapping[str, Any], release: Any, env: str) -> bool:
    """`helm lint --strict` on a custom chart with the release's values; False when it has errors."""
    import helm_python  # lazy: helm-python-sdk loads a large native library; only commands that render need it

    ctx.checked.append(f"helm lint {ctx.rel(chart_dir)} ({env})")
    try:
        result = helm_python.lint(str(chart_dir), json.loads(json.dumps(values, default=str)), strict=True,
                                   namespace=release.namespace, kube_version=ctx.settings.kube_version)
    except Exception as exc:  # the engine reports bad charts as exceptions of its own
        ctx.add("lint.chart-lint", Severity.BREAKING, f"{ctx.rel(chart_dir)}: helm lint failed: {one_line(exc)}", env=env)
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
            f"{ctx.rel(chart_dir)}/{msg.get('path', '')}: {one_line(msg.get('error', ''))} (release {release.id})",
            env=env,
            file=ctx.rel(chart_dir / str(msg.get("path", ""))),
        )
    return ok


def render_release(ctx: LintContext, chart_dir: Path, values: Mapping[str, Any], release: Any, env: str) -> list[dict[str, Any]] | None:
    ctx.checked.append(f"render {release.id} ({env})")
    try:
        prepared = ctx.prepared.get(chart_dir)
        if prepared is None:
            prepared = ctx.prepared[chart_dir] = prepare_chart(chart_dir, kube_version=ctx.settings.kube_version,
                                                               api_versions=ctx.settings.api_versions)
        result = prepared.render(dict(values), release=release.name, namespace=release.namespace)
    except RenderError as exc:
        ctx.add(
            "lint.render-failed",
            Severity.BREAKING,
            f"release {release.id} does not render: {one_line(exc.message)}",
            env=env,
            file=ctx.rel(chart_dir),
        )
        return None
    except ChartkeeperError as exc:  # the engine could not run (not the chart's fault): not a finding
        ctx.unchecked(f"render of {release.id}", exc.message, env=env)
        return None
    return [m.obj for m in result.manifests if not m.is_crd_file]


def lint_patches(ctx: LintContext, manifests: list[dict[str, Any]], folder: Path, namespace: str) -> list[Finding]:
    try:
        return list(check_patches(manifests, folder, root=ctx.settings.root, namespace=namespace))
    except ChartkeeperError as exc:  # a kustomization the engine cannot model
        return [Finding("lint.patch-invalid", Severity.BREAKING, exc.message, file=ctx.rel(folder / "kustomization.yaml"))]
