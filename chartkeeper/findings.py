"""A finding: one thing a reviewer must know about an upgrade (or about the current tree, for lint).

Codes are stable and documented in docs/findings.md; tools may match on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterable


class Severity(str, Enum):
    BREAKING = "breaking"
    REVIEW = "review"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"breaking": 0, "review": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Finding:
    code: str  # e.g. "values.removed-key"; documented in docs/findings.md
    severity: Severity
    message: str  # one line, ready to print; never a secret value
    path: str | None = None  # values path (`dcgmExporter.config.name`) or resource (`apps/Deployment/ns/name`)
    env: str | None = None  # environment it applies to; None = every environment
    old: Any = None  # OLD upstream value (already masked where secret)
    new: Any = None  # NEW upstream value
    ours: Any = None  # our effective override
    file: str | None = None  # where our side is defined (values file, patch file), relative to the repo
    line: int | None = None
    suggestion: str | None = None  # e.g. the likely new path of a renamed key
    details: tuple[tuple[str, Any], ...] = field(default=())
    action: str | None = None  # what a person should do about it (every review/breaking finding has one in a report)
    # False when the same finding already holds with OLD (an override neither version knows, a deprecated API
    # OLD renders too): the upgrade changes nothing about it, so it counts in no verdict (`chartkeeper lint` has it)
    introduced: bool = True

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "severity": self.severity.value, "message": self.message}
        for k in ("path", "env", "old", "new", "ours", "file", "line", "suggestion", "action"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        if self.details:
            d["details"] = dict(self.details)
        if not self.introduced:
            d["introduced"] = False
        return d


@dataclass(frozen=True)
class NotChecked:
    """A check that could not run — a tool missing, an engine's limit, values not decrypted.

    Never a finding: it says nothing about the deployment, only that part of it was not looked at.
    Commands list these in a section of their own and exit 2 unless `--allow-unchecked`.
    """

    what: str  # what was not checked: "render of gpu-operator/gpu-operator"
    why: str  # why: "needs a `helm` binary and none is on PATH"
    env: str | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"what": self.what, "why": self.why}
        if self.env is not None:
            d["env"] = self.env
        return d

    def line(self) -> str:
        return f"{self.what}{f' [{self.env}]' if self.env else ''}: {self.why}"


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.severity.rank, f.code, f.env or "", f.path or ""))


def verdict(findings: Iterable[Finding]) -> str:
    """`breaking`, `needs review` or `safe`."""
    sev = {f.severity for f in findings}
    if Severity.BREAKING in sev:
        return "breaking"
    if Severity.REVIEW in sev:
        return "needs review"
    return "safe"


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    out = {s.value: 0 for s in Severity}
    for f in findings:
        out[f.severity.value] += 1
    return out
