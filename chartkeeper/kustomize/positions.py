"""Line numbers of values inside YAML documents, so findings can point at a patch line.

`yamlio` returns plain data without positions. The text has already been loaded (and checked)
through `yamlio` when this runs; here we only compose the node tree, which builds no Python
objects, to read the marks.
"""

from __future__ import annotations

from typing import Union

import yaml

try:
    _Loader = yaml.CSafeLoader  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

PathKey = tuple[Union[str, int], ...]


def line_maps(text: str) -> list[dict[PathKey, int]]:
    """For each document: {path of a value: 1-based line where the value's content starts}.

    Block scalars (`|`, `>`) start on the line after their indicator, which is where an inline
    patch's first line sits. Returns [] when the text cannot be composed (callers then go without lines).
    """
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError:
        return []
    out = []
    for node in nodes:
        lines: dict[PathKey, int] = {}
        if node is not None:
            _walk(node, (), lines)
        out.append(lines)
    return out


def _walk(node: yaml.Node, path: PathKey, lines: dict[PathKey, int]) -> None:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        line += 1
    lines[path] = line
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                _walk(value, path + (key.value,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines)
