"""The real CLI in a child process of its own, with what it cost: exit code, output, wall time and
the child's peak memory (its own `ru_maxrss`, taken when it is reaped, so no other child of the
test process counts). For the trials that must stay under a memory and a time bound."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from tests.support.harness import _cli_env


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def detail(self) -> str:
        return f"exit {self.returncode}, {self.seconds:.1f} s, {self.peak_mb:.0f} MB\n{self.output[-2500:]}"

    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.startswith("error:")]


def run_measured(args: Iterable[str], *, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120,
                 during: Callable[[subprocess.Popen[bytes]], None] | None = None) -> Measured:
    """Run `python -m chartkeeper ARGS`; `during(proc)` runs while it does (to send it a signal)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "chartkeeper", *args], cwd=cwd, env=_cli_env(env),
                                stdout=out, stderr=err, start_new_session=True)
        killer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        killer.start()
        try:
            if during is not None:
                during(proc)
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                        seconds, usage.ru_maxrss / 1024)
