"""Edit the `dependencies:` of a Chart.yaml / Chart.lock line by line, never re-dumping it.

Chart.yaml files are written by people: comments, quoting, key order and indentation must
survive a vendoring. Only the `repository:` value of each dependency (and, in Chart.lock,
the `digest:` Helm computes over the dependencies) is replaced on its own line; a missing
`repository:` is inserted right after the item's first key. The result is parsed again and
checked, so a layout this editor does not understand fails loudly instead of silently.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Callable, Sequence

from chartkeeper import yamlio
from chartkeeper.errors import InputError

_TOP_DEPS_RE = re.compile(r"^dependencies:[ \t]*(#.*)?$")
_TOP_DEPS_FLOW_RE = re.compile(r"^dependencies:[ \t]*\[")
_ITEM_RE = re.compile(r"^(?P<indent>[ \t]*)-(?P<gap>[ \t]+)(?P<rest>.*)$")
_KEY_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<dash>-[ \t]+)?repository:(?P<sp>[ \t]*)(?P<value>.*?)(?P<comment>[ \t]+#.*)?$")
_FLOW_REPO_RE = re.compile(r"(repository:\s*)(\"[^\"]*\"|'[^']*'|[^,}]*)")
_DIGEST_LINE_RE = re.compile(r"^digest:[ \t]*(?P<value>\S.*?)[ \t]*(#.*)?$")


def _yaml_scalar(value: str) -> str:
    # file://charts/<name> and http URLs are plain-safe; quote anything unusual.
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9._~:/@%+-]*|[A-Za-z0-9._/-]+", value):
        return value
    return json.dumps(value)


def _block_bounds(lines: list[str]) -> tuple[int, int] | None:
    """Line range (start, end) of the items of the top-level block `dependencies:` list."""
    for i, line in enumerate(lines):
        if _TOP_DEPS_RE.match(line.rstrip("\r\n")):
            end = i + 1
            while end < len(lines):
                s = lines[end].rstrip("\r\n")
                if s.strip() and not s.lstrip().startswith("#") and not s[0].isspace() and not s.startswith("-"):
                    break
                end += 1
            return i + 1, end
    return None


def rewrite_repositories(text: str, new_repository: Callable[[int, dict[str, Any]], str], where: str) -> str:
    """Set `repository:` of dependency i to `new_repository(i, dep)`, editing only those lines."""
    data = yamlio.loads(text, where) or {}
    deps = data.get("dependencies") if isinstance(data, dict) else None
    if not deps:
        return text
    if not isinstance(deps, list) or not all(isinstance(d, dict) for d in deps):
        raise InputError(f"{where}: dependencies: must be a list of mappings")
    wanted = [new_repository(i, d) for i, d in enumerate(deps)]
    lines = text.splitlines(keepends=True)
    nl = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    bounds = _block_bounds(lines)
    if bounds is None:
        for i, line in enumerate(lines):
            if _TOP_DEPS_FLOW_RE.match(line):
                # A one-line flow list: the only honest line edit is to write that line again.
                new = [dict(d, repository=w) for d, w in zip(deps, wanted)]
                lines[i] = "dependencies: " + json.dumps(new, ensure_ascii=False) + nl
                break
        else:
            raise InputError(f"{where}: cannot find the `dependencies:` block to rewrite")
    else:
        start, end = bounds
        items: list[int] = []
        item_indent: str | None = None
        for j in range(start, end):
            m = _ITEM_RE.match(lines[j].rstrip("\r\n"))
            if m and (item_indent is None or m.group("indent") == item_indent):
                item_indent = m.group("indent")
                items.append(j)
        if len(items) != len(deps):
            raise InputError(f"{where}: found {len(items)} dependency items but YAML reads {len(deps)}; edit it by hand")
        inserts: list[tuple[int, str]] = []
        for k, j in enumerate(items):
            stop = items[k + 1] if k + 1 < len(items) else end
            first = _ITEM_RE.match(lines[j].rstrip("\r\n"))
            assert first is not None
            key_col = len(first.group("indent")) + 1 + len(first.group("gap"))
            rest = first.group("rest")
            if rest.startswith("{"):
                line = lines[j].rstrip("\r\n")
                if _FLOW_REPO_RE.search(line):
                    line = _FLOW_REPO_RE.sub(lambda m: m.group(1) + _yaml_scalar(wanted[k]), line, count=1)
                else:
                    line = line[: line.rindex("}")] + f", repository: {_yaml_scalar(wanted[k])}" + line[line.rindex("}") :]
                lines[j] = line + nl
                continue
            found = False
            for n in range(j, stop):
                m = _KEY_RE.match(lines[n].rstrip("\r\n"))
                if not m:
                    continue
                col = len(m.group("indent")) + (len(m.group("dash")) if m.group("dash") else 0)
                if col != key_col:
                    continue
                sp = m.group("sp") or " "
                lines[n] = (
                    m.group("indent") + (m.group("dash") or "") + "repository:" + sp + _yaml_scalar(wanted[k])
                    + (m.group("comment") or "") + nl
                )
                found = True
                break
            if not found:
                inserts.append((j + 1, " " * key_col + f"repository: {_yaml_scalar(wanted[k])}" + nl))
        for at, line in sorted(inserts, reverse=True):
            lines.insert(at, line)
    result = "".join(lines)
    check = yamlio.loads(result, where) or {}
    got = [d.get("repository") for d in check.get("dependencies") or []]
    if got != wanted or {k: v for k, v in check.items() if k != "dependencies"} != {k: v for k, v in data.items() if k != "dependencies"}:
        raise InputError(f"{where}: could not rewrite dependency repositories line by line; edit it by hand")
    return result


# --- Chart.lock digest ------------------------------------------------------------------------

_GO_FIELDS: Sequence[tuple[str, str, bool]] = (
    # (yaml/json key, kind, omitempty) in the order of Helm's chart.Dependency struct
    ("name", "str", False),
    ("version", "str", True),
    ("repository", "str", False),
    ("condition", "str", True),
    ("tags", "list", True),
    ("enabled", "bool", True),
    ("import-values", "list", True),
    ("alias", "str", True),
)


def _go_dep(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, kind, omitempty in _GO_FIELDS:
        v = d.get(key)
        if kind == "str":
            v = "" if v is None else str(v)
            if omitempty and v == "":
                continue
        elif kind == "bool":
            v = bool(v)
            if omitempty and not v:
                continue
        else:
            if omitempty and not v:
                continue
        out[key] = v
    return out


def _go_json(value: Any) -> str:
    # encoding/json: compact, map keys sorted, and <, >, &, U+2028, U+2029 escaped.
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=False, default=str)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _sorted_maps(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _sorted_maps(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [_sorted_maps(x) for x in v]
    return v


def helm_lock_digest(requested: list[dict[str, Any]], locked: list[dict[str, Any]]) -> str:
    """Helm's `resolver.HashReq`: sha256 over the JSON of [Chart.yaml deps, Chart.lock deps]."""
    def dep(d: dict[str, Any]) -> dict[str, Any]:
        # struct fields keep their order; only maps inside (import-values) are sorted
        return {k: _sorted_maps(v) for k, v in _go_dep(d).items()}

    payload = [[dep(d) for d in requested], [dep(d) for d in locked]]
    return "sha256:" + hashlib.sha256(_go_json(payload).encode("utf-8")).hexdigest()


def set_lock_digest(text: str, digest: str, where: str) -> str:
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        m = _DIGEST_LINE_RE.match(line.rstrip("\r\n"))
        if m:
            nl = line[len(line.rstrip("\r\n")) :] or "\n"
            lines[i] = f"digest: {digest}{nl}"
            return "".join(lines)
    raise InputError(f"{where}: no top-level `digest:` line")
