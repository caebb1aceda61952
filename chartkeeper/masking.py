"""Keep secrets out of what chartkeeper prints: masked keys, secret files, encrypted files.

A values leaf is masked when its key looks like a credential (`password`, `apiKey`,
`tls.key`, `AWS_SECRET_ACCESS_KEY`…) or when it came from a secrets file (`secrets.yaml`,
`secrets.dev.yaml`, anything whose name starts with `secret`). Files encrypted with sops
(helm-secrets) are recognised by their `sops:` metadata; chartkeeper reports them as
encrypted and never decrypts them.

Deciding on the key name is deliberately word-based: `keycloak`, `monkey`, `keyboard` and
`keys` are not secrets, while `privateKey`, `accessKey`, `secret_key`, `tls.key` are.

Redaction follows the value: every string masked here (and every credential the sources read)
is registered, and `redact` replaces it wherever it shows up as part of any text chartkeeper
prints or writes — a template that copies a password into a command line, a URL, a ConfigMap or
an error message. Values too short or too common to replace safely everywhere (booleans,
numbers, digit strings, fewer than 4 characters, words like `admin` or `true`) are masked at
their key only (docs/reliability.md).
"""

from __future__ import annotations

import os
import base64
import json
import re
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import quote

MASK = "***"
ENCRYPTED = "<encrypted>"

# --- the one redactor ---

MIN_REDACTED_LENGTH = 4
# Replacing these in every output would garble it, and they reveal next to nothing.
_TOO_COMMON = frozenset({
    "true", "false", "null", "none", "nil", "yes", "no", "on", "off", "enabled", "disabled", "default",
    "admin", "root", "user", "username", "guest", "test", "demo", "example", "changeme", "password", "secret",
    "token", "http", "https", "localhost", "latest", "always", "never", "ifnotpresent", "opaque",
})
_URL_CRED_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s:]+(:[^/@\s]*)?@")
_SECRETS: set[str] = set()
_pattern: re.Pattern[str] | None = None


def redactable(value: Any) -> bool:
    """Can this value be replaced wherever it appears without garbling unrelated text?"""
    if not isinstance(value, str) or len(value) < MIN_REDACTED_LENGTH or value in (MASK, ENCRYPTED):
        return False
    v = value.strip()
    return len(v) >= MIN_REDACTED_LENGTH and not v.isdigit() and v.lower() not in _TOO_COMMON and not _SOPS_RE.fullmatch(v)


def register_secret(value: Any) -> None:
    """Remember a secret value so `redact` hides it, and the forms it travels in (base64 in a
    Secret's `data:`, URL-quoted in a connection string, JSON-escaped), everywhere."""
    global _pattern
    if not redactable(value):
        return
    forms = {value, quote(value, safe=""), json.dumps(value)[1:-1]}
    raw = value.encode()
    for b64 in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        forms.update({b64, b64.rstrip("=")})
    new = {f for f in forms if len(f) >= MIN_REDACTED_LENGTH} - _SECRETS
    if new:
        _SECRETS.update(new)
        _pattern = None


def redact(text: str) -> str:
    """`text` with URL credentials and every registered secret (as a substring) replaced by MASK."""
    global _pattern
    text = _URL_CRED_RE.sub(lambda m: m.group("scheme") + MASK + "@", text)
    if not _SECRETS:
        return text
    if _pattern is None:  # longest first, so a secret that contains another is hidden whole
        _pattern = re.compile("|".join(re.escape(s) for s in sorted(_SECRETS, key=len, reverse=True)))
    return _pattern.sub(MASK, text)


def forget_secrets() -> None:
    """Start over (tests that run several commands in one process)."""
    global _pattern
    _SECRETS.clear()
    _pattern = None

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
# sops ciphertext (`ENC[AES256_GCM,data:…,type:str]`), as a whole value or inside a rendered one
_SOPS_RE = re.compile(r"ENC\[[A-Z0-9_]+,data:[^\]]*\]")


def _is_reference_key(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    words = _words(key)
    if not words:
        return False
    if words[0] == "existing" or "".join(words) in _REFERENCE_WORDS or words[-1] in _REFERENCE_WORDS:
        return True
    return len(words) > 1 and words[-2:] == ["secret", "name"]


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


def _mask_secret(node: Any, key: Any, own: bool) -> Any:
    """The subtree under a secret-ish key: leaves masked by `is_secret_value`."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if is_secret_key(k, key):
                out[k] = _mask_secret(v, k, True)
            elif _is_reference_key(k):
                out[k] = _unmask_ref(v)
            else:
                out[k] = _mask_secret(v, k, False)
        return out
    if isinstance(node, list):
        return [_mask_secret(v, key, own) for v in node]
    if is_secret_value(node, key, own):
        register_secret(node)
        return MASK
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
