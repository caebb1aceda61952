"""Which overrides come from a template expression, and which environment values they read.

A value in a `.gotmpl` values file such as

    repository: {{ .Values.offline.registry | default "nvcr.io" }}/nvidia

equals the chart default only while `offline.registry` is empty — in the repository's own
environments, say — and is the whole point of the override at a site that sets it. The analysis
must know that before it calls an override redundant.

We read the *source* of the file that set each value (the provenance's file) as a skeleton: every
`{{ … }}` printed into a line becomes a placeholder, lines holding only control actions (`if`,
`with`, `range`, `else`, `end`) are blanked and tracked as open blocks, and the result is parsed as
YAML with its line numbers (line numbers stay those of the source). A value is templated when its
node holds a placeholder, sits inside an open block, or is not in the skeleton at all (a template
wrote the key: `toYaml`, `range`…). When the skeleton does not parse, every value of that file is
treated as templated: the analysis must never advise dropping what it could not read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from chartkeeper.errors import ChartkeeperError
from chartkeeper.helmfile.merge import get_path
from chartkeeper.helmfile.yamllines import load_with_lines

_ACTION_RE = re.compile(r"\{\{(?!/\*)-?(.*?)-?\}\}|\{\{-?\s*/\*.*?\*/\s*-?\}\}", re.S)
_OPEN_RE = re.compile(r"^\s*(if|with|range)\b\s*(.*)$", re.S)
_ELSE_RE = re.compile(r"^\s*else\b\s*(?:if\b|with\b)?\s*(.*)$", re.S)
_END_RE = re.compile(r"^\s*end\s*$")
_CONTROL_RE = re.compile(r"^\s*(?:if|with|range|else|end|define|block|break|continue)\b|^\s*\$[A-Za-z0-9_]*\s*:?=")
# `.Values.a.b`, `.Environment.Values.a.b`, `.StateValues.a.b`, `$.Values.a.b`
_REF_RE = re.compile(r"(?:\$|\b)?\.(?:Environment\.Values|StateValues|Values)((?:\.[A-Za-z_][A-Za-z0-9_-]*)+)")
_GET_RE = re.compile(r"\bget\s+\"([^\"]+)\"")  # helmfile's `.Values | get "a.b" "default"`
_PLACEHOLDER = "__chartkeeper_tpl_{}__"
_PLACEHOLDER_RE = re.compile(r"__chartkeeper_tpl_(\d+)__")


@dataclass(frozen=True)
class Templated:
    """How a templated override gets its value."""

    file: str  # relative to the repository root
    line: int | None  # the source line of the key (None: a template wrote the key)
    expression: str  # the template text that decides it ("" when it cannot be told)
    reads: tuple[str, ...] = ()  # environment values it reads, dotted ("offline.registry")
    inputs: str = ""  # those values as this environment sets them: "`offline.registry` is empty"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


def describe_inputs(reads: tuple[str, ...], env_values: Mapping[str, Any]) -> str:
    """`offline.registry` is empty, `x.y` is "a" — a template's inputs as one environment sets them."""
    parts = []
    for name in reads:
        found, value = _lookup(env_values, name)
        if not found or value in (None, "", [], {}):
            parts.append(f"`{name}` is {'unset' if not found else 'empty'}")
        else:
            parts.append(f"`{name}` is {_short(value)}")
    return ", ".join(parts)


@dataclass(frozen=True)
class _Skeleton:
    data: Any  # the parsed skeleton, or None when it does not parse
    lines: dict[tuple, int]
    expressions: dict[str, str]  # placeholder number -> action text
    blocks: dict[int, tuple[str, ...]]  # line -> open block conditions


_SKELETONS: dict[tuple[str, str], _Skeleton] = {}


def references(expression: str) -> tuple[str, ...]:
    """The environment values a template expression reads, dotted, in order of appearance."""
    refs = [m.group(1).lstrip(".") for m in _REF_RE.finditer(expression)]
    refs += [m.group(1) for m in _GET_RE.finditer(expression)]
    return tuple(dict.fromkeys(refs))


