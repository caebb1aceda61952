"""Safe YAML reading for every file chartkeeper loads.

Always the safe loader (C implementation when present): tags that would build Python
objects are refused. Alias expansion is bounded so a "billion laughs" document fails
fast instead of eating memory. Errors name the file and line.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from chartkeeper.errors import InputError

try:  # the C loader is ~10x faster on big index.yaml files
    _BaseLoader = yaml.CSafeLoader  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader

try:
    _BaseDumper = yaml.CSafeDumper  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover
    _BaseDumper = yaml.SafeDumper

# A document whose aliases expand past this many nodes is treated as hostile.
MAX_ALIAS_EXPANSION = 1_000_000


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


def _check_alias_bomb(data: Any, path: str | Path | None = None) -> None:
    try:
        _walk_cost(data)
    except InputError as exc:
        raise InputError(f"{_where(path)}{exc}") from None  # name the file, like every other YAML error


def _walk_cost(data: Any) -> None:
    """Count nodes reachable through shared references; refuse absurd expansion.

    PyYAML shares aliased objects instead of copying them, so loading is cheap, but any
    later walk (merge, diff, json.dumps) would visit each alias again. Count that walk.
    """
    seen_cost: dict[int, int] = {}

    def cost(node: Any, depth: int) -> int:
        if depth > 200:
            raise InputError("YAML nests deeper than 200 levels")
        if isinstance(node, dict):
            key = id(node)
            if key in seen_cost:
                return seen_cost[key]
            total = 1 + sum(cost(v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            key = id(node)
            if key in seen_cost:
                return seen_cost[key]
            total = 1 + sum(cost(v, depth + 1) for v in node)
        else:
            return 1
        seen_cost[key] = total
        if total > MAX_ALIAS_EXPANSION:
            raise InputError("YAML aliases expand past a million nodes (refused as hostile)")
        return total

    cost(data, 0)


def _where(path: str | Path | None) -> str:
    return f"{path}: " if path else ""


def loads(text: str | bytes, path: str | Path | None = None) -> Any:
    """Load one YAML document; `path` only names the source in errors."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise InputError(f"{_where(path)}{line}invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:  # e.g. a ReaderError on bytes that are not UTF-8; keep it one line
        raise InputError(f"{_where(path)}invalid YAML: {' '.join(str(exc).split())}") from None
    _check_alias_bomb(data, path)
    return data


def loads_composed(text: str | bytes, path: str | Path | None, look: Callable[[Any], None]) -> Any:
    """`loads`, handing the composed node tree to `look` before the data is built from it (one
    parse for the data and, say, the line of every key). Errors are those of `loads`."""
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
    _check_alias_bomb(data, path)
    return data


def loads_all_composed(text: str | bytes, path: str | Path | None, look: Callable[[int, Any], None]) -> list[Any]:
    """`loads_all`, handing each document's node tree to `look(index, node)` first (see
    `loads_composed`)."""
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
        _check_alias_bomb(doc, path)
    return docs


def loads_all(text: str | bytes, path: str | Path | None = None) -> list[Any]:
    """Load every document of a multi-document stream (`---` separated)."""
    try:
        docs = list(yaml.load_all(text, Loader=_Loader))  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise InputError(f"{_where(path)}{line}invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:  # e.g. a ReaderError on bytes that are not UTF-8; keep it one line
        raise InputError(f"{_where(path)}invalid YAML: {' '.join(str(exc).split())}") from None
    for doc in docs:
        _check_alias_bomb(doc, path)
    return docs


def load_file(path: str | Path) -> Any:
    try:
        text = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    return loads(text, path)


def iter_documents(text: str | bytes, path: str | Path | None = None) -> Iterator[Any]:
    yield from loads_all(text, path)


def dumps(data: Any) -> str:
    """Deterministic block-style YAML (key order kept as given)."""
    return yaml.dump(
        data, Dumper=_BaseDumper, default_flow_style=False, sort_keys=False, allow_unicode=True, width=1000
    )
