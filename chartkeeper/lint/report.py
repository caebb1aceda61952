"""What `chartkeeper lint` found, and its JSON form."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from chartkeeper.findings import Finding, NotChecked, Severity


@dataclass(frozen=True)
class Row:
    """One finding as lint shows it: the same finding in several environments is one row naming them."""

    finding: Finding
    environments: tuple[str, ...]  # empty: not tied to an environment

    def to_json(self) -> dict[str, Any]:
        d = self.finding.to_json()
        d.pop("env", None)
        if self.environments:
            d["environments"] = list(self.environments)
        return d


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...]  # one per environment it holds in
    environments: tuple[str, ...]
    releases: tuple[str, ...]  # release ids seen in any environment
    checked: tuple[str, ...] = ()  # what ran, for the summary ("render astrago/dev", ...)
    not_checked: tuple[NotChecked, ...] = ()  # what could not run (a tool missing, values not decrypted…)

    @property
    def has_problems(self) -> bool:
        """Anything above info. "Not vendored yet" and friends are info: they do not fail lint."""
        return any(f.severity is not Severity.INFO for f in self.findings)

    @cached_property
    def rows(self) -> tuple[Row, ...]:
        """Findings folded across environments, in the order first seen: a two-environment tree
        whose environments agree does not print every finding twice."""
        order = {e: i for i, e in enumerate(self.environments)}
        groups: dict[tuple, tuple[Finding, list[str]]] = {}
        for f in self.findings:
            key = (f.code, f.severity, f.message, f.path, f.file, f.line, f.suggestion, f.action,
                   repr(f.old), repr(f.new), repr(f.ours), repr(f.details))
            hit = groups.setdefault(key, (f, []))
            if f.env is not None and f.env not in hit[1]:
                hit[1].append(f.env)
        return tuple(Row(f, tuple(sorted(envs, key=lambda e: order.get(e, len(order)))))
                     for f, envs in groups.values())

    def to_json(self) -> dict[str, Any]:
        counts = {s.value: 0 for s in Severity}
        for r in self.rows:
            counts[r.finding.severity.value] += 1
        return {
            "version": 1,
            "ok": not self.has_problems,
            "environments": list(self.environments),
            "releases": list(self.releases),
            "counts": counts,
            "findings": [r.to_json() for r in self.rows],
            "notChecked": [n.to_json() for n in self.not_checked],
        }
