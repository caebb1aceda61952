"""`chartkeeper releases`: every release of the helmfile, its chart folder and lock entry."""

from __future__ import annotations

from typing import Any


from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_OK
from chartkeeper.helmfile import entry_file, list_environments, load_state
from chartkeeper.helmfile.select import chart_kind, lock_of
from chartkeeper.output import table as output_table


def release_rows(ctx: AppContext, env: str) -> list[dict[str, Any]]:
    settings = ctx.settings
    state = load_state(settings, env)
    lock = lock_of(settings)
    rows = []
    for r in state.releases:
        rows.append(
            {
                "environment": env,
                "name": r.name,
                "namespace": r.namespace,
                "chart": r.chart,
                "chartPath": state.rel(r.chart_path) if r.chart_path else None,
                "lockEntry": chart_kind(r, lock, settings.root),
                "version": r.version,
                "installed": r.installed,
                "condition": r.condition,
                "active": r.active,
                "values": [
                    state.rel(v.path) if v.path is not None else f"inline@{state.rel(v.source)}" + (f":{v.line}" if v.line else "") for v in r.values
                ],
                "set": [s.name for s in r.set],
                "needs": list(r.needs),
                "labels": dict(r.labels),
                "source": state.rel(r.source),
                "chartLine": r.chart_line,
            }
        )
    return rows


def run(ctx: AppContext, envs: list[str] | None = None) -> int:
    envs = list(envs or ()) or list_environments(ctx.settings)
    # the table shows paths relative to the helmfile's folder: shorter, and how helmfile users read them
    prefix = str(entry_file(ctx.settings).parent.resolve().relative_to(ctx.settings.root.resolve())).rstrip("/") + "/"
    if prefix == "./":
        prefix = ""

    def short(p: str | None) -> str | None:
        if p and prefix and p.startswith(prefix):
            return p[len(prefix) :]
        if p and prefix and p.startswith("inline@" + prefix):
            return "inline@" + p[len("inline@" + prefix) :]
        return p

    rows: list[dict[str, Any]] = []
    for e in envs:
        rows.extend(release_rows(ctx, e))
    if ctx.out.json_mode:
        ctx.out.emit_json({"releases": rows})
        return EXIT_OK
    table = output_table(*(["env"] if len(envs) > 1 else []), "release", "namespace", "chart folder", "lock entry", "values (in order)")
    for row in rows:
        name = row["name"] if row["active"] else f"{row['name']} (not installed)"
        cells = [
            name,
            row["namespace"],
            short(row["chartPath"]) or row["chart"],
            row["lockEntry"],
            "\n".join([short(v) or "" for v in row["values"]] + [f"--set {s}" for s in row["set"]]) or "-",
        ]
        table.add_row(*(([row["environment"]] if len(envs) > 1 else []) + cells))
    ctx.out.result(table)
    return EXIT_OK
