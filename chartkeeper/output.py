"""Where command output goes: a rich console for people, JSON for machines, stderr for noise.

Commands build rows and findings; they never print JSON and tables side by side. Messages
pass through `redact` so a credential that slipped into a URL or an error never reaches
the terminal.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

_URL_CRED_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s:]+(:[^/@\s]*)?@")
_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value (a password, a token) so `redact` masks it everywhere."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    text = _URL_CRED_RE.sub(lambda m: m.group("scheme") + "***@", text)
    for s in _SECRETS:
        text = text.replace(s, "***")
    return text


@dataclass
class Output:
    json_mode: bool = False
    verbose: int = 0
    quiet: bool = False
    console: Console = field(default_factory=lambda: Console(highlight=False, soft_wrap=True))
    err: Console = field(default_factory=lambda: Console(stderr=True, highlight=False, soft_wrap=True))

    def info(self, message: str) -> None:
        """Progress and context for people: stderr, silent with --quiet or --json."""
        if not self.quiet:
            self.err.print(redact(message), markup=False)

    def detail(self, message: str) -> None:
        if self.verbose and not self.quiet:
            self.err.print(redact(message), markup=False, style="dim")

    def warn(self, message: str) -> None:
        self.err.print("warning: " + redact(message), markup=False, style="yellow")

    def result(self, renderable: Any) -> None:
        """The command's main output (tables, summaries) on stdout."""
        self.console.print(renderable)

    def text(self, line: str) -> None:
        sys.stdout.write(redact(line) + "\n")

    def emit_json(self, payload: Any) -> None:
        sys.stdout.write(redact(json.dumps(payload, indent=2, sort_keys=False, default=str)) + "\n")

    @property
    def show_progress(self) -> bool:
        return not self.quiet and not self.json_mode and self.err.is_terminal
