"""Lint checks on files as committed: vendored folders against the lock, and state files' YAML parts.

- `vendored_drift`: what `chartkeeper verify` finds for a committed hand edit of a vendored chart
  (its tree checksum no longer the lock's), file by file when the stored manifest can tell.
- `mixed_parts`: a state file whose `environments:` (or `bases:`) share a YAML part with
  `releases:`. helmfile 1.x refuses such a file (0.16x only warns): the environment must be known
  before the releases' templates render, so they belong in separate parts, split by `---`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable

from chartkeeper.findings import Finding, Severity
from chartkeeper.lockfile import Lock
from chartkeeper.vendoring.verify import DRIFT, check_entry

_PART_SPLIT_RE = re.compile(r"^---[ \t]*(?:#.*)?$", re.M)
_TOP_KEY_RE = re.compile(r"^(environments|bases|releases)[ \t]*:", re.M)


def vendored_drift(lock: Lock, rel: Callable[[Path], str]) -> list[Finding]:
    out: list[Finding] = []
    for entry in lock.entries:
        folder = lock.folder_of(entry)
        if not (folder / "Chart.yaml").is_file():
            continue  # missing or invalid folders are reported by the lock-folder check
        report = check_entry(lock, entry)
        if report.state != DRIFT:
            continue
        if report.drift is not None:
            d = report.drift
            files = [f"modified {p}" for p in d.modified] + [f"added {p}" for p in d.added] + [f"removed {p}" for p in d.removed]
            shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        else:
            shown = "the per-file manifest cannot name the files"
        out.append(Finding(
            "lint.vendored-drift", Severity.REVIEW,
            f"{rel(folder)}/ differs from what versions.lock pins for {entry.name} {entry.version} ({shown}); "
            "a hand edit of a vendored chart is lost on the next upgrade: move it to patches/ or values "
            f"and restore the folder with `chartkeeper sync --force {entry.name}`",
            path=entry.name, file=rel(folder),
        ))
    return out


def mixed_parts(files: Iterable[Path], rel: Callable[[Path], str]) -> list[Finding]:
    out: list[Finding] = []
    for f in files:
        if f.is_dir():
            continue
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        start_line = 1
        pos = 0
        for m in [*_PART_SPLIT_RE.finditer(text), None]:
            end = m.start() if m is not None else len(text)
            part = text[pos:end]
            keys: dict[str, int] = {}
            for k in _TOP_KEY_RE.finditer(part):
                keys.setdefault(k.group(1), start_line + part.count("\n", 0, k.start()))
            env_key = "environments" if "environments" in keys else "bases" if "bases" in keys else None
            if env_key and "releases" in keys:
                out.append(Finding(
                    "lint.helmfile-parts", Severity.REVIEW,
                    f"{rel(f)}: `{env_key}:` (line {keys[env_key]}) and `releases:` (line {keys['releases']}) share a YAML "
                    "part; helmfile 1.x refuses this (0.16x only warns): put `---` between them",
                    file=rel(f), line=keys["releases"],
                    suggestion=f"insert a line `---` before `releases:` at line {keys['releases']}",
                ))
            if m is None:
                break
            start_line += text.count("\n", pos, m.end())
            pos = m.end()
    return out
