"""Weak credentials: what a security scanner would say about the passwords a deployment commits.

A credential (a value `masking` hides: under a credential key, or from a secrets file) that is also
a public token of the tree — the chart's name, an environment, a namespace, part of an image — or
a chart's documented default protects nothing: anyone who reads the repository or the chart knows
it. Redaction cannot hide such a value without garbling every name that contains it
(docs/reliability.md, "Secrets"), so it is reported instead:

- `secrets.known-default` (review): the chart's own default for that key (its values.yaml), or a
  well-known default (`admin`, `changeme`, `prom-operator`, `Harbor12345`…);
- `secrets.public-value` (review): equal to, or part of, a public token of the tree, naming which.

`lint` reports them (with `secrets.plaintext`); `diff` and `bump` list them as already true before
the upgrade. Findings name the key path and `file:line`, never the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from chartkeeper.analysis.chart_keys import KeyUniverse, fmt_path
from chartkeeper.findings import Finding, Severity
from chartkeeper.masking import public_holder, secret_leaves

# Defaults that ship in documentation, quick starts and charts; a credential equal to one is guessed first.
WELL_KNOWN = frozenset({
    "admin", "administrator", "changeme", "change-me", "changeit", "password", "passw0rd", "p@ssw0rd", "secret",
    "root", "toor", "guest", "default", "letmein", "123456", "12345678", "qwerty", "prom-operator", "harbor12345",
    "minio123", "minioadmin", "postgres", "mysql", "test",
})
_GENERATE = "set a generated credential, kept in a secrets file"


@dataclass(frozen=True)
class Credential:
    owner: str  # "release keycloak/keycloak", "environment values"
    env: str | None
    path: tuple
    value: Any  # kept in memory only: no finding carries it
    file: str | None
    line: int | None
    chart_default: Any = None


def credentials_of(values: Any, *, owner: str, env: str | None, secret_files: Iterable[str] = (),
                   provenance: Any = None, universe: KeyUniverse | None = None) -> list[Credential]:
    """The credentials written in a release's values (string values `masking` hides)."""
    prov = provenance if isinstance(provenance, dict) else {}
    out = []
    for path, value in secret_leaves(values, tuple(secret_files), prov):
        if not isinstance(value, str) or not value or value.startswith("ref+"):
            continue  # a `ref+` reference is resolved at deploy time: no credential is written here
        file, line = _where(prov, path)
        has, default = universe.default(path) if universe is not None else (False, None)
        out.append(Credential(owner, env, path, value, file, line, default if has else None))
    return out


def credential_findings(creds: Iterable[Credential], *, introduced: bool = True) -> list[Finding]:
    """Judge credentials once every public token of the tree has been read."""
    out = []
    holders: dict[str, tuple[str, str] | None] = {}
    for c in creds:
        shown = fmt_path(c.path)
        kw: dict[str, Any] = {"path": shown, "env": c.env, "file": c.file, "line": c.line, "introduced": introduced}
        if c.value not in holders:
            holders[c.value] = public_holder(c.value)
        holder = holders[c.value]
        if isinstance(c.chart_default, str) and c.chart_default and c.value == c.chart_default:
            out.append(Finding("secrets.known-default", Severity.REVIEW,
                               f"{c.owner}: {shown} is the chart's documented default (its values.yaml): anyone "
                               "who reads the chart knows it", action=_GENERATE, **kw))
        elif c.value.lower() in WELL_KNOWN:
            out.append(Finding("secrets.known-default", Severity.REVIEW,
                               f"{c.owner}: {shown} is a well-known default password", action=_GENERATE, **kw))
        elif holder is not None:
            token, what = holder
            how = "equals" if token == c.value else "occurs in"
            out.append(Finding("secrets.public-value", Severity.REVIEW,
                               f"{c.owner}: {shown} {how} {what} `{token}`: it is public, so output cannot hide it "
                               "(masked at its key only)", action="set a credential nobody can read off the tree", **kw))
    return out


def _where(prov: dict, path: tuple) -> tuple[str | None, int | None]:
    for n in range(len(path), 0, -1):
        hit = prov.get(path[:n])
        if hit is not None:
            return str(hit[0]), hit[1] if len(hit) > 1 else None
    return None, None
