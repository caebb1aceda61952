"""Safe YAML reading for every file chartkeeper loads.

Always the safe loader (C implementation when present): tags that would build Python
objects are refused. Alias expansion is bounded so a "billion laughs" document fails
fast instead of eating memory. Errors name the file and line.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from chartkeeper import limits
from chartkeeper.errors import InputError

try:  # the C loader is ~10x faster on big index.yaml files
    _BaseLoader = yaml.CSafeLoader  # type: ignore[attr-defined]
    LOADER = "libyaml"
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader
    LOADER = "python"

try:
    _BaseDumper = yaml.CSafeDumper  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover
    _BaseDumper = yaml.SafeDumper

_STR, _MAP, _SEQ, _MERGE = (f"tag:yaml.org,2002:{t}" for t in ("str", "map", "seq", "merge"))


class _Slow(Exception):
    """A document the plain builder leaves to PyYAML's own constructor (merge keys, tags, odd keys)."""


@functools.lru_cache(maxsize=1 << 16)
def _scalar_tag(value: str, implicit: tuple[bool, bool]) -> str:
    return _BaseLoader.resolve(_PROTO, yaml.ScalarNode, value, implicit)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader, faster on the big documents rendered charts are made of (800 KB CRDs): a plain
    scalar's tag depends on its text alone, so it is resolved once per distinct text; and documents of plain
    maps, lists and scalars are built by one tight walk instead of PyYAML's generic constructor, which
    takes over for anything else (merge keys, explicit tags, a collection as a key, very deep nesting)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0] and not self.yaml_path_resolvers:
            return _scalar_tag(value, tuple(implicit))
        return super().resolve(kind, value, implicit)

    def construct_document(self, node: Any) -> Any:
        try:
            return _build(self, node)
        except (_Slow, RecursionError):
            return super().construct_document(node)


def _build(loader: Any, root: Any) -> Any:
    constructors = loader.yaml_constructors
    made: dict[int, Any] = {}  # an alias is the same node: the same object, as PyYAML makes it

    def build(node: Any) -> Any:
        cls = node.__class__
        if cls is yaml.ScalarNode:
            if node.tag == _STR:
                return node.value
            make = constructors.get(node.tag)
            if make is None:
                raise _Slow
            return make(loader, node)
        hit = made.get(id(node))
        if hit is not None:
            return hit
        if cls is yaml.MappingNode and node.tag == _MAP:
            out: dict[Any, Any] = {}
            made[id(node)] = out
            for k, v in node.value:
                if k.__class__ is not yaml.ScalarNode or k.tag == _MERGE:
                    raise _Slow
                out[build(k)] = build(v)
            return out
        if cls is yaml.SequenceNode and node.tag == _SEQ:
            seq: list[Any] = []
            made[id(node)] = seq
            seq.extend(build(c) for c in node.value)
            return seq
        raise _Slow

    return build(root)


# A plain `=` scalar is YAML 1.1's "value" tag, which PyYAML resolves but cannot construct.
# Helm's Go YAML reads it as the string "=" (PromQL and label matchers in rendered charts use it).
_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))
_PROTO = _Loader("")  # resolves plain scalars for the cache: the class's resolvers, no document


def _check_budget(data: Any, path: str | Path | None = None) -> None:
    try:
        _walk_cost(data, limits.current())
    except InputError as exc:
        raise InputError(f"{_where(path)}{exc}") from None  # name the file, like every other YAML error


