"""The one redactor: hide registered secret values in free text, never the structure around them.

Terraform's rule, not GitHub Actions' `::add-mask::`: a secret is masked where it is printed (its
key, in `values`, `--explain` and report rows: `masking.mask_values`), and copies that templates
make of it are hidden by the text scan here *only when the value is distinctive*. A value that
also occurs as, or inside, a public token of the deployment — a chart, release, environment or
namespace name, a path, an image reference, a key, any non-secret value of a values or state
file, a chart's own default — is known to anyone who reads the repository: replacing it
everywhere protects nothing and garbles every name that contains it (`docker.io/bitnami/***`,
`--environment ***`). Such a value is masked at its key only, and `lint` reports it as a weak
credential (`secrets.public-value`).

Public tokens arrive as the deployment is read (`note_public`); a secret registered before the
token that contains it stops being replaced from the next `redact` on. The scan is linear: each
distinctive form is looked for with `str.__contains__` and only the ones present go into a
regular expression, so thousands of public words cost nothing and a long token is never
re-scanned per position.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote

MASK = "***"
ENCRYPTED = "<encrypted>"
MIN_REDACTED_LENGTH = 4

# Replacing these in every output would garble it, and they reveal next to nothing.
TOO_COMMON = frozenset({
    "true", "false", "null", "none", "nil", "yes", "no", "on", "off", "enabled", "disabled", "default",
    "admin", "root", "user", "username", "guest", "test", "demo", "example", "changeme", "password", "secret",
    "token", "http", "https", "localhost", "latest", "always", "never", "ifnotpresent", "opaque",
})
# Words of chartkeeper's own output (commands, next steps, section names): a password equal to one
# of them is public by construction, and replacing it would garble every command we print.
OWN_WORDS = (
    "chartkeeper", "helmfile", "helm", "kubectl", "kustomize", "git", "check", "bump", "diff", "lint", "images",
    "values", "releases", "release", "environment", "environments", "sync", "verify", "import", "bundle", "recover",
    "chart", "charts", "report", "reports", "apply", "template", "breaking", "review", "info", "safe", "external",
    "custom", "patches", "versions.lock", "chartkeeper.yaml", "main", "origin", "upgrade", "finding", "findings",
)

_SOPS_RE = re.compile(r"ENC\[[A-Z0-9_]+,data:[^\]]*\]")
# `scheme://user:password@host`: the scheme is bounded so a long run of letters is not re-scanned
# from every position (linear time on a 250 KB token).
_URL_CRED_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)[^/@\s:]+(:[^/@\s]*)?@")


def redactable(value: Any) -> bool:
    """Long and rare enough to be replaced wherever it appears without garbling unrelated text?"""
    if not isinstance(value, str) or len(value) < MIN_REDACTED_LENGTH or value in (MASK, ENCRYPTED):
        return False
    v = value.strip()
    return len(v) >= MIN_REDACTED_LENGTH and not v.isdigit() and v.lower() not in TOO_COMMON and not _SOPS_RE.fullmatch(v)


def forms_of(value: str) -> set[str]:
    """The forms a secret travels in: itself, base64 (a Secret's `data:`), URL-quoted (a
    connection string), JSON-escaped."""
    forms = {value, quote(value, safe=""), json.dumps(value)[1:-1]}
    raw = value.encode()
    for b64 in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        forms.update({b64, b64.rstrip("=")})
    return {f for f in forms if len(f) >= MIN_REDACTED_LENGTH}


@dataclass
class _Registry:
    secrets: dict[str, None] = field(default_factory=dict)  # every secret value registered, in order
    public: dict[str, str] = field(default_factory=dict)  # public token -> what it is ("the chart name")
    chunks: list[str] = field(default_factory=list)  # public tokens joined by NUL, for fast `in` checks
    texts: list[tuple[str, str, str]] = field(default_factory=list)  # public documents: (text, name, what)
    pending: list[str] = field(default_factory=list)  # tokens not yet in `chunks`
    active: dict[str, frozenset[str]] = field(default_factory=dict)  # distinctive secret -> its forms
    forms: tuple[str, ...] = ()  # every active form, longest first
    seen: dict[Any, Any] = field(default_factory=dict)  # trees already noted (held, so ids stay theirs)

    def contains(self, value: str) -> bool:
        self.flush()
        return value in self.public or any(value in c for c in self.chunks) or any(value in t for t, _, _ in self.texts)

    def flush(self) -> None:
        if not self.pending:
            return
        chunk = "\0".join(self.pending)
        self.pending.clear()
        self.chunks.append(chunk)
        self.drop_found_in(chunk)

    def drop_found_in(self, text: str) -> None:
        """Secrets that occur in a public text are not distinctive any more."""
        dropped = [s for s in self.active if s in text]
        for s in dropped:
            del self.active[s]
        if dropped:
            self._reform()

    def _reform(self) -> None:
        self.forms = tuple(sorted({f for fs in self.active.values() for f in fs}, key=len, reverse=True))


_REG = _Registry()


def _seed() -> None:
    for w in OWN_WORDS:
        note_public(w, "a word of chartkeeper's own output")


def register_secret(value: Any) -> None:
    """Remember a secret value. Its copies are hidden in every output while it is distinctive."""
    if not redactable(value) or value in _REG.secrets:
        return
    _REG.secrets[value] = None
    if not _REG.contains(value):
        _REG.active[value] = frozenset(forms_of(value))
        _REG._reform()


def note_public(token: Any, what: str = "a value of the tree") -> None:
    """A token anyone reading the deployment knows: a name, a path, an image, a key, a public value."""
    if not isinstance(token, str) or len(token) < MIN_REDACTED_LENGTH or token in _REG.public:
        return
    _REG.public[token] = what
    _REG.pending.append(token)


def note_public_text(text: str, name: str, what: str) -> None:
    """A whole public document (a chart's values.yaml, its Chart.yaml): any secret found in it is
    public, whatever key or comment holds it. `name` and `what` word the lint finding."""
    if not isinstance(text, str) or not text:
        return
    _REG.texts.append((text, name, what))
    _REG.drop_found_in(text)


def note_public_chart(name: str, chart_yaml: str, values_yaml: str, templates: Callable[[], Iterable[str]]) -> None:
    """A chart is public: its name, Chart.yaml, values.yaml (comments document defaults too) and the
    names its templates spell out (`{{ .Release.Name }}-postgresql-hl`, an image repository). Rendered
    objects are not: a template may copy a secret into any field. CRD schemas are left out: they name
    fields, not values, and weigh megabytes. `templates` is only called for a chart not noted yet in
    this process (the analysis reads a chart, then the renderer loads the same one)."""
    if seen_before(("chart", name, hash(chart_yaml), hash(values_yaml))):
        return
    note_public(name, "the chart name")
    note_public_text(chart_yaml, name, "the Chart.yaml of the chart")
    note_public_text(values_yaml, name, "the values.yaml of the chart")
    note_public_text("\0".join(templates()), name, "the templates of the chart")


def note_public_all(tokens: Iterable[Any], what: str = "a value of the tree") -> None:
    for t in tokens:
        note_public(t, what)


def first_sight(tree: Any, tag: str = "") -> bool:
    """True the first time this parsed tree is offered (parsed files are cached and shared: a tree
    noted once need not be walked again for every release and environment). The tree is held, so its
    id stays its own."""
    return not seen_before((id(tree), tag), tree)


def seen_before(key: Any, keep: Any = None) -> bool:
    """True when `key` (say, a file's name and content hash) was noted already in this process."""
    if key in _REG.seen:
        return True
    _REG.seen[key] = keep
    return False


def public_holder(value: str) -> tuple[str, str] | None:
    """The public token `value` equals or occurs in, and what that token is; None when distinctive."""
    if not isinstance(value, str):
        return None
    _REG.flush()
    if value in _REG.active:
        return None  # registered and found in no public token: the common case, answered at once
    if value in _REG.public:
        return value, _REG.public[value]
    if any(value in c for c in _REG.chunks):
        # rare (lint's wording): prefer a name over a value, the shortest token
        hits = [(t, w) for t, w in _REG.public.items() if value in t]
        hits.sort(key=lambda tw: (tw[1].startswith("a value"), len(tw[0])))
        if hits:
            return hits[0]
    for text, name, what in _REG.texts:
        if value in text:
            return name, what
    return None


def is_distinctive(value: Any) -> bool:
    """Would `redact` replace this value wherever it appears?"""
    _REG.flush()
    return value in _REG.active


def registered_secrets() -> tuple[str, ...]:
    return tuple(_REG.secrets)


def redact_url_credentials(text: str) -> str:
    if "://" not in text or "@" not in text:
        return text
    return _URL_CRED_RE.sub(lambda m: m.group("scheme") + MASK + "@", text)


def redact(text: str) -> str:
    """`text` with URL credentials and every distinctive secret (in any of its forms) replaced by MASK."""
    text = redact_url_credentials(text)
    _REG.flush()
    present = [f for f in _REG.forms if f in text]
    if present:
        # longest first (already sorted), so a secret that contains another is hidden whole
        text = re.compile("|".join(map(re.escape, present))).sub(MASK, text)
    return text


def forget_secrets() -> None:
    """Start over, as a new process does (tests that run several commands in one process)."""
    global _REG
    _REG = _Registry()
    _seed()


def snapshot() -> Mapping[str, Any]:
    """What the registry knows, to put back with `restore` (in-process test runs)."""
    return {"secrets": tuple(_REG.secrets), "public": dict(_REG.public), "texts": tuple(_REG.texts)}


def restore(snap: Mapping[str, Any]) -> None:
    forget_secrets()
    for t, w in snap["public"].items():
        note_public(t, w)
    for text, name, what in snap["texts"]:
        note_public_text(text, name, what)
    for s in snap["secrets"]:
        register_secret(s)


_seed()
