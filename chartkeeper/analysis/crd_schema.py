"""Custom resources checked against a CRD's schema the way the API server checks them.

A CRD's `openAPIV3Schema` is a *structural* schema: besides `required`, types and enums, the API server prunes
every field the schema does not specify (unless `x-kubernetes-preserve-unknown-fields`), drops nulls of fields
that are not `nullable`, fills in `default`s, and takes `x-kubernetes-int-or-string` as "an integer or a
string". `Validator` turns
such a schema into a JSON Schema (draft 4: OpenAPI 3.0's boolean `exclusiveMinimum` is draft 4's) and reports
each problem of a resource with the field it is about. `status` is the controller's, never ours: it is left out.

Only the keywords Kubernetes allows are copied: a CRD cannot hold `$ref`, and none is carried over, so a
validation never resolves (let alone fetches) a reference.

The schema index below (`SchemaIndex`) reads the same trees to tell what an upgrade changes:
new required fields under a parent OLD already had, fields renamed in place.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any, Iterator

# the root fields the API server handles itself (ObjectMeta has its own validation) or that are not ours
_ROOT_SKIP = ("apiVersion", "kind", "metadata", "status")
# keywords copied as they are; every other keyword (`$ref`, `format`, `default`, `x-kubernetes-validations`…)
# is left out: `format` and CEL rules are checked by the API server in ways jsonschema cannot mirror
_COPIED = ("enum", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
           "multipleOf", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties")
_MAX_DEPTH = 64  # deeper schemas are cut there, not walked into a RecursionError


@dataclass(frozen=True)
class Problem:
    """One way a resource fails a schema."""

    field: str  # `spec.endpoints[0].port`; `apiVersion` for a version the CRD does not serve
    kind: str  # "required" | "unknown" | "type" | "enum" | "version" | "invalid"
    message: str  # what the API server does about it, one line

    @property
    def key(self) -> tuple[str, str]:
        return self.field, self.kind


def _convert(node: Any, depth: int, *, structural: bool = True, root: bool = False) -> dict[str, Any]:
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return {}
    out: dict[str, Any] = {k: node[k] for k in _COPIED if k in node}
    if isinstance(node.get("pattern"), str):
        try:
            re.compile(node["pattern"])
            out["pattern"] = node["pattern"]
        except re.error:  # RE2 syntax Python does not read: the API server's check is not ours to guess
            pass
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    elif isinstance(node.get("type"), str):
        out["type"] = [node["type"], "null"] if node.get("nullable") else node["type"]
    if isinstance(node.get("required"), list):
        out["required"] = [str(r) for r in node["required"] if not (root and r in _ROOT_SKIP)]
    props = node.get("properties")
    if isinstance(props, dict):
        out["properties"] = {str(k): _convert(v, depth + 1, structural=structural)
                             for k, v in props.items() if not (root and k in _ROOT_SKIP)}
    if isinstance(node.get("items"), dict):
        out["items"] = _convert(node["items"], depth + 1, structural=structural)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = _convert(extra, depth + 1, structural=structural)
    elif isinstance(extra, bool):
        out["additionalProperties"] = extra
    for k in ("allOf", "anyOf", "oneOf"):
        if isinstance(node.get(k), list):
            # value validations only: a structural schema may not declare fields there, so no pruning either
            out[k] = [_convert(v, depth + 1, structural=False) for v in node[k]]
    if isinstance(node.get("not"), dict):
        out["not"] = _convert(node["not"], depth + 1, structural=False)
    pruned = (structural and not node.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in out
              and (isinstance(props, dict) or node.get("type") == "object"))
    if pruned:
        if node.get("x-kubernetes-embedded-resource"):  # an embedded object keeps its apiVersion, kind and metadata
            out.setdefault("properties", {}).update({k: {} for k in ("apiVersion", "kind", "metadata")
                                                     if k not in out.get("properties", {})})
        out["additionalProperties"] = False
    return out


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _without_nulls(value: Any) -> Any:
    """The API server prunes a null it is not told to keep before validating; a nullable field takes null
    either way, so dropping every null map entry checks what the server checks."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _with_defaults(value: Any, schema: Any, depth: int = 0, *, root: bool = False) -> Any:
    """`value` with the schema's `default`s filled in where a field is missing and its parent exists, as the
    API server defaults an object before validating it (a required field with a default is never missing).
    Works on the copy `_without_nulls` made."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        for k, sub in props.items():
            if root and k in _ROOT_SKIP:
                continue
            if k not in value and isinstance(sub, dict) and sub.get("default") is not None:
                value[k] = copy.deepcopy(sub["default"])
            if k in value:
                value[k] = _with_defaults(value[k], sub, depth + 1)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for k in value:
                if k not in props:
                    value[k] = _with_defaults(value[k], extra, depth + 1)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_with_defaults(v, schema["items"], depth + 1) for v in value]
    return value


class Validator:
    """The schema of one version of a CRD, ready to check resources against."""

    def __init__(self, openapi_schema: Any) -> None:
        from jsonschema import Draft4Validator  # lazy: jsonschema only loads when a CRD changes

        self._openapi = openapi_schema
        self._schema = _convert(openapi_schema, 0, root=True)
        self._validator = Draft4Validator(self._schema)

    def problems(self, obj: dict[str, Any]) -> list[Problem]:
        body = _without_nulls({k: v for k, v in obj.items() if k not in _ROOT_SKIP})
        body = _with_defaults(body, self._openapi, root=True)
        out: list[Problem] = []
        for err in self._validator.iter_errors(body):
            out += list(_problems_of(err))
        return sorted(set(out), key=lambda p: (p.field, p.kind))


def _problems_of(err: Any) -> Iterator[Problem]:
    where = _path(err.absolute_path)
    if err.validator == "required":
        names = err.validator_value if isinstance(err.validator_value, list) else []
        instance = err.instance if isinstance(err.instance, dict) else {}
        for name in names:
            if name not in instance and repr(name) in err.message:
                yield Problem(_join(where, str(name)), "required", "required by the schema and missing: the API server refuses the resource")
                return
        yield Problem(where, "required", err.message)
    elif err.validator == "additionalProperties" and err.validator_value is False:
        known = set((err.schema.get("properties") or {}))
        for name in sorted(set(err.instance) - known if isinstance(err.instance, dict) else ()):
            yield Problem(_join(where, str(name)), "unknown",
                          "not in the schema: the API server drops it (pruned), silently to Helm")
    elif err.validator == "type":
        yield Problem(where, "type", f"must be {_types(err.validator_value)}, is {_kind_of(err.instance)}: the API server refuses the resource")
    elif err.validator == "enum":
        allowed = ", ".join(repr(v) for v in (err.validator_value or [])[:8])
        yield Problem(where, "enum", f"{err.instance!r} is not one of {allowed}: the API server refuses the resource")
    else:
        yield Problem(where, "invalid", f"{err.message[:160]} ({err.validator}): the API server refuses the resource")


def _types(t: Any) -> str:
    return " or ".join(str(x) for x in t if x != "null") if isinstance(t, list) else str(t)


def _kind_of(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return "null"


# -- what a schema declares ------------------------------------------------------------------------

@dataclass(frozen=True)
class SchemaIndex:
    """Every field a schema declares (`spec.endpoints[].port`; `{}` for a map's values) with its node, and
    every required field path: properties, items and additionalProperties, where the structural part of a
    CRD schema declares its fields. One walk, no recursion (CRD schemas run to 800 KB)."""

    fields: dict[str, dict[str, Any]]
    required: frozenset[str]

    @classmethod
    def of(cls, schema: Any) -> "SchemaIndex":
        fields: dict[str, dict[str, Any]] = {}
        required: set[str] = set()
        todo: list[tuple[str, Any, int]] = [("", schema, 0)]
        while todo:
            prefix, node, depth = todo.pop()
            if not isinstance(node, dict) or depth > _MAX_DEPTH:
                continue
            fields[prefix] = node
            req = node.get("required")
            if isinstance(req, list):
                required.update(_join(prefix, str(r)) for r in req)
            props = node.get("properties")
            if isinstance(props, dict):
                todo += [(_join(prefix, str(k)), sub, depth + 1) for k, sub in props.items()]
            if isinstance(node.get("items"), dict):
                todo.append((f"{prefix}[]", node["items"], depth + 1))
            if isinstance(node.get("additionalProperties"), dict):
                todo.append((f"{prefix}{{}}", node["additionalProperties"], depth + 1))
        return cls(fields, frozenset(required))


def parent_of(path: str) -> str:
    """`spec.a` for `spec.a.b`, `spec.list[]` for `spec.list[].x`, "" for a root field."""
    return path.rsplit(".", 1)[0] if "." in path else ""


def renamed_fields(old: SchemaIndex, new: SchemaIndex) -> list[tuple[str, str]]:
    """Fields renamed in place: under a parent both schemas have, one field gone and one new with the same
    type and the same (non-empty) description. Without a description two fields of one type are only alike,
    not the same field, so they are not paired."""
    out: list[tuple[str, str]] = []
    for parent, node in old.fields.items():
        other = new.fields.get(parent)
        if other is None:
            continue
        a, b = node.get("properties"), other.get("properties")
        if not isinstance(a, dict) or not isinstance(b, dict) or a.keys() == b.keys():
            continue
        gone = [k for k in a if k not in b]
        added = [k for k in b if k not in a]
        for k in gone:
            sig = _signature(a[k])
            if sig is None:
                continue
            same = [n for n in added if _signature(b[n]) == sig]
            if len(same) == 1:
                out.append((_join(parent, str(k)), _join(parent, str(same[0]))))
                added.remove(same[0])
    return sorted(out)


def _signature(node: Any) -> tuple[str, str] | None:
    if not isinstance(node, dict):
        return None
    desc = str(node.get("description") or "").strip()
    if not desc:
        return None
    kind = "int-or-string" if node.get("x-kubernetes-int-or-string") else str(node.get("type") or "")
    return kind, desc
