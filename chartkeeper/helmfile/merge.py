"""Helm's merge rules for user-supplied values, with where each leaf came from.

`helm -f a.yaml -f b.yaml --set x=1` merges maps key by key; a list or a scalar in a later
layer replaces the earlier one whole; `null` replaces too and, when the result is coalesced
with the chart's defaults, deletes the default (see `coalesce`). Provenance maps a values
path (a tuple of keys) to the (file, line) that set it; lists are leaves.
"""

from __future__ import annotations

import copy
from typing import Any

Path_ = tuple  # a values path: ("image", "repository")
Where = tuple[str, int]  # (file relative to the repository root, 1-based line)
Provenance = dict[tuple, Where]


def copy_tree(node: Any) -> Any:
    """A deep copy of JSON-like data (maps, lists, scalars); much faster than copy.deepcopy."""
    if isinstance(node, dict):
        return {k: copy_tree(v) for k, v in node.items()}
    if isinstance(node, list):
        return [copy_tree(v) for v in node]
    return node


def _group(src_prov: Provenance, depth: int) -> dict[Any, list[tuple[tuple, Where]]]:
    groups: dict[Any, list[tuple[tuple, Where]]] = {}
    for sp, where in src_prov.items():
        if len(sp) > depth:
            groups.setdefault(sp[depth], []).append((sp, where))
    return groups


def merge_into(dst: dict, src: dict, *, prov: Provenance | None = None, src_prov: Provenance | None = None, path: tuple = ()) -> dict:
    """Merge `src` into `dst` in place (Helm's mergeMaps) and carry provenance along.

    `src_prov` is the provenance of `src` alone (full paths from the same root).
    """
    groups = _group(src_prov, len(path)) if (prov is not None and src_prov) else None
    for k, v in src.items():
        p = path + (k,)
        cur = dst.get(k)
        sub = groups.get(k, []) if groups is not None else []
        if isinstance(v, dict) and isinstance(cur, dict):
            merge_into(cur, v, prov=prov, src_prov=dict(sub) if sub else None, path=p)
            if prov is not None and not v:
                for sp, where in sub:
                    if sp == p:
                        prov.setdefault(p, where)
            continue
        if prov is not None:
            if isinstance(cur, (dict, list)):
                _drop_under(prov, p)
            else:
                prov.pop(p, None)
        dst[k] = copy_tree(v)
        if prov is not None:
            for sp, where in sub:
                prov[sp] = where
    return dst


def _drop_under(prov: Provenance, p: tuple) -> None:
    n = len(p)
    for key in [k for k in prov if k[:n] == p]:
        del prov[key]


def merge_layers(layers: list[tuple[dict, Provenance]]) -> tuple[dict, Provenance]:
    out: dict = {}
    prov: Provenance = {}
    for data, lp in layers:
        merge_into(out, data, prov=prov, src_prov=lp)
    return out, prov


def plain_merge(base: dict, override: dict) -> dict:
    """helmfile's merge of environment values: maps merge, the rest replaces (a new dict)."""
    out = copy_tree(base)
    merge_into(out, override)
    return out


def _strip_nulls(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_nulls(v) for k, v in node.items() if v is not None}
    return copy_tree(node)


def coalesce(defaults: Any, overrides: Any) -> Any:
    """The values a chart sees (Helm's coalescing): its defaults overlaid with user values.

    A user `null` deletes the default of that key (and stays `null` when the default is missing or null);
    `null`s among the chart's own defaults are dropped.
    """
    if not isinstance(defaults, dict) or not isinstance(overrides, dict):
        return copy_tree(overrides)
    out = _strip_nulls(defaults)
    for k, v in overrides.items():
        if v is None:
            if defaults.get(k) is not None:
                del out[k]
            else:
                out[k] = None
        elif isinstance(v, dict) and isinstance(defaults.get(k), dict):
            out[k] = coalesce(defaults[k], v)
        else:
            out[k] = copy_tree(v)
    return out


def leaves(tree: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every leaf (scalar, list, null or empty map) with its path, in document order."""
    if isinstance(tree, dict) and tree:
        out: list[tuple[tuple, Any]] = []
        for k, v in tree.items():
            out.extend(leaves(v, path + (k,)))
        return out
    return [(path, tree)]


def get_path(tree: Any, path: tuple) -> Any:
    node = tree
    for k in path:
        if isinstance(node, dict) and k in node:
            node = node[k]
        elif isinstance(node, list) and isinstance(k, int) and 0 <= k < len(node):
            node = node[k]
        else:
            raise KeyError(path)
    return node


def where_of(prov: Provenance, path: tuple) -> Where | None:
    """The provenance of `path` or of its nearest recorded ancestor (list items, maps)."""
    for n in range(len(path), -1, -1):
        w = prov.get(path[:n])
        if w is not None:
            return w
    return None


def format_path(path: tuple) -> str:
    out = ""
    for k in path:
        if isinstance(k, int):
            out += f"[{k}]"
        else:
            s = str(k)
            out += ("." if out else "") + (s if s and all(c.isalnum() or c in "-_/" for c in s) else '"' + s.replace('"', '\\"') + '"')
    return out or "."
