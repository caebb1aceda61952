"""Keep secrets out of what chartkeeper prints: masked keys, secret files, encrypted files.

A values leaf is masked when its key looks like a credential (`password`, `apiKey`,
`tls.key`, `AWS_SECRET_ACCESS_KEY`…) or when it came from a secrets file (`secrets.yaml`,
`secrets.dev.yaml`, anything whose name starts with `secret`). Files encrypted with sops
(helm-secrets) are recognised by their `sops:` metadata; chartkeeper reports them as
encrypted and never decrypts them.

Deciding on the key name is deliberately word-based: `keycloak`, `monkey`, `keyboard` and
`keys` are not secrets, while `privateKey`, `accessKey`, `secret_key`, `tls.key` are. Only
*values* are secrets: a boolean, a number under a non-credential key, a file path, a Secret
reference (`existingSecret`, `secretKeyRef`, `{name: …, key: …}` under `bearerTokenSecret`), a
key name, a schema are structure and always shown.

Every value masked here is registered with the redactor (`masking.redactor`), which hides its
copies in any text only while it is distinctive: a value that is also a name, a path or a public
value of the deployment is masked at its key only (docs/reliability.md, "Secrets").
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from chartkeeper.masking.redactor import (  # the one redactor, re-exported: callers mask through here
    ENCRYPTED,
    MASK,
    forget_secrets,
    note_public,
    note_public_all,
    public_holder,
    redact,
    register_secret,
)
from chartkeeper.masking.redactor import _SOPS_RE, first_sight  # _SOPS_RE: sops ciphertext, whole or inside a value

__all__ = [
    "ENCRYPTED", "MASK", "forget_secrets", "note_public", "note_public_all", "public_holder",
    "redact", "register_secret", "is_secret_key", "is_secret_file", "is_sops_encrypted",
    "is_secret_value", "is_secret_reference", "mask_values", "mask_subtree", "note_public_tree", "secret_leaves",
]

# Whole words that name a secret on their own.
_SECRET_WORDS = {
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "secrets",
    "token",
    "tokens",
    "credential",
    "credentials",
    "apikey",
    "privatekey",
    "secretkey",
    "accesskey",
    "clientsecret",
    "htpasswd",
    "bearer",
    "cookiesecret",
    "salt",
}
# Qualifiers that turn a trailing "key" word into a credential (`api_key`, `accessKey`).
_KEY_QUALIFIERS = {"api", "private", "secret", "access", "encryption", "signing", "master", "license", "auth", "session", "ssh", "tls", "client", "account", "shared", "root", "admin", "service"}
# Non-secret words that may end a compound whose other words match (`tokenTTL`, `passwordPolicy`).
_HARMLESS_TAILS = {
    "ttl",
    "length",
    "len",
    "policy",
    "file",
    "files",
    "path",
    "ref",
    "name",
    "names",
    "enabled",
    "enable",
    "expiry",
    "expiration",
    "lifetime",
    "type",
    "url",
    "uri",
    "endpoint",
    "mount",
    "mountpath",
    "provider",
    "reviewer",
    "source",
    "selector",
    "key",
    "keys",
    "existing",
    "create",
    "annotations",
    "labels",
}

_WORD_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z]|[0-9]|\b|_|$)|[A-Z]?[a-z]+|[0-9]+|[A-Z]+")


def _words(key: str) -> list[str]:
    """Split camelCase, snake_case, kebab-case and dotted keys into lower-case words."""
    out: list[str] = []
    for chunk in re.split(r"[^A-Za-z0-9]+", key):
        out.extend(w.lower() for w in _WORD_RE.findall(chunk))
    return out


@lru_cache(maxsize=1 << 16)  # every manifest and values tree asks about the same few thousand keys
def is_secret_key(key: Any, parent: Any = None) -> bool:
    """True when a values key names a credential (`password`, `apiKey`, `tls.key`, `DB_PASSWORD`).

    `parent` is the enclosing key, so `tls: {key: …}` counts like `tls.key`.
    """
    if not isinstance(key, str) or not key:
        return False
    words = _words(key)
    if not words:
        return False
    if words == ["key"] and isinstance(parent, str):
        words = _words(parent)[-1:] + words
    last = words[-1]
    if last == "key":
        # A trailing "key" is a credential only after a qualifier (`accessKey`, `tls.key`) or
        # in SCREAMING_CASE (`SIGNING_KEY`); `passwordKey` names a key *inside* a Secret.
        if any(w in ("password", "passwd", "token") for w in words[:-1]):
            return False  # `passwordSecretKey`, `adminPasswordKey`: the key that holds it
        return len(words) > 1 and (words[-2] in _KEY_QUALIFIERS or key.isupper())
    if words[0] == "existing" or last in _HARMLESS_TAILS:
        return False  # `existingSecret`, `secretName`, `passwordFile`, `tokenTTL`: references, not values
    if "".join(words) in _SECRET_WORDS:
        return True
    return any(w in _SECRET_WORDS for w in words)


def is_secret_file(path: str | Path) -> bool:
    """Values files whose every value is a secret: `secrets.yaml`, `secrets.prod.yaml`, `secret-values.yaml`."""
    name = os.path.basename(str(path)).lower()
    return name.startswith("secret")


def is_sops_encrypted(data: Any) -> bool:
    """A document helm-secrets/sops encrypted: a top-level `sops:` map with its metadata."""
    if not isinstance(data, dict):
        return False
    meta = data.get("sops")
    return isinstance(meta, dict) and any(k in meta for k in ("mac", "lastmodified", "version", "age", "pgp", "kms"))


# Keys that, below a secret-ish key, name or place a Secret rather than hold one
# (`extraSecretMounts[].mountPath`, `volumes[].secret.secretName`, `items[].path`).
_REFERENCE_WORDS = {"name", "names", "path", "paths", "mountpath", "mount", "subpath", "file", "files", "ref",
                    "readonly", "mode", "defaultmode", "optional", "enabled", "enable", "create", "type",
                    "annotations", "labels", "selector", "existing"}
_FILE_PATH_RE = re.compile(r"^(?:/|\./|\.\./|~/)[^\s:]*$")


@lru_cache(maxsize=1 << 16)
def _is_reference_key(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    words = _words(key)
    if not words:
        return False
    if words[0] == "existing" or "".join(words) in _REFERENCE_WORDS or words[-1] in _REFERENCE_WORDS:
        return True
    return len(words) > 1 and words[-2:] == ["secret", "name"]


_SELECTOR_KEYS = frozenset({"name", "key", "optional", "namespace"})


def is_secret_reference(node: Any) -> bool:
    """A map that points at a Secret instead of holding one: Kubernetes' SecretKeySelector /
    LocalObjectReference shape (`bearerTokenSecret: {name: prom-auth, key: token}`)."""
    return isinstance(node, dict) and bool(node) and set(node) <= _SELECTOR_KEYS and isinstance(node.get("name"), str)


def is_secret_value(value: Any, key: Any = None, own_key_secret: bool = False) -> bool:
    """Under a secret-ish key, is this leaf a secret? Masking hides values, not structure:
    booleans are never secrets, nor are numbers (unless their own key names a credential:
    `password: 12345`), file paths (`tls.key: /tls/tls.key`), or what a reference key holds
    (`secretName`, `existingSecret`, `mountPath`: they name or place a Secret, they are not one)."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return own_key_secret
    if not own_key_secret and _is_reference_key(key):
        return False
    if isinstance(value, str) and _FILE_PATH_RE.match(value) and not _SOPS_RE.search(value):
        return False
    return True


