"""Add an entry under *Unreleased* in a Keep a Changelog file, line by line.

The deployment's CHANGELOG.md is written by people; we insert one list item and leave every
other byte alone. Where the file has no `## [Unreleased]` section we add one above the first
release heading; where it has no file at all we start one in Keep a Changelog's shape.
"""

from __future__ import annotations

import re
from pathlib import Path

from chartkeeper.fsutil import atomic_write_text

NEW_FILE = (
    "# Changelog\n"
    "\n"
    "All notable changes to this deployment are documented in this file.\n"
    "The format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/).\n"
    "\n"
)
_UNRELEASED_RE = re.compile(r"^##\s+\[?unreleased\]?\s*$", re.IGNORECASE)
_H2_RE = re.compile(r"^##\s")
_H3_RE = re.compile(r"^###\s+(?P<name>.+?)\s*$")


def _eol(lines: list[str]) -> str:
    for ln in lines:
        if ln.endswith("\r\n"):
            return "\r\n"
        if ln.endswith("\n"):
            return "\n"
    return "\n"


def insert_entry(text: str, entry: str, *, section: str = "Changed") -> str:
    """`text` with `- entry` added at the end of `### section` under Unreleased."""
    if not text.strip():
        text = NEW_FILE
    lines = text.splitlines(keepends=True)
    nl = _eol(lines)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += nl
    item = f"- {entry}{nl}"

    start = next((i for i, ln in enumerate(lines) if _UNRELEASED_RE.match(ln.rstrip("\r\n"))), None)
    if start is None:
        first_h2 = next((i for i, ln in enumerate(lines) if _H2_RE.match(ln)), len(lines))
        block = [f"## [Unreleased]{nl}", nl, f"### {section}{nl}", item]
        if first_h2 < len(lines):
            block.append(nl)
        elif lines and lines[-1].strip():
            block.insert(0, nl)
        return "".join(lines[:first_h2] + block + lines[first_h2:])

    end = next((i for i in range(start + 1, len(lines)) if _H2_RE.match(lines[i])), len(lines))
    sub = next(
        (
            i
            for i in range(start + 1, end)
            if (m := _H3_RE.match(lines[i].rstrip("\r\n"))) and m.group("name").strip().lower() == section.lower()
        ),
        None,
    )
    if sub is not None:
        # After the last non-blank line of the subsection (its list, including wrapped lines).
        sub_end = next((i for i in range(sub + 1, end) if _H3_RE.match(lines[i].rstrip("\r\n"))), end)
        last = sub
        for i in range(sub + 1, sub_end):
            if lines[i].strip():
                last = i
        return "".join(lines[: last + 1] + [item] + lines[last + 1 :])

    # No such subsection: add it at the end of the Unreleased section.
    last = start
    for i in range(start + 1, end):
        if lines[i].strip():
            last = i
    block = [nl, f"### {section}{nl}", item]
    rest = lines[last + 1 :]
    if rest and rest[0].strip():  # a heading right after: keep one blank line between
        block.append(nl)
    return "".join(lines[: last + 1] + block + rest)


def add_entry(path: Path, entry: str, *, section: str = "Changed") -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    atomic_write_text(path, insert_entry(text, entry, section=section))
