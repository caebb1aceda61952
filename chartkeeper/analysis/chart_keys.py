"""What a chart (with its subcharts) accepts as values: the key universe the values analysis judges against.

A chart folder gives us four sources of truth about keys:

- the default values: the chart's `values.yaml`, each subchart's defaults under its alias (or name), the
  parent's values for that subchart layered on top, and every chart's `global:` merged into the top
  `global:` (Helm copies globals down to subcharts, so a subchart's global default is settable at the top);
- `values.schema.json` (per chart, applying under the subchart key), which may mark an object free-form;
- the templates: a key that values.yaml only documents in a comment is still read by `{{ .Values.x.y }}`;
- empty-map (or null) defaults such as `podAnnotations: {}`: whatever goes under them is the user's.

Paths are tuples of keys; `fmt_path` prints them the way people write them (`a.b["example.com/x"]`).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from chartkeeper import yamlio
from chartkeeper.errors import InputError
from chartkeeper.masking.redactor import note_public_chart

Path_ = tuple[str, ...]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
# `.Values.a.b`, `$.Values.a.b`, `$root.Values.a.b`: the chain after `.Values`
_VALUES_REF_RE = re.compile(r"\.Values((?:\." + _IDENT + r")+)")
# `index .Values "a" "b"` and `index $.Values.a "b"`
_INDEX_REF_RE = re.compile(r"index\s+\(?\s*\$?[A-Za-z0-9_]*\.Values((?:\." + _IDENT + r")*)\s*\)?((?:\s+\"[^\"]*\")+)")
_QUOTED_RE = re.compile(r"\"([^\"]*)\"")
_SIMPLE_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".tpl", ".txt", ".json")


def fmt_path(path: Path_) -> str:
    out = ""
    for k in path:
        if _SIMPLE_KEY_RE.match(k):
            out += ("." if out else "") + k
        else:
            out += "[" + json.dumps(k) + "]"
    return out or "(root)"


def kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return "scalar"


def get_path(tree: Any, path: Path_) -> tuple[bool, Any]:
    """(present, value) of `path` in nested maps."""
    node = tree
    for k in path:
        if not isinstance(node, dict) or k not in node:
            return False, None
        node = node[k]
    return True, node


def deep_merge(base: Any, over: Any) -> Any:
    """Helm's coalescing of user values over defaults: maps merge, lists and scalars replace, null deletes."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = deep_merge(out[k], v)
            else:
                out[k] = _strip_nulls(v)
        return out
    return _strip_nulls(over)


def _strip_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _strip_nulls(x) for k, x in v.items() if x is not None}
    return v


def _layer_defaults(base: Any, over: Any) -> Any:
    """Parent chart values over a subchart's defaults (nulls kept: they are documented keys)."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _layer_defaults(out[k], v) if k in out else v
        return out
    return over


def iter_leaves(tree: Any, prefix: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every leaf: a non-map value or an empty map. Lists are leaves (compared as values)."""
    if isinstance(tree, dict) and tree:
        for k, v in tree.items():
            yield from iter_leaves(v, prefix + (str(k),))
    else:
        yield prefix, tree


@dataclass
class ChartInfo:
    """One chart of the tree (the top chart or a subchart) as we read it from disk."""

    name: str
    version: str
    app_version: str | None
    kube_version: str | None
    chart_type: str
    metadata: dict[str, Any]
    values: dict[str, Any]
    schema: dict[str, Any] | None
    templates: dict[str, str]  # relative path -> text
    crds: dict[str, str]  # relative path -> text
    files: dict[str, str]  # other small text files at the top (CHANGELOG.md, README.md…)
    subcharts: list["ChartInfo"] = field(default_factory=list)

    def dependency_key(self, sub: "ChartInfo") -> list[str]:
        """The values keys a subchart lives under (its alias(es), or its name)."""
        keys = []
        for dep in self.metadata.get("dependencies") or []:
            if isinstance(dep, dict) and dep.get("name") == sub.name:
                keys.append(str(dep.get("alias") or dep["name"]))
        return keys or [sub.name]


_TOP_FILES = ("CHANGELOG.md", "CHANGELOG", "UPGRADING.md", "UPGRADE.md", "README.md")
_MAX_TEXT = 2_000_000