def _mask_tree(node: Any, masked: Callable[[tuple], bool], path: tuple) -> Any:
    if isinstance(node, dict):
        out = {}
        parent = path[-1] if path else None
        for k, v in node.items():
            p = path + (k,)
            if is_secret_key(k, parent):
                out[k] = _mask_secret(v, k, True)
            else:
                out[k] = _mask_tree(v, masked, p)
        return out
    if isinstance(node, list):
        return [_mask_tree(v, masked, path + (i,)) for i, v in enumerate(node)]
    if node is not None and masked(path) and not isinstance(node, bool):
        register_secret(node)
        return MASK
    if isinstance(node, str) and "ENC[" in node:
        return _SOPS_RE.sub(MASK, node)  # a sops secret a template copied into a value
    return node


def _mask_secret(node: Any, key: Any, own: bool, register: bool = True) -> Any:
    """The subtree under a secret-ish key: leaves masked by `is_secret_value` (and registered with
    the redactor when they are ours, not a chart's documented default)."""
    if is_secret_reference(node):
        return _unmask_ref(node)
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if is_secret_key(k, key):
                out[k] = _mask_secret(v, k, True, register)
            elif _is_reference_key(k):
                out[k] = _unmask_ref(v)
            else:
                out[k] = _mask_secret(v, k, False, register)
        return out
    if isinstance(node, list):
        return [_mask_secret(v, key, own, register) for v in node]
    if is_secret_value(node, key, own):
        if register:
            register_secret(node)
        return MASK
    return node


