"""One call into the embedded Helm engine, with a wall-clock limit and Ctrl-C honoured.

The engine is Go code inside helm-python-sdk's native library. A call into it holds the calling
thread until Go returns: Python runs no signal handler meanwhile (Ctrl-C waited for the end of a
template looping `range until 100000` twice, that is for ever), and Go offers no way to cancel a
render. So the call runs in a daemon thread and the caller waits for it in short slices: Ctrl-C
raises within a tenth of a second, and past the limit the run gives up on the call with a clear
error. An abandoned call keeps one core busy until the process ends, which it soon does, or until
the template ends. A runaway template that prints grows Go's output buffer as fast as the CPU goes
(290 MB in 3 s on a loaded runner, 520 MB in 4 s on a quiet one), so the time limit bounds what one
render can take as well as how long.

A child process would let us kill the call, but Go's runtime cannot be forked once loaded and a
fresh interpreter loading the library costs more than most renders.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, TypeVar

from chartkeeper import limits

T = TypeVar("T")

_SLICE = 0.1  # seconds between two looks for Ctrl-C


class EngineTimeout(Exception):
    """The call did not return within its limit (the caller words the error for its user)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"took longer than {seconds:g} s")
        self.seconds = seconds


def bounded(call: Callable[[], T], seconds: float) -> T:
    """`call()`'s result or exception; EngineTimeout past `seconds`; KeyboardInterrupt promptly."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # handed to the caller's thread as it is
            box["error"] = exc

    worker = threading.Thread(target=run, name="helm-engine", daemon=True)
    end = time.monotonic() + seconds
    worker.start()
    while worker.is_alive():
        left = end - time.monotonic()
        if left <= 0:
            raise EngineTimeout(seconds)
        worker.join(min(_SLICE, left))
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def output_too_big(texts: dict[str, str]) -> int | None:
    """The size of an engine's output when it is over `limits.outputBytes`, else None."""
    total = sum(len(t) for t in texts.values())
    return total if total > limits.current().output_bytes else None


def over_limit(what: str, total: int) -> str:
    cap = limits.current().output_bytes
    return f"{what} printed {limits.size(total)}, more than {limits.size(cap)} ({limits.key_of('output_bytes')})"
