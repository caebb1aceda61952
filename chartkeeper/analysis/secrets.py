"""Keep secret values out of findings and reports.

Uses `chartkeeper.masking` (the helmfile model's rules, shared by `values` and `env-diff`) when it is
present, so every command masks the same keys; the small fallback below applies the same idea until then.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

_SECRET_KEY_RE = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[-_]?key|private[-_]?key|access[-_]?key|credential|auth|cert(ificate)?key|"
    r"^key$|[-_]key$|dsn|connection[-_]?string|htpasswd|cookie|salt)",
    re.I,
)
# names that contain a secret-looking word but hold no secret
_NOT_SECRET_RE = re.compile(r"(secretName|existingSecret|secretRef|secretKeyRef|keyRef|tokenPath|passwordKey|Secret(Name|Key)$|"
                            r"^author|authority|^authMode|serviceAccountToken$|automountServiceAccountToken)", re.I)

try:  # the shared rules, once the helmfile model has landed
    from chartkeeper.masking import is_secret_key as _shared_is_secret_key  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on which helpers have landed
    _shared_is_secret_key = None


def is_secret_key(key: str) -> bool:
    if _shared_is_secret_key is not None:
        return bool(_shared_is_secret_key(key))
    if _NOT_SECRET_RE.search(key):
        return False
    return bool(_SECRET_KEY_RE.search(key))


def is_secret_path(path: tuple[str, ...] | list[str]) -> bool:
    return any(is_secret_key(str(k)) for k in path)


def mask_tree(value: Any, *, under_secret: bool = False) -> Any:
    """Copy of `value` with every value under a secret-like key replaced by `***`."""
    if isinstance(value, dict):
        return {k: mask_tree(v, under_secret=under_secret or is_secret_key(str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_tree(v, under_secret=under_secret) for v in value]
    if under_secret and value not in (None, "", {}, []):
        return MASK
    return value


def mask_at(path: tuple[str, ...], value: Any) -> Any:
    return mask_tree(value, under_secret=is_secret_path(path))


def mask_manifest(obj: dict[str, Any]) -> dict[str, Any]:
    """A Kubernetes object fit for a report: Secret data masked, secret-like keys masked everywhere."""
    out = mask_tree(obj)
    if isinstance(obj, dict) and obj.get("kind") == "Secret":
        for k in ("data", "stringData"):
            if isinstance(out.get(k), dict):
                out[k] = {name: MASK for name in out[k]}
    return out
