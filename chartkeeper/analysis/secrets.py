"""Keep secret values out of findings and reports, with the same rules as `values` and `env-diff`.

The rules live in `chartkeeper.masking` (key names such as password/token/apiKey/`tls.key`, and values
that come from secrets files); this module applies them to values paths, findings and manifests.
Only our own values are registered with the redactor: a chart's defaults are public (its values.yaml
documents them), and nothing in a CustomResourceDefinition is a secret value — its schema merely has
properties *named* `password` or `bearerTokenSecret`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Iterable

from chartkeeper.masking import MASK, is_secret_file, is_secret_key, mask_subtree, mask_values, register_secret

__all__ = ["MASK", "is_secret_path", "mask_tree", "mask_at", "mask_manifest", "from_secret_file", "register_secret_values"]


def is_secret_path(path: tuple[str, ...] | list[str]) -> bool:
    return any(is_secret_key(str(k), str(path[i - 1]) if i else None) for i, k in enumerate(path))


def mask_tree(value: Any, *, under_secret: bool = False, parent: str | None = None, register: bool = False) -> Any:
    """Copy of `value` with every secret value under a credential key replaced by `***` (null, booleans,
    Secret references and file paths stay). `register` when the value is ours."""
    return mask_subtree(value, parent, secret=under_secret, register=register)


def mask_at(path: tuple[str, ...], value: Any, *, secret: bool = False, register: bool = False) -> Any:
    return mask_tree(value, under_secret=secret or is_secret_path(path), parent=path[-1] if path else None,
                     register=register)


def from_secret_file(provenance: Any, path: tuple[str, ...], secret_files: Iterable[str]) -> bool:
    """Did our value at `path` (or anything under it) come from a secrets file?"""
    if not isinstance(provenance, dict) or not provenance:
        return False
    files = {str(f) for f in secret_files}

    def secret(where: Any) -> bool:
        f = where[0] if isinstance(where, tuple) and where else getattr(where, "file", where)
        return str(f) in files or is_secret_file(str(f))

    n = len(path)
    for k, where in provenance.items():
        if isinstance(k, tuple) and (k[:n] == path or path[: len(k)] == k) and secret(where):
            return True
    return False


def mask_manifest(obj: dict[str, Any]) -> dict[str, Any]:
    """A Kubernetes object fit for a report: Secret data masked, secret-like keys masked everywhere.

    A CustomResourceDefinition is shown as it is: its OpenAPI schema is structure. A Secret's values
    are registered (a template may have generated or copied them), and hidden by name here."""
    if not isinstance(obj, dict) or obj.get("kind") == "CustomResourceDefinition":
        return obj
    out = mask_tree(obj)
    if obj.get("kind") == "Secret":
        for k in ("data", "stringData"):
            if isinstance(out.get(k), dict):
                for v in obj[k].values():
                    register_secret(_decoded(v) if k == "data" else v)
                out[k] = {name: MASK for name in out[k]}
    return out


def _decoded(value: Any) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def register_secret_values(values: Any, secret_files: Iterable[str] = (), provenance: Any = None) -> None:
    """Tell `masking.redact` every secret in our values, so no output path can leak one
    (masking registers each value it hides)."""
    mask_values(values, tuple(secret_files), provenance if isinstance(provenance, dict) else None)
