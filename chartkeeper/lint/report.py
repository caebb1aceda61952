"""What `chartkeeper lint` found, and its JSON form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chartkeeper.findings import Finding, NotChecked, Severity


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...]
    environments: tuple[str, ...]
    releases: tuple[str, ...]  # release ids seen in any environment
    checked: tuple[str, ...] = ()  # what ran, for the summary ("render astrago/dev", ...)
    not_checked: tuple[NotChecked, ...] = ()  # what could not run (a tool missing, values not decrypted…)

    @property
    def has_problems(self) -> bool:
        """Anything above info. "Not vendored yet" and friends are info: they do not fail lint."""
        return any(f.severity is not Severity.INFO for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        counts = {s.value: 0 for s in Severity}
        for f in self.findings:
            counts[f.severity.value] += 1
        return {
            "version": 1,
            "ok": not self.has_problems,
            "environments": list(self.environments),
            "releases": list(self.releases),
            "counts": counts,
            "findings": [f.to_json() for f in self.findings],
            "notChecked": [n.to_json() for n in self.not_checked],
        }
