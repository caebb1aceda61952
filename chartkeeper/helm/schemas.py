"""A chart's `values.schema.json` resolves inside the chart only: never a fetch at analysis time.

A `$ref` is an address chosen by the chart's author. Followed, it makes the CI runner fetch from
anywhere (or hang on a server that never answers), and on an air-gapped site it cannot resolve at
all. Both validators chartkeeper runs are kept local:

- jsonschema (the values analysis, `lint`): a registry that retrieves nothing; a reference it
  cannot resolve inside the document is reported as `not checked`, naming it (`validator`).
- Helm's engine (every render validates the merged values): it would fetch `http(s)` references and
  read `file:` ones, so a chart whose schemas hold any reference outside the document is rendered
  from a copy whose schemas leave those references out (`neutralised_copy`).
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any, Iterator

from chartkeeper import yamlio

SCHEMA_FILE = "values.schema.json"
_REF_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")


def _is_local(ref: Any) -> bool:
    return not isinstance(ref, str) or ref.startswith("#")


def _objects(schema: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in the schema, iteratively (a schema nested 200,000 deep is no recursion here)."""
    todo = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            yield node
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)


def outside_refs(schema: Any) -> list[str]:
    """The references of `schema` that point outside it (`http://…`, `other.json`), in order met."""
    refs = [str(obj[k]) for obj in _objects(schema) for k in _REF_KEYS if not _is_local(obj.get(k))]
    return list(dict.fromkeys(refs))


def _drop_outside_refs(schema: Any) -> None:
    for obj in _objects(schema):
        for k in _REF_KEYS:
            if not _is_local(obj.get(k)):
                del obj[k]  # the rest of that subschema still applies


class UnresolvableRef(Exception):
    """A schema that cannot be checked: a `$ref` outside it (never fetched), or a reference cycle."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def validator(schema: dict[str, Any]) -> Any:
    """A jsonschema validator for `schema` that resolves references inside the document only."""
    import jsonschema  # lazy: jsonschema takes ~60 ms to import; only charts that ship a values schema need it
    import referencing  # lazy: comes with jsonschema
    import referencing.exceptions  # lazy: comes with jsonschema

    def refuse(uri: str) -> Any:
        raise referencing.exceptions.NoSuchResource(ref=uri)

    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=referencing.Registry(retrieve=refuse))


def iter_errors(schema: dict[str, Any], instance: Any) -> list[Any]:
    """The violations of `instance`, or UnresolvableRef naming the first reference that leaves the
    schema. A reference that only leads back to itself (`{"$ref": "#"}`) is UnresolvableRef too."""
    import referencing.exceptions  # lazy: comes with jsonschema

    try:
        return list(validator(schema).iter_errors(instance))
    except referencing.exceptions.Unresolvable as exc:
        ref = getattr(exc, "ref", exc)
        raise UnresolvableRef(f"$ref {ref} does not resolve inside the chart (references are never fetched)") from None
    except RecursionError:
        raise UnresolvableRef("its $refs loop without end (a schema that refers to itself)") from None


# -- Helm's side ------------------------------------------------------------------------------


def chart_outside_refs(chart_dir: Path) -> dict[str, list[str]]:
    """{schema file (relative to the chart): its outside references} for the chart and its subcharts
    (folders and `charts/*.tgz`)."""
    out: dict[str, list[str]] = {}
    for path in sorted(chart_dir.rglob(SCHEMA_FILE)):
        refs = _file_refs(path.read_bytes(), path)
        if refs:
            out[path.relative_to(chart_dir).as_posix()] = refs
    for tgz in sorted(chart_dir.rglob("charts/*.tgz")):
        for name, data in _tgz_schemas(tgz):
            refs = _file_refs(data, name)
            if refs:
                out[f"{tgz.relative_to(chart_dir).as_posix()}:{name}"] = refs
    return out


def _file_refs(data: bytes, where: Any) -> list[str]:
    try:
        return outside_refs(yamlio.loads_json(data, where))
    except Exception:  # noqa: BLE001 - an unreadable schema is Helm's to report, and ours in the analysis
        return []


def _tgz_schemas(tgz: Path) -> list[tuple[str, bytes]]:
    out = []
    with tarfile.open(tgz) as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.endswith("/" + SCHEMA_FILE):
                f = tar.extractfile(m)
                if f is not None:
                    out.append((m.name, f.read()))
    return out


def neutralised_copy(chart_dir: Path, into: Path) -> Path:
    """A copy of the chart under `into` whose schemas hold no outside reference (subchart archives
    that hold one are unpacked in place of the archive, as Helm loads either)."""
    copy = into / chart_dir.name
    shutil.copytree(chart_dir, copy, symlinks=True)
    for tgz in sorted(copy.rglob("charts/*.tgz")):
        if any(outside_refs(_safe_json(d)) for _, d in _tgz_schemas(tgz)):
            with tarfile.open(tgz) as tar:
                tar.extractall(tgz.parent, filter="data")
            tgz.unlink()
    for path in sorted(copy.rglob(SCHEMA_FILE)):
        schema = _safe_json(path.read_bytes())
        if outside_refs(schema):
            _drop_outside_refs(schema)
            path.write_text(json.dumps(schema), encoding="utf-8")
    return copy


def _safe_json(data: bytes) -> Any:
    try:
        return json.load(io.BytesIO(data))
    except (ValueError, RecursionError):
        return None
