"""RFC 6902 operations through `jsonpatch`, with the leniencies of the Go library kustomize uses.

`kubectl kustomize` (evanphx/json-patch v5) differs from the RFC in three places, and a patch
that kustomize accepts must give the same result here:
- `replace` of a missing key in an existing object adds the key;
- `test` of a missing path against `null` passes;
- `copy` from a missing key of an existing object copies `null`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import jsonpatch
import jsonpointer


@dataclass(frozen=True)
class OpFailure:
    index: int  # position of the op in the patch
    op: dict[str, Any]
    reason: str
    kind: str  # "path-missing" (path or from does not exist) | "test-failed" | "invalid"


def _resolve_parent(doc: Any, path: str) -> tuple[Any, str] | None:
    """(container, last token) of a pointer, None when the container itself does not exist."""
    ptr = jsonpointer.JsonPointer(path)
    if not ptr.parts:
        return None
    try:
        parent = jsonpointer.JsonPointer.from_parts(ptr.parts[:-1]).resolve(doc)
    except (jsonpointer.JsonPointerException, TypeError, KeyError, IndexError):
        return None
    return parent, ptr.parts[-1]


def _exists(doc: Any, path: str) -> bool:
    try:
        jsonpointer.resolve_pointer(doc, path)
    except (jsonpointer.JsonPointerException, TypeError, KeyError, IndexError):
        return False
    return True


def apply_op(doc: Any, op: dict[str, Any], index: int = 0) -> tuple[Any, OpFailure | None]:
    """Apply one op; returns (new document, None) or (the unchanged document, why it failed)."""
    name = op.get("op")
    path = op.get("path", "")
    effective = op
    if name == "replace" and path and not _exists(doc, path):
        found = _resolve_parent(doc, path)
        if found is not None and isinstance(found[0], dict):
            effective = {"op": "add", "path": path, "value": op.get("value")}
    elif name == "test" and op.get("value") is None and not _exists(doc, path):
        return doc, None
    elif name == "copy" and not _exists(doc, op.get("from", "")):
        found = _resolve_parent(doc, op.get("from", ""))
        if found is not None and isinstance(found[0], dict):
            effective = {"op": "add", "path": path, "value": None}
    try:
        return jsonpatch.JsonPatch([effective]).apply(copy.deepcopy(doc)), None
    except jsonpatch.JsonPatchTestFailed:
        try:
            actual = json.dumps(jsonpointer.resolve_pointer(doc, path), default=str)
        except (jsonpointer.JsonPointerException, TypeError, KeyError, IndexError):
            actual = "absent"
        wanted = json.dumps(op.get("value"), default=str)
        return doc, OpFailure(index, op, f"test failed: {path} is {actual}, the op expects {wanted}", "test-failed")
    except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException, KeyError, IndexError) as exc:
        where = op.get("from") if name == "move" and not _exists(doc, op.get("from", "")) else path
        return doc, OpFailure(index, op, f"{name} {where}: {_reason(exc)}", "path-missing")
    except (jsonpatch.JsonPatchException, TypeError, ValueError) as exc:
        return doc, OpFailure(index, op, f"{name} {path}: {exc}", "invalid")


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "not found" in text.lower() or "can't remove" in text.lower() or "non-existent" in text.lower():
        return "path does not exist"
    return text


def apply_ops(doc: Any, ops: list[dict[str, Any]]) -> tuple[Any, list[OpFailure]]:
    """Apply every op that can be applied, in order, and report each that cannot.

    kustomize stops the whole build at the first failing op; the caller decides whether that
    is an error. Going on shows every broken op of a patch at once.
    """
    failures: list[OpFailure] = []
    for i, op in enumerate(ops):
        doc, failure = apply_op(doc, op, i)
        if failure is not None:
            failures.append(failure)
    return doc, failures
