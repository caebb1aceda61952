"""Where command output goes: a rich console for people, JSON for machines, stderr for noise.

Commands build rows and findings; they never print JSON and tables side by side. Everything
written through here (messages, tables, JSON) passes through `masking.redact`, so a secret that
slipped into a URL, a rendered value or an error never reaches the terminal.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from chartkeeper.errors import InputError
from chartkeeper.masking import redact

__all__ = ["Output", "output_file", "redact", "stdout_closed", "die_of_sigpipe", "table", "shorten_middle"]

# Off a terminal (CI logs, `| tee`, files) nothing decides a width, and rich would wrap every
# table at 80 columns, cutting URLs and errors into slivers: give it the whole line instead.
OFF_TERMINAL_WIDTH = 4096


def _width(stream: Any) -> int | None:
    """None lets rich decide (the terminal's width, or COLUMNS when set); off a terminal, no limit."""
    if os.environ.get("COLUMNS"):
        return None
    try:
        return None if stream.isatty() else OFF_TERMINAL_WIDTH
    except (AttributeError, ValueError):
        return OFF_TERMINAL_WIDTH


def table(*columns: str, title: str | None = None) -> Table:
    """The one table style of every command: no box, bold header, columns as given."""
    t = Table(box=None, pad_edge=False, header_style="bold", title=title, title_justify="left")
    for c in columns:
        t.add_column(c, overflow="fold")
    return t


def shorten_middle(text: str, limit: int) -> str:
    """`https://charts.exa…/stable/index` for a cell on a narrow terminal: both ends stay readable."""
    if len(text) <= limit or limit < 8:
        return text
    keep = limit - 1
    return text[: (keep + 1) // 2] + "…" + text[len(text) - keep // 2 :]

def stdout_closed() -> bool:
    """True when the reader of stdout went away (`| head`): poll reports an error on a widowed pipe."""
    try:
        p = select.poll()
        p.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in p.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def die_of_sigpipe() -> None:
    """End the process the way a closed pipe ends `cat` or `grep`: silently, status 128+SIGPIPE in a
    shell. Exit 1 would read as "findings" to a script (`set -o pipefail`), so no SystemExit(1) here."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing left to flush into the closed pipe
    except OSError:
        pass
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)
    os._exit(128 + signal.SIGPIPE)  # pragma: no cover - the signal ends the process first


class _Console(Console):
    """rich's console, with every rendered line redacted (tables and panels included)."""

    def _render_buffer(self, buffer: Any) -> str:
        return redact(super()._render_buffer(buffer))

    def on_broken_pipe(self) -> None:  # rich's default exits 1
        die_of_sigpipe()


@dataclass
class Output:
    json_mode: bool = False
    verbose: int = 0
    quiet: bool = False
    console: Console = field(default_factory=lambda: _Console(highlight=False, soft_wrap=True, width=_width(sys.stdout)))
    err: Console = field(default_factory=lambda: _Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr)))

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


def output_file(path: Path, option: str) -> Path:
    """The absolute path a command may write FILE to, checked before any work starts.

    Refuses, naming what to fix: a folder (`-o out/`), a parent folder that does not exist (a
    shell's `> missing/x` refuses it too), a parent that is a file, a parent we may not write into.
    """
    target = path if path.is_absolute() else Path.cwd() / path
    shown = f"{option} {path}"
    if str(path).endswith(("/", os.sep)) or target.is_dir():
        raise InputError(f"{shown}: is a folder; give a file name inside it")
    parent = target.parent
    if not parent.exists():
        ancestor = parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if ancestor.exists() and not ancestor.is_dir():
            raise InputError(f"{shown}: {ancestor} is a file, not a folder")
        raise InputError(f"{shown}: folder {parent} does not exist; create it first")
    if not parent.is_dir():
        raise InputError(f"{shown}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{shown}: folder {parent} is not writable")
    return target