def _walk_cost(data: Any, budget: limits.Limits) -> None:
    """Count the nodes and scalar bytes reachable through shared references; refuse absurd expansion.

    PyYAML shares aliased objects instead of copying them, so loading is cheap, but any later walk
    (merge, diff, json.dumps, the values handed to Helm) visits each alias again and copies its
    strings: a bomb of a few aliased long strings has few nodes and gigabytes of text. Count that walk.
    """
    seen_cost: dict[int, tuple[int, int]] = {}
    str_types = (str, bytes)

    def cost(node: Any, depth: int) -> tuple[int, int]:
        if depth > budget.depth:
            raise InputError(f"YAML nests deeper than {budget.depth} levels ({limits.key_of('depth')})")
        key = id(node)
        if key in seen_cost:
            return seen_cost[key]
        if isinstance(node, dict):
            children: Any = node.values()
            nodes, size = 1, sum(len(k) if isinstance(k, str_types) else 8 for k in node)  # keys: always scalars
        else:
            children, nodes, size = node, 1, 0
        for child in children:
            if isinstance(child, (dict, list)):
                n, b = cost(child, depth + 1)
                nodes, size = nodes + n, size + b
            else:  # a scalar, inline: most nodes of a big document are
                nodes, size = nodes + 1, size + (len(child) if isinstance(child, str_types) else 8)
        seen_cost[key] = (nodes, size)
        if nodes > budget.yaml_nodes:
            raise InputError(f"YAML aliases expand past {budget.yaml_nodes:,} nodes (refused as hostile; "
                             f"{limits.key_of('yaml_nodes')})")
        if size > budget.yaml_bytes:
            raise InputError(f"YAML aliases expand past {limits.size(budget.yaml_bytes)} of text (refused as "
                             f"hostile; {limits.key_of('yaml_bytes')})")
        return nodes, size

    if isinstance(data, (dict, list)):
        cost(data, 0)


def _check_size(text: str | bytes, path: str | Path | None, max_bytes: int | None) -> None:
    cap = max_bytes if max_bytes is not None else limits.current().yaml_bytes
    if len(text) > cap:
        where = _where(path) or "a YAML document: "
        raise InputError(f"{where}{limits.size(len(text))} is more than the {limits.size(cap)} a YAML document may "
                         f"hold ({limits.key_of('index_bytes' if max_bytes is not None else 'yaml_bytes')})")


def _where(path: str | Path | None) -> str:
    return f"{path}: " if path else ""


def _input_error(exc: yaml.YAMLError, path: str | Path | None) -> InputError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark
        line = f"line {mark.line + 1}: " if mark is not None else ""
        return InputError(f"{_where(path)}{line}invalid YAML: {exc.problem}")
    if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.character, int):
        return InputError(undecodable(path, exc.position, exc.character, exc.reason))
    return InputError(f"{_where(path)}invalid YAML: {' '.join(str(exc).split())}")  # keep it one line


def undecodable(path: str | Path | None, offset: int, char: int, reason: str = "not UTF-8") -> str:
    """The message for a byte that is not text: file, offset and byte, for every input chartkeeper decodes."""
    return f"{_where(path)}offset {offset}: cannot read 0x{char:02x} ({reason}); inputs must be UTF-8 text"