def skeleton(text: str, where: str = "") -> _Skeleton:
    hit = _SKELETONS.get((where, text))
    if hit is not None:
        return hit
    exprs: dict[str, str] = {}
    blocks: dict[int, tuple[str, ...]] = {}
    stack: list[str] = []
    out: list[str] = []
    for n, line in enumerate(_join_multiline_actions(text).split("\n"), start=1):
        blocks[n] = tuple(stack)
        actions = list(_ACTION_RE.finditer(line))
        if not actions:
            out.append(line)
            continue
        control_only = not _ACTION_RE.sub("", line).strip()
        for m in actions:
            body = (m.group(1) or "").strip()
            if _OPEN_RE.match(body):
                stack.append(body)
            elif _ELSE_RE.match(body) and stack:
                stack[-1] = f"{stack[-1]} / {body}"
            elif _END_RE.match(body) and stack:
                stack.pop()
            elif m.group(1) is not None and not _CONTROL_RE.match(body):
                control_only = False  # a line that prints (`{{ toYaml .Values.x | nindent 2 }}`) is a value
        if control_only:
            out.append("")
            continue

        def placeholder(m: re.Match[str]) -> str:
            i = str(len(exprs))
            exprs[i] = m.group(0)
            return _PLACEHOLDER.format(i)

        out.append(_ACTION_RE.sub(placeholder, line))
    skel_text = "\n".join(out)
    try:
        data, lines = load_with_lines(skel_text, where)
        if not isinstance(data, dict):
            lines = {}
    except ChartkeeperError:
        data, lines = None, {}
    result = _Skeleton(data if isinstance(data, dict) else None, lines, exprs, blocks)
    if len(_SKELETONS) > 512:
        _SKELETONS.clear()
    _SKELETONS[(where, text)] = result
    return result


def _join_multiline_actions(text: str) -> str:
    """An action spanning lines becomes one line, blank lines keep the numbering of what follows."""
    def one_line(m: re.Match[str]) -> str:
        inner = m.group(0)
        extra = inner.count("\n")
        return inner.replace("\n", " ") + "\n" * extra if extra else inner

    return re.sub(r"\{\{.*?\}\}", one_line, text, flags=re.S)


def _subtree(data: Any, path: tuple) -> tuple[bool, Any]:
    try:
        return True, get_path(data, path)
    except KeyError:
        return False, None


def _placeholders_in(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            found += _PLACEHOLDER_RE.findall(str(k))
            found += _placeholders_in(v)
    elif isinstance(node, list):
        for v in node:
            found += _placeholders_in(v)
    elif isinstance(node, str):
        found += _PLACEHOLDER_RE.findall(node)
    return found


def templated_at(skel: _Skeleton, path: tuple, file: str) -> Templated | None:
    """How `path` of a `.gotmpl` file's values is templated, or None when it is a plain literal there."""
    if skel.data is None:  # unreadable as a skeleton: templated, reading whatever the file reads
        return Templated(file, None, "", references(" ".join(skel.expressions.values())))
    # the nearest key the source writes itself; below it, a template may have written the rest
    for i in range(len(path), 0, -1):
        found, node = _subtree(skel.data, path[:i])
        if not found:
            continue
        if i == len(path) and isinstance(node, dict) and node:
            return None  # a map the file writes itself: its leaves are judged one by one
        line = skel.lines.get(path[:i])
        sub_lines = [ln for p, ln in skel.lines.items() if p[:i] == path[:i]] or ([line] if line else [])
        exprs = [skel.expressions[n] for n in _placeholders_in(node)]
        conditions = sorted({c for ln in sub_lines for c in skel.blocks.get(ln, ())})
        if i < len(path) and not exprs:
            # a literal map that does not have our key: a template elsewhere wrote it
            return Templated(file, line, "", ())
        if not exprs and not conditions:
            return None
        text = " ".join(exprs + [f"{{{{ {c} }}}}" for c in conditions])
        return Templated(file, line, text, references(text))
    return Templated(file, None, "", ())


def templated_values(root: Path, provenance: Mapping[tuple, Any], env_values: Mapping[str, Any] | None = None) -> dict[tuple, Templated]:
    """For each values path set from a `.gotmpl` file, how its value is templated (literal ones left out);
    `env_values` (what the file's templates read as `.Values`) describe the inputs."""
    out: dict[tuple, Templated] = {}
    texts: dict[str, str | None] = {}
    for path, where in provenance.items():
        if not isinstance(where, tuple) or not where or not str(where[0]).endswith(".gotmpl"):
            continue
        file = str(where[0])
        if file not in texts:
            try:
                texts[file] = (root / file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                texts[file] = None
        text = texts[file]
        if text is None:
            out[path] = Templated(file, None, "", ())
            continue
        t = templated_at(skeleton(text, file), tuple(path), file)
        if t is not None:
            out[path] = replace(t, inputs=describe_inputs(t.reads, env_values or {}))
    return out


def _lookup(values: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = values
    for k in dotted.split("."):
        if not isinstance(node, Mapping) or k not in node:
            return False, None
        node = node[k]
    return True, node


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 60 else text[:59] + "…"
