"""Line numbers of YAML keys: which line of a values file set `image.repository`.

The data itself is always loaded through `chartkeeper.yamlio` (safe loader, alias guard);
this module only composes the node tree a second time to read the marks.
"""

from __future__ import annotations

from typing import Any

import yaml

from chartkeeper import yamlio

try:
    _Loader = yaml.CSafeLoader  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

_MAX_NODES = 200_000


def _scalar_key(node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        try:
            return yamlio.loads(yaml.serialize(node, Dumper=yaml.SafeDumper))
        except Exception:  # noqa: BLE001 - a key we cannot read back is simply not mapped
            return node.value
    return None


def _simple_key(node: yaml.Node) -> Any:
    # Fast path: plain scalars that are obviously strings (the common case).
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
        return node.value
    return _scalar_key(node)


def line_map(text: str, *, line_offset: int = 0, documents: bool = False) -> Any:
    """{path tuple: 1-based line} for every mapping key and list item of the document.

    With `documents=True`, a list of such maps, one per `---` document.
    """
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError:
        return [] if documents else {}
    maps = []
    for node in nodes:
        out: dict[tuple, int] = {}
        budget = [_MAX_NODES]
        if node is not None:
            _walk(node, (), out, line_offset, budget)
        maps.append(out)
    if documents:
        return maps
    return maps[0] if maps else {}


def load_with_lines(text: str, where: str) -> tuple[Any, dict[tuple, int]]:
    """One YAML document and its `line_map`, from a single parse."""
    out: dict[tuple, int] = {}
    data = yamlio.loads_composed(text, where, lambda node: _walk(node, (), out, 0, [_MAX_NODES]))
    return data, out


def load_all_with_lines(text: str, where: str, line_offset: int = 0) -> tuple[list[Any], list[dict[tuple, int]]]:
    """Every document of a stream and `line_map(documents=True)` of it, from a single parse."""
    maps: list[dict[tuple, int]] = []

    def look(_index: int, node: yaml.Node) -> None:
        out: dict[tuple, int] = {}
        if node is not None:
            _walk(node, (), out, line_offset, [_MAX_NODES])
        maps.append(out)

    docs = yamlio.loads_all_composed(text, where, look)
    return docs, maps


def _walk(node: yaml.Node, path: tuple, out: dict[tuple, int], off: int, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        return
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                # `<<: *base` — the merged keys are set by the anchor's lines
                targets = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
                for t in targets:
                    if isinstance(t, yaml.MappingNode):
                        for k2, v2 in t.value:
                            key = _simple_key(k2)
                            p = path + (key,)
                            out.setdefault(p, k2.start_mark.line + 1 + off)
                            _walk(v2, p, out, off, budget)
                continue
            key = _simple_key(knode)
            p = path + (key,)
            out[p] = knode.start_mark.line + 1 + off
            _walk(vnode, p, out, off, budget)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            p = path + (i,)
            out[p] = item.start_mark.line + 1 + off
            _walk(item, p, out, off, budget)


def merge_overrides(text: str) -> list[tuple[int, str]]:
    """(0-based line, key) of every explicit key that repeats one a `<<:` merge brings into the
    same mapping: YAML lets it override, helmfile 0.166's strict decoder refuses the file."""
    try:
        nodes = list(yaml.compose_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError:
        return []
    found: list[tuple[int, str]] = []
    seen: set[int] = set()

    def merged_keys(node: yaml.Node) -> set[str]:
        if isinstance(node, yaml.MappingNode):
            keys = set()
            for k, v in node.value:
                if k.value == "<<":
                    keys |= merged_keys(v)
                else:
                    keys.add(k.value)
            return keys
        if isinstance(node, yaml.SequenceNode):
            out: set[str] = set()
            for item in node.value:
                out |= merged_keys(item)
            return out
        return set()

    def walk(node: yaml.Node | None) -> None:
        if node is None or id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            merges = [v for k, v in node.value if k.value == "<<"]
            if merges:
                inherited: set[str] = set()
                for m in merges:
                    inherited |= merged_keys(m)
                for k, _v in node.value:
                    if k.value != "<<" and k.value in inherited:
                        found.append((k.start_mark.line, str(k.value)))
            for k, v in node.value:
                walk(v)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)

    for n in nodes:
        walk(n)
    return found