def _read_tree_from_dir(root: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def _read_tree_from_tgz(data: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(data) as tar:
        for m in tar.getmembers():
            if not m.isfile():
                continue
            parts = PurePosixPath(m.name).parts
            if len(parts) < 2 or ".." in parts:
                continue
            f = tar.extractfile(m)
            if f is not None:
                out["/".join(parts[1:])] = f.read()
    return out


def _text(b: bytes) -> str:
    return b.decode("utf-8", errors="replace")


def _chart_from_files(files: dict[str, bytes], where: str) -> ChartInfo:
    if "Chart.yaml" not in files:
        raise InputError(f"{where}: not a chart (no Chart.yaml)")
    meta = yamlio.loads(files["Chart.yaml"], f"{where}/Chart.yaml") or {}
    if not isinstance(meta, dict):
        raise InputError(f"{where}/Chart.yaml: must be a mapping")
    values: Any = {}
    if "values.yaml" in files:
        values = yamlio.loads(files["values.yaml"], f"{where}/values.yaml") or {}
        if not isinstance(values, dict):
            raise InputError(f"{where}/values.yaml: must be a mapping")
    schema = None
    if "values.schema.json" in files:
        schema = yamlio.loads_json(files["values.schema.json"], f"{where}/values.schema.json")
    templates = {k: _text(v) for k, v in files.items() if k.startswith("templates/") and k.endswith(TEMPLATE_SUFFIXES)}
    crds = {k: _text(v) for k, v in files.items() if k.startswith("crds/") and k.endswith((".yaml", ".yml", ".json"))}
    top = {k: _text(v) for k, v in files.items() if k in _TOP_FILES and len(v) < _MAX_TEXT}
    info = ChartInfo(
        name=str(meta.get("name") or ""),
        version=str(meta.get("version") or ""),
        app_version=None if meta.get("appVersion") is None else str(meta.get("appVersion")),
        kube_version=None if meta.get("kubeVersion") is None else str(meta.get("kubeVersion")),
        chart_type=str(meta.get("type") or "application"),
        metadata=meta,
        values=values,
        schema=schema if isinstance(schema, dict) else None,
        templates=templates,
        crds=crds,
        files=top,
    )
    # a chart is public: its name and documented defaults are no secret, whatever their key
    note_public_chart(info.name, _text(files["Chart.yaml"]), _text(files.get("values.yaml", b"")), templates.values)
    # subcharts: charts/<dir>/ and charts/*.tgz (one level; deeper ones belong to the subchart)
    sub_dirs: dict[str, dict[str, bytes]] = {}
    for k, v in files.items():
        parts = k.split("/")
        if len(parts) >= 3 and parts[0] == "charts":
            sub_dirs.setdefault(parts[1], {})["/".join(parts[2:])] = v
    for sub_name in sorted(sub_dirs):
        info.subcharts.append(_chart_from_files(sub_dirs[sub_name], f"{where}/charts/{sub_name}"))
    for k in sorted(files):
        parts = k.split("/")
        if len(parts) == 2 and parts[0] == "charts" and k.endswith(".tgz"):
            with tarfile.open(fileobj=io.BytesIO(files[k])) as tar:
                sub: dict[str, bytes] = {}
                for m in tar.getmembers():
                    if m.isfile():
                        mp = PurePosixPath(m.name).parts
                        f = tar.extractfile(m)
                        if len(mp) >= 2 and ".." not in mp and f is not None:
                            sub["/".join(mp[1:])] = f.read()
            if not any(s.name == (yamlio.loads(sub.get("Chart.yaml", b"{}")) or {}).get("name") for s in info.subcharts):
                info.subcharts.append(_chart_from_files(sub, f"{where}/{k}"))
    return info


def read_chart(path: Path) -> ChartInfo:
    """Read a chart folder (or a `.tgz` archive) with its subcharts."""
    path = Path(path)
    if path.is_dir():
        return _chart_from_files(_read_tree_from_dir(path), str(path))
    if path.is_file():
        return _chart_from_files(_read_tree_from_tgz(path), str(path))
    raise InputError(f"{path}: chart not found")


def _template_refs(text: str) -> set[Path_]:
    refs: set[Path_] = set()
    for m in _VALUES_REF_RE.finditer(text):
        refs.add(tuple(m.group(1).lstrip(".").split(".")))
    for m in _INDEX_REF_RE.finditer(text):
        head = tuple(x for x in m.group(1).lstrip(".").split(".") if x)
        refs.add(head + tuple(_QUOTED_RE.findall(m.group(2))))
    return refs


@dataclass
class KeyUniverse:
    """Everything known about the values keys of one chart version (subcharts included)."""

    chart: ChartInfo
    defaults: dict[str, Any]
    template_refs: set[Path_]
    free_form: set[Path_]  # schema objects that accept any key
    schema_paths: set[Path_]  # every property path the schemas declare
    schemas: list[tuple[Path_, dict[str, Any]]]  # (prefix, schema) per chart that ships one
    subchart_keys: dict[str, ChartInfo]  # values key (alias or name) -> subchart

    def default(self, path: Path_) -> tuple[bool, Any]:
        return get_path(self.defaults, path)

    def is_free_form(self, path: Path_) -> bool:
        """Is `path` under a map whose keys belong to the user?"""
        for i in range(len(path)):
            prefix = path[:i]
            if prefix in self.free_form:
                return True
            present, value = get_path(self.defaults, prefix)
            if present and i > 0 and (value is None or value == {}):
                return True
        return False

    def referenced(self, path: Path_) -> bool:
        """A template reads `path`, a map above it, or something below it."""
        for i in range(1, len(path) + 1):
            if path[:i] in self.template_refs:
                return True
        return any(r[: len(path)] == path for r in self._refs_by_head.get(path[0], ())) if path else False

    def knows(self, path: Path_) -> bool:
        if self.default(path)[0] or path in self.schema_paths:
            return True
        return self.is_free_form(path) or self.referenced(path)

    def __post_init__(self) -> None:
        heads: dict[str, list[Path_]] = {}
        for r in self.template_refs:
            if r:
                heads.setdefault(r[0], []).append(r)
        self._refs_by_head = heads


def _schema_walk(schema: Any, prefix: Path_, free: set[Path_], paths: set[Path_], depth: int = 0) -> None:
    if not isinstance(schema, dict) or depth > 40:
        return
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key) or []:
            _schema_walk(sub, prefix, free, paths, depth + 1)
    props = schema.get("properties")
    addl = schema.get("additionalProperties")
    is_object = schema.get("type") == "object" or (isinstance(schema.get("type"), list) and "object" in schema["type"])
    if isinstance(props, dict):
        for k, sub in props.items():
            paths.add(prefix + (str(k),))
            _schema_walk(sub, prefix + (str(k),), free, paths, depth + 1)
    if addl is True or isinstance(addl, dict) or (is_object and not props and addl is not False) or schema.get("patternProperties"):
        if prefix:
            free.add(prefix)


def build_universe(chart: ChartInfo) -> KeyUniverse:
    defaults: dict[str, Any] = dict(chart.values)
    refs: set[Path_] = set()
    free: set[Path_] = set()
    schema_paths: set[Path_] = set()
    schemas: list[tuple[Path_, dict[str, Any]]] = []
    sub_keys: dict[str, ChartInfo] = {}
    globals_: dict[str, Any] = {}

    def visit(info: ChartInfo, prefix: Path_, values_view: dict[str, Any]) -> None:
        for text in info.templates.values():
            for r in _template_refs(text):
                if r and r[0] == "global":
                    refs.add(r)
                elif info.chart_type == "library":
                    refs.add(r)  # library templates run in their caller's context
                else:
                    refs.add(prefix + r)
        if info.schema is not None:
            schemas.append((prefix, info.schema))
            _schema_walk(info.schema, prefix, free, schema_paths)
        g = info.values.get("global")
        if isinstance(g, dict):
            globals_.update(_layer_defaults(g, globals_))
        for sub in info.subcharts:
            for key in info.dependency_key(sub):
                sub_defaults = {k: v for k, v in sub.values.items() if k != "global"}
                parent_view = values_view.get(key)
                merged = _layer_defaults(sub_defaults, parent_view) if isinstance(parent_view, dict) else sub_defaults
                values_view[key] = merged
                if not prefix:
                    sub_keys[key] = sub
                visit(sub, prefix + (key,), merged)

    visit(chart, (), defaults)
    if globals_ or "global" in defaults:
        top_global = defaults.get("global") if isinstance(defaults.get("global"), dict) else {}
        defaults["global"] = _layer_defaults(globals_, top_global)
    return KeyUniverse(chart, defaults, refs, free, schema_paths, schemas, sub_keys)


def load_universe(path: Path) -> KeyUniverse:
    return build_universe(read_chart(path))
