"""The state one lint run carries: settings, the lock, findings so far (each once), what ran."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from chartkeeper.analysis.chart_keys import KeyUniverse, load_universe
from chartkeeper.findings import Finding, NotChecked, Severity
from chartkeeper.lockfile import Lock
from chartkeeper.settings import Settings


@dataclass
class LintContext:
    """Mutable on purpose: the checks of one run add to it in turn, and `lint` reads it at the end."""

    settings: Settings
    lock: Lock
    helmfile_dir: Path
    findings: list[Finding] = field(default_factory=list)
    seen: set[tuple] = field(default_factory=set)
    used_pins: set[str] = field(default_factory=set)
    releases: dict[str, None] = field(default_factory=dict)
    wired_patches: set[Path] = field(default_factory=set)
    charts_with_releases: dict[str, Path] = field(default_factory=dict)  # chart name -> folder
    prepared: dict[Path, Any] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)
    not_checked: list[NotChecked] = field(default_factory=list)  # checks that could not run: never findings
    credentials: list[Any] = field(default_factory=list)  # lint.credentials.Credential, judged at the end
    universes: dict[Path, KeyUniverse] = field(default_factory=dict)  # chart folder -> its keys, read once per run
    secrets_mechanism: bool = False  # the tree keeps some secret in sops, `secrets:` or `ref+`
    yaml_files: dict[str, tuple[Any, dict[tuple, int]]] | None = None  # plain YAML of the tree with line maps

    def rel(self, p: Path) -> str:
        try:
            return p.resolve().relative_to(self.settings.root.resolve()).as_posix()
        except ValueError:
            return str(p)

    def universe(self, chart_dir: Path) -> KeyUniverse:
        """The chart's keys and defaults, read once per run (every release and environment asks)."""
        hit = self.universes.get(chart_dir)
        if hit is None:
            hit = self.universes[chart_dir] = load_universe(chart_dir)
        return hit

    def unchecked(self, what: str, why: str, env: str | None = None) -> None:
        item = NotChecked(what, why, env)
        if item not in self.not_checked:
            self.not_checked.append(item)

    def add(self, code: str, severity: Severity, message: str, **kw: Any) -> None:
        self.extend([Finding(code, severity, message, **kw)])

    def missing(self, what: str, **kw: Any) -> None:
        """A file the tree names does not exist: `what` says who names which file."""
        self.add("lint.missing-file", Severity.BREAKING, f"{what} does not exist", **kw)

    def extend(self, findings: Iterable[Finding]) -> None:
        """Record findings; one seen before (same code, message, place) is not repeated."""
        for f in findings:
            key = (f.code, f.message, f.env, f.file, f.path)
            if key not in self.seen:
                self.seen.add(key)
                self.findings.append(f)


def is_under(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def with_env(findings: Iterable[Finding], env: str) -> list[Finding]:
    return [f if f.env else replace(f, env=env) for f in findings]


def one_line(value: Any) -> str:
    text = str(value).strip()
    return " ".join(text.split())
