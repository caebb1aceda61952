"""`chartkeeper env-diff A B [CHART]`: how two environments differ, release by release."""

from __future__ import annotations

import json
from typing import Any


from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_FINDINGS, EXIT_OK
from chartkeeper.helmfile import effective_values, load_state
from chartkeeper.helmfile.merge import format_path, get_path
from chartkeeper.helmfile.select import lock_of, register_state_secrets, releases_matching
from chartkeeper.masking import mask_values
from chartkeeper.output import table as output_table

_MISSING = object()


def diff_values(a: Any, b: Any, path: tuple = ()) -> list[tuple[tuple, Any, Any]]:
    """(path, value in A, value in B) for every leaf that differs; _MISSING when absent."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in list(a) + [k for k in b if k not in a]:
            out.extend(diff_values(a.get(k, _MISSING), b.get(k, _MISSING), path + (k,)))
        return out
    if a is _MISSING and isinstance(b, dict) and b:
        return [d for k, v in b.items() for d in diff_values(_MISSING, v, path + (k,))]
    if b is _MISSING and isinstance(a, dict) and a:
        return [d for k, v in a.items() for d in diff_values(v, _MISSING, path + (k,))]
    if a is _MISSING and b is _MISSING:
        return []
    if type(a) is type(b) and a == b:
        return []
    return [(path, a, b)]


def _side(values: Any, masked: Any, path: tuple) -> Any:
    try:
        get_path(values, path)
    except KeyError:
        return _MISSING
    try:
        return get_path(masked, path)
    except KeyError:
        return _MISSING


def run(ctx: AppContext, env_a: str, env_b: str, chart: str | None = None, fail_on_diff: bool = False) -> int:
    lock = lock_of(ctx.settings)
    states = [load_state(ctx.settings, e) for e in (env_a, env_b)]
    per_env: list[dict[str, Any]] = []
    for st in states:
        rels = releases_matching(st, lock, chart) if chart else list(st.releases)
        found = {}
        for r in rels:
            if not r.active:
                continue
            ev = effective_values(st, r)
            found[r.id] = (ev.values, mask_values(ev.values, secret_files=ev.secret_files, provenance=ev.provenance), ev)
            register_state_secrets(st, ev.secret_files)
        per_env.append(found)
    ids = list(per_env[0]) + [i for i in per_env[1] if i not in per_env[0]]
    results = []
    total = 0
    for rid in ids:
        a, b = per_env[0].get(rid), per_env[1].get(rid)
        if a is None or b is None:
            results.append({"release": rid, "onlyIn": env_a if b is None else env_b, "changes": []})
            total += 1
            continue
        changes = []
        for path, _, _ in diff_values(a[0], b[0]):
            va, vb = _side(a[0], a[1], path), _side(b[0], b[1], path)
            changes.append(
                {
                    "path": format_path(path),
                    "a": None if va is _MISSING else va,
                    "b": None if vb is _MISSING else vb,
                    "change": "added" if va is _MISSING else "removed" if vb is _MISSING else "changed",
                }
            )
        total += len(changes)
        results.append({"release": rid, "onlyIn": None, "changes": changes})
    if ctx.out.json_mode:
        ctx.out.emit_json({"a": env_a, "b": env_b, "chart": chart, "releases": results, "differences": total})
    else:
        for res in results:
            if res["onlyIn"]:
                ctx.out.text(f"{res['release']}: only installed in {res['onlyIn']}")
                continue
            if not res["changes"]:
                continue
            table = output_table("values path", env_a, env_b, title=res["release"])
            for c in res["changes"]:
                table.add_row(
                    c["path"],
                    "(unset)" if c["change"] == "added" else _show(c["a"]),
                    "(unset)" if c["change"] == "removed" else _show(c["b"]),
                )
            ctx.out.result(table)
        if total == 0:
            ctx.out.info(f"no differences between {env_a} and {env_b}")
    return EXIT_FINDINGS if (fail_on_diff and total) else EXIT_OK


def _show(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, default=str)