def mask_subtree(node: Any, key: Any = None, *, secret: bool = False, register: bool = False) -> Any:
    """`node` (found at `key`) with its secret values masked: all of it when `secret` (it sits under
    a credential key), else only what lies under credential keys inside it."""
    if secret:
        return _mask_secret(node, key, True, register)
    if isinstance(node, dict):
        return {k: (_mask_secret(v, k, True, register) if is_secret_key(k, key) else mask_subtree(v, k, register=register))
                for k, v in node.items()}
    if isinstance(node, list):
        return [mask_subtree(v, key, register=register) for v in node]
    return node


def _unmask_ref(node: Any) -> Any:
    # a reference's subtree (`secretRef: {name: …}`) is names, but a sops value stays hidden
    if isinstance(node, dict):
        return {k: _unmask_ref(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_unmask_ref(v) for v in node]
    return _SOPS_RE.sub(MASK, node) if isinstance(node, str) else node


def mask_values(
    tree: Any,
    secret_files: Iterable[str] = (),
    provenance: dict[tuple, tuple[str, int]] | None = None,
) -> Any:
    """A copy of `tree` with secret leaves replaced by MASK.

    A leaf is secret when its key (or an ancestor key) names a credential, or when
    `provenance` says it came from one of `secret_files` (or any file `is_secret_file`
    recognises). `null` stays `null`: it deletes a default and reveals nothing.
    """
    files = {str(f) for f in secret_files}
    prov = provenance or {}

    def from_secret_file(path: tuple) -> bool:
        # Lists are provenance leaves: find the nearest recorded ancestor.
        for n in range(len(path), 0, -1):
            where = prov.get(path[:n])
            if where is not None:
                return where[0] in files or is_secret_file(where[0])
        return False

    return _mask_tree(tree, from_secret_file, ())


def note_public_tree(tree: Any, what: str = "a value of the tree", *, everything: bool = False, secret_file: bool = False) -> None:
    """Tell the redactor the public tokens of a parsed values or state file: every key, and every
    string that is not a secret by the masking rules. `everything` for upstream text (a chart's own
    defaults are documented, whatever their key); `secret_file` for a secrets file (its keys only)."""
    if not first_sight(tree, f"{what}|{everything}|{secret_file}"):
        return
    stack: list[tuple[Any, Any, bool]] = [(tree, None, secret_file)]
    while stack:  # iterative: a hostile file may nest deeply
        node, key, secret = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(k, str):
                    note_public(k, "a key")
                if everything:
                    stack.append((v, k, False))
                elif is_secret_key(k, key) and not is_secret_reference(v):
                    stack.append((v, k, True))
                else:
                    stack.append((v, k, secret and not _is_reference_key(k)))
        elif isinstance(node, list):
            stack.extend((v, key, secret) for v in node)
        elif isinstance(node, str) and not secret:
            note_public(node, what)


def secret_leaves(
    tree: Any,
    secret_files: Iterable[str] = (),
    provenance: dict[tuple, tuple[str, int]] | None = None,
) -> list[tuple[tuple, Any]]:
    """The (path, value) of every leaf `mask_values` hides: the credentials of a values tree."""
    masked = mask_values(tree, secret_files, provenance)
    out: list[tuple[tuple, Any]] = []
    stack: list[tuple[tuple, Any, Any]] = [((), tree, masked)]
    while stack:
        path, a, b = stack.pop()
        if isinstance(a, dict) and isinstance(b, dict):
            stack.extend((path + (k,), v, b.get(k)) for k, v in a.items())
        elif isinstance(a, list) and isinstance(b, list):
            stack.extend((path + (i,), v, w) for i, (v, w) in enumerate(zip(a, b)))
        elif b == MASK and a != MASK:
            out.append((path, a))
    return sorted(out, key=lambda pv: tuple(map(str, pv[0])))
