"""`chartkeeper values CHART --env E`: what the deployment sets for a chart, and where."""

from __future__ import annotations

import json
from typing import Any

from chartkeeper import yamlio
from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_ERROR, EXIT_OK, InputError
from chartkeeper.helmfile import effective_values, load_state
from chartkeeper.helmfile.merge import format_path, leaves, where_of
from chartkeeper.helmfile.select import lock_of, register_state_secrets, releases_matching, resolve_env
from chartkeeper.masking import mask_values
from chartkeeper.output import redact


def _scalar(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False) if (not v or v != v.strip() or ":" in v or v[0] in "{[!&*#?|>'\"%@`-") else v
    return json.dumps(v, ensure_ascii=False, default=str)


def release_report(state: Any, release: Any) -> dict[str, Any]:
    base = {
        "name": release.name,
        "namespace": release.namespace,
        "chart": state.rel(release.chart_path) if release.chart_path else release.chart,
        "installed": release.active,
    }
    if not release.active:
        # helmfile renders nothing for a release it does not install (`installed: false`, a
        # false `condition:`/`installedTemplate`), so neither do we: its templates may need
        # values this environment does not have
        return {**base, "values": {}, "explain": [], "sources": [], "secretFiles": [], "encryptedFiles": []}
    try:
        ev = effective_values(state, release)
    except InputError as exc:
        # one release that cannot be read does not hide the others
        return {**base, "error": str(exc), "values": {}, "explain": [], "sources": [], "secretFiles": [], "encryptedFiles": []}
    masked = mask_values(ev.values, secret_files=ev.secret_files, provenance=ev.provenance)
    explain = []
    for path, value in leaves(masked):
        if not path:
            continue
        w = where_of(ev.provenance, path)
        explain.append({"path": format_path(path), "value": value, "file": w[0] if w else None, "line": w[1] if w else None})
    return {
        **base,
        "values": masked,
        "explain": explain,
        "sources": list(ev.sources),
        "secretFiles": list(ev.secret_files),
        "encryptedFiles": list(ev.encrypted_files),
        "deployTimeRefs": [format_path(p) for p in ev.deploy_time_refs],
    }


def run(ctx: AppContext, chart: str, env: str | None = None, explain: bool = False) -> int:
    env = resolve_env(ctx.settings, env)
    state = load_state(ctx.settings, env)
    releases = releases_matching(state, lock_of(ctx.settings), chart)
    reports = [release_report(state, r) for r in releases]
    register_state_secrets(state, tuple(f for rep in reports for f in rep["secretFiles"]))
    failed = [rep for rep in reports if rep.get("error")]
    code = EXIT_ERROR if failed else EXIT_OK
    # one `error:` line per cause (releases sharing a broken file share it); the others still print
    causes: dict[str, list[str]] = {}
    for rep in failed:
        causes.setdefault(rep["error"], []).append(f"{rep['namespace']}/{rep['name']}")
    for message, ids in causes.items():
        ctx.out.err.print(f"error: {redact(message)} (release {', '.join(ids)})", markup=False, style="red")
    if ctx.out.json_mode:
        ctx.out.emit_json({"environment": env, "chart": chart, "releases": reports})
        return code
    for f in state.rendered_by_helmfile:
        ctx.out.text(f"# {state.rel(f)}: rendered by helmfile (`helmfile build`): the embedded renderer cannot")
    for i, rep in enumerate(reports):
        if i:
            ctx.out.text("")
        status = "" if rep["installed"] else "  (not installed in this environment)"
        ctx.out.text(f"# {rep['namespace']}/{rep['name']}  chart: {rep['chart']}  env: {env}{status}")
        if rep.get("error"):
            ctx.out.text(f"# error: {rep['error']}")
            continue
        if not rep["installed"]:
            ctx.out.text("# not rendered: helmfile does not install it in this environment")
            continue
        for f in rep["encryptedFiles"]:
            ctx.out.text(f"# {f}: encrypted (sops); its values are not shown and not decrypted")
        for path in rep.get("deployTimeRefs", []):
            ctx.out.text(f"# {path}: a vals reference (ref+…), resolved by helmfile at deploy time; shown as written")
        if explain:
            # align the `# file:line` column, but one long value (a dashboard, a certificate) must not
            # pad every other line to its width
            width = min(max((len(e["path"]) + len(_scalar(e["value"])) for e in rep["explain"]), default=0) + 4, 100)
            for e in rep["explain"]:
                left = f"{e['path']}: {_scalar(e['value'])}"
                where = f"{e['file']}:{e['line']}" if e["file"] else "?"
                ctx.out.text(f"{left.ljust(width)}# {where}")
            if not rep["explain"]:
                ctx.out.text("{}  # no overrides")
        else:
            ctx.out.text(yamlio.dumps(rep["values"]).rstrip("\n") if rep["values"] else "{}  # no overrides")
    return code
