"""helm.engine.bounded: a call into the embedded engine gives up at its limit and lets Ctrl-C through.

The engine itself is exercised end to end in tests/test_hostile_budgets.py (a template looping for
ever, Ctrl-C during it); here the mechanism alone, on a call that blocks without holding the GIL."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from chartkeeper.helm.engine import EngineTimeout, bounded


def test_a_call_past_its_limit_is_given_up_promptly() -> None:
    release = threading.Event()
    start = time.monotonic()
    with pytest.raises(EngineTimeout, match="took longer than 0.3 s"):
        bounded(lambda: release.wait(30), 0.3)
    assert time.monotonic() - start < 0.6
    release.set()


def test_result_and_errors_come_back_as_they_are() -> None:
    assert bounded(lambda: 42, 5) == 42
    with pytest.raises(KeyError, match="boom"):
        bounded(lambda: {}["boom"], 5)


def test_the_waiting_thread_stays_interruptible() -> None:
    """The caller waits in slices, so a signal handler (Ctrl-C's KeyboardInterrupt) runs within one."""
    release = threading.Event()

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            bounded(lambda: release.wait(30), 20)
    finally:
        signal.signal(signal.SIGALRM, old)
        release.set()
    assert time.monotonic() - start < 0.5