def decode(data: bytes, path: str | Path) -> str:
    """`data` as UTF-8 text, or an InputError naming the file and the offset of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(undecodable(path, exc.start, data[exc.start])) from None


def read_text(path: str | Path) -> str:
    """A text file the user or an upstream wrote, as UTF-8: a missing file, an unreadable one or a
    byte that is not UTF-8 is an InputError naming the file (and the offset)."""
    return decode(_read_bytes(path), path)


def _read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def loads(text: str | bytes, path: str | Path | None = None, *, max_bytes: int | None = None) -> Any:
    """Load one YAML document; `path` only names the source in errors. `max_bytes`: a document bigger
    than `limits.yaml_bytes` is allowed (a repository index, under its own limit)."""
    _check_size(text, path, max_bytes)
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a safe loader
    except yaml.YAMLError as exc:
        raise _input_error(exc, path) from None
    _check_budget(data, path)
    return data


def loads_composed(text: str | bytes, path: str | Path | None, look: Callable[[Any], None]) -> Any:
    """`loads`, handing the composed node tree to `look` before the data is built from it (one
    parse for the data and, say, the line of every key). Errors are those of `loads`."""
    _check_size(text, path, None)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            look(node)  # before constructing: construction rewrites `<<:` merge nodes in place
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError:
        return loads(text, path)  # the same error, worded as `loads` words it
    finally:
        loader.dispose()
    _check_budget(data, path)
    return data


def loads_all_composed(text: str | bytes, path: str | Path | None, look: Callable[[int, Any], None]) -> list[Any]:
    """`loads_all`, handing each document's node tree to `look(index, node)` first (see
    `loads_composed`)."""
    _check_size(text, path, None)
    loader = _Loader(text)
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            look(len(docs), node)
            docs.append(loader.construct_document(node))
    except yaml.YAMLError:
        return loads_all(text, path)  # the same error, worded as `loads_all` words it
    finally:
        loader.dispose()
    for doc in docs:
        _check_budget(doc, path)
    return docs


def loads_all(text: str | bytes, path: str | Path | None = None) -> list[Any]:
    """Load every document of a multi-document stream (`---` separated)."""
    _check_size(text, path, None)
    try:
        docs = list(yaml.load_all(text, Loader=_Loader))  # noqa: S506
    except yaml.YAMLError as exc:
        raise _input_error(exc, path) from None
    for doc in docs:
        _check_budget(doc, path)
    return docs


def check_loaded(text: str | bytes, docs: list[Any], path: str | Path | None = None) -> None:
    """The checks `loads_all` makes, for documents of `text` loaded earlier (and kept): the limits in
    force now are the ones that count."""
    _check_size(text, path, None)
    for doc in docs:
        _check_budget(doc, path)


def load_file(path: str | Path) -> Any:
    return loads(_read_bytes(path), path)


def loads_strict(text: str | bytes, path: str | Path | None = None) -> Any:
    """`loads` for files whose keys are never meant twice (versions.lock, chartkeeper.yaml): a key
    given twice in one mapping, as a merge conflict resolved by hand leaves it, is an error naming
    both lines instead of the last one silently winning."""
    return loads_composed(text, path, lambda node: _refuse_duplicate_keys(node, path))


def _refuse_duplicate_keys(root: Any, path: str | Path | None) -> None:
    todo = [root]
    seen_nodes: set[int] = set()
    while todo:  # iterative: the document's depth is bounded later, by `_check_budget`
        node = todo.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            lines: dict[str, int] = {}
            for knode, vnode in node.value:
                todo.append(vnode)
                if not isinstance(knode, yaml.ScalarNode) or knode.tag == "tag:yaml.org,2002:merge":
                    continue
                line = knode.start_mark.line + 1
                if knode.value in lines:
                    raise InputError(f"{_where(path)}line {line}: duplicate key `{knode.value}` (first at line "
                                     f"{lines[knode.value]}); keep one")
                lines[knode.value] = line
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)


def loads_json(data: str | bytes, path: str | Path, *, max_bytes: int | None = None) -> Any:
    """A JSON document a chart or a user wrote (values.schema.json): at most `limits.schemaBytes`
    (or `max_bytes`) and `limits.depth` levels deep; errors name the file."""
    budget = limits.current()
    cap = max_bytes if max_bytes is not None else budget.schema_bytes
    if len(data) > cap:
        raise InputError(f"{path}: {limits.size(len(data))} is more than the {limits.size(cap)} a JSON document may "
                         f"hold ({limits.key_of('schema_bytes')})")
    text = decode(data, path) if isinstance(data, bytes) else data
    try:
        doc = json.loads(text)
    except RecursionError:
        doc = None  # nested past Python's own stack: certainly past the limit, worded below
        depth = budget.depth + 1
    except ValueError as exc:
        raise InputError(f"{path}: invalid JSON ({exc})") from None
    else:
        depth = _depth(doc, budget.depth)
    if depth > budget.depth:
        raise InputError(f"{path}: nests deeper than {budget.depth} levels ({limits.key_of('depth')})")
    return doc


def _depth(doc: Any, cap: int) -> int:
    """How deep `doc` nests, counting no further than `cap + 1` (iterative: no recursion limit)."""
    todo = [(doc, 0)]
    deepest = 0
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        if deepest > cap:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        todo.extend((c, depth + 1) for c in children)
    return deepest


def iter_documents(text: str | bytes, path: str | Path | None = None) -> Iterator[Any]:
    yield from loads_all(text, path)


def dumps(data: Any) -> str:
    """Deterministic block-style YAML (key order kept as given)."""
    return yaml.dump(
        data, Dumper=_BaseDumper, default_flow_style=False, sort_keys=False, allow_unicode=True, width=1000
    )
