"""Field paths inside a manifest that survive list reordering: `containers[name=app].env[name=A].value`.

The three-way comparison asks "what did upstream do to the field our patch sets?", and an index
is not the same field once upstream inserts a container; merge keys are.
"""

from __future__ import annotations

from typing import Any, Union

from chartkeeper.kustomize.embedded import same

Step = Union[str, int, tuple[str, Any]]  # map key, list index, or (merge key, value)
Path = tuple[Step, ...]

_KEYS = ("name", "mountPath", "containerPort", "port", "ip", "uid", "devicePath", "topologyKey")
MISSING = object()


def _list_key(*lists: list[Any]) -> str | None:
    for key in _KEYS:
        ok = True
        for items in lists:
            values = [i.get(key) if isinstance(i, dict) else None for i in items]
            if any(v is None for v in values) or len(set(map(str, values))) != len(values):
                ok = False
                break
        if ok:
            return key
    return None


def leaf_changes(a: Any, b: Any, prefix: Path = ()) -> list[Path]:
    """Paths of the leaves that differ between `a` and `b` (MISSING where a side lacks the value)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[Path] = []
        for k in list(a) + [k for k in b if k not in a]:
            out += leaf_changes(a.get(k, MISSING), b.get(k, MISSING), prefix + (k,))
        return out
    if isinstance(a, list) and isinstance(b, list):
        key = _list_key(a, b) if (a or b) else None
        if key:
            ia = {str(i[key]): i for i in a}
            ib = {str(i[key]): i for i in b}
            out = []
            for k in list(ia) + [k for k in ib if k not in ia]:
                raw = (ia.get(k) or ib.get(k))[key]  # type: ignore[index]
                out += leaf_changes(ia.get(k, MISSING), ib.get(k, MISSING), prefix + ((key, raw),))
            return out
        if len(a) == len(b):
            out = []
            for i, (x, y) in enumerate(zip(a, b)):
                out += leaf_changes(x, y, prefix + (i,))
            return out
    if isinstance(a, dict) and b is MISSING:
        return [p for k, v in a.items() for p in leaf_changes(v, MISSING, prefix + (k,))] or [prefix]
    if a is MISSING and isinstance(b, dict):
        return [p for k, v in b.items() for p in leaf_changes(MISSING, v, prefix + (k,))] or [prefix]
    if a is MISSING and b is MISSING:
        return []
    return [] if (a is not MISSING and b is not MISSING and same(a, b)) else [prefix]


def get(doc: Any, path: Path) -> Any:
    node = doc
    for step in path:
        if isinstance(step, tuple):
            key, value = step
            if not isinstance(node, list):
                return MISSING
            found = [i for i in node if isinstance(i, dict) and str(i.get(key)) == str(value)]
            if not found:
                return MISSING
            node = found[0]
        elif isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return MISSING
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return MISSING
            node = node[step]
    return node


def pointer(doc: Any, path: Path) -> str:
    """The JSON pointer of `path` in `doc` (merge keys resolved to indices; stops where `doc` ends)."""
    node = doc
    out = ""
    for step in path:
        if isinstance(step, tuple):
            key, value = step
            hits = [i for i, item in enumerate(node) if isinstance(item, dict) and str(item.get(key)) == str(value)] \
                if isinstance(node, list) else []
            if not hits:
                return out
            out += f"/{hits[0]}"
            node = node[hits[0]]
        else:
            out += "/" + str(step).replace("~", "~0").replace("/", "~1")
            if isinstance(step, int) and isinstance(node, list) and step < len(node):
                node = node[step]
            elif isinstance(node, dict) and step in node:
                node = node[step]
            else:
                node = None
    return out


def show(path: Path) -> str:
    out = ""
    for step in path:
        if isinstance(step, tuple):
            out += f"[{step[0]}={step[1]}]"
        elif isinstance(step, int):
            out += f"[{step}]"
        else:
            out += ("." if out else "") + str(step)
    return out or "(whole resource)"
