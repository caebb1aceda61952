"""OLD chart defaults against NEW, as a structured diff computed by dictdiffer.

Values are compared the way Helm's templates see them: lists are single values (Helm replaces a
list whole, it never merges one), and `1`, `1.0`, `true` and `"1"` are different values although
Python finds some of them equal (each leaf is wrapped in `_Leaf`, whose equality checks the type).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dictdiffer

from chartkeeper.analysis.chart_keys import Path_


@dataclass(frozen=True, eq=False)
class _Leaf:
    """A non-map value as dictdiffer should compare it: by type and value, lists as one value."""

    value: Any

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Leaf):
            return NotImplemented
        return same_value(self.value, other.value)

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]


def same_value(a: Any, b: Any) -> bool:
    """YAML 1 and 1.0 and True are distinct to Helm's templates only by type; compare with types."""
    return type(a) is type(b) and a == b if not isinstance(a, (dict, list)) else a == b


def _wrapped(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _wrapped(v) for k, v in tree.items()}
    return _Leaf(tree)


def _plain(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _plain(v) for k, v in tree.items()}
    return tree.value if isinstance(tree, _Leaf) else tree


def key_paths(tree: Any, prefix: Path_ = ()) -> set[Path_]:
    """The path of every key in the nested maps of `tree` (a map's own keys and all below)."""
    out: set[Path_] = set()
    if isinstance(tree, dict):
        for k, v in tree.items():
            p = prefix + (str(k),)
            out.add(p)
            out |= key_paths(v, p)
    return out


@dataclass(frozen=True)
class DefaultsDiff:
    """What changed between two values trees.

    `added`/`removed`: every key path one version has and the other has not, sorted. `changed`:
    (path, OLD value, NEW value) where both have the key and the value differs as a whole — a
    leaf, a leaf that became a map or a map that became a leaf, a map that lost all its keys.
    """

    added: tuple[Path_, ...]
    removed: tuple[Path_, ...]
    changed: tuple[tuple[Path_, Any, Any], ...]


def diff_defaults(old: Any, new: Any) -> DefaultsDiff:
    added: set[Path_] = set()
    removed: set[Path_] = set()
    changed: list[tuple[Path_, Any, Any]] = []
    emptied: set[Path_] = set()
    for kind, where, what in dictdiffer.diff(_wrapped(old), _wrapped(new), dot_notation=False):
        base = tuple(str(k) for k in where)
        if kind == "change":
            a, b = _plain(what[0]), _plain(what[1])
            changed.append((base, a, b))
            # a leaf that became a map (or back): the keys below the map are new (or gone)
            added |= key_paths(b, base)
            removed |= key_paths(a, base)
            continue
        target = added if kind == "add" else removed
        for k, v in what:
            p = base + (str(k),)
            target.add(p)
            target |= key_paths(_plain(v), p)
        if kind == "remove" and base and base not in emptied and _at(new, where) == {}:
            # every key of a map removed: NEW's value there is `{}`, a value of its own
            emptied.add(base)
            changed.append((base, _at(old, where), {}))
    return DefaultsDiff(tuple(sorted(added)), tuple(sorted(removed)), tuple(changed))


def _at(tree: Any, where: list[Any]) -> Any:
    for k in where:
        tree = tree[k]
    return tree
