"""Checks over the whole test session: the run leaves the real user's cache alone (and the
checkout: Hypothesis's caches go to the run's temp folder), and says how many slow tests it left out.

Every test runs with a private HOME and cache (tests/conftest.py). This plugin holds the suite to
it: the controlling process lists the real user's chartkeeper cache (as chartkeeper would find it
from the environment the suite was started with) before the first test and again after the last,
and names the paths that changed. When the cache did not exist before the run (CI runs the suite
with an empty HOME) any change fails the run; a cache that was already there may be in use by the
user's own chartkeeper at the same time, so its changes are reported as a warning only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from chartkeeper.fsutil import default_cache_dir

Snapshot = dict[str, tuple[int, int]]  # relative path -> (size, mtime in ns)
_SLOW_LEFT_OUT = "slow_left_out"  # key of a worker's count in xdist's workeroutput
_REAL_CACHE = pytest.StashKey[tuple[Path, Snapshot]]()
_SLOW = pytest.StashKey[int]()
_LEAK = pytest.StashKey[list[str]]()
_slow_counts: list[int] = []  # this process's deselected slow tests


def snapshot(folder: Path) -> Snapshot:
    """Every file and folder under `folder` with its size and modification time ({} when absent)."""
    out: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            out[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out


def changed_paths(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(trylast=True)  # after pytest's own tmp_path set-up
def pytest_configure(config: pytest.Config) -> None:
    # Hypothesis writes its caches into `.hypothesis/` of the current folder (the checkout) from
    # collection on: into the run's temp folder instead, removed with it
    set_hypothesis_home_dir(config._tmp_path_factory.getbasetemp() / "hypothesis")
    if _is_worker(config):
        return
    real_cache = default_cache_dir()
    config.stash[_REAL_CACHE] = (real_cache, snapshot(real_cache))
    config.stash[_SLOW] = 0


def pytest_deselected(items: list[pytest.Item]) -> None:
    _slow_counts.append(sum(1 for item in items if item.get_closest_marker("slow")))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # type: ignore[no-untyped-def]  # xdist's hook
    # every worker collects (and deselects) the whole suite: any one of them has the count
    count = getattr(node, "workeroutput", {}).get(_SLOW_LEFT_OUT, 0)
    config = node.config
    config.stash[_SLOW] = max(config.stash.get(_SLOW, 0), count)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _is_worker(config):
        config.workeroutput[_SLOW_LEFT_OUT] = sum(_slow_counts)  # type: ignore[attr-defined]
        return
    config.stash[_SLOW] = max(config.stash.get(_SLOW, 0), sum(_slow_counts))
    real_cache, before = config.stash[_REAL_CACHE]
    leaked = changed_paths(before, snapshot(real_cache))
    if leaked:
        config.stash[_LEAK] = [str(real_cache / p) for p in leaked]
        if not before:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    if _is_worker(config):
        return
    slow = config.stash.get(_SLOW, 0)
    if slow and "slow" in (config.option.markexpr or ""):  # test.sh's quick run: -m "not slow"
        terminalreporter.write_line(
            f"{slow} tests marked slow were left out (CHARTKEEPER_FULL_TESTS=1 bash scripts/test.sh runs them)"
        )
    leaked = config.stash.get(_LEAK, [])
    if leaked:
        strict = not config.stash[_REAL_CACHE][1]
        terminalreporter.write_line(
            ("FAILED" if strict else "warning (unless chartkeeper ran outside the suite meanwhile)")
            + f": {len(leaked)} path(s) changed in the real user's chartkeeper cache during the run "
            "(every test must use the private HOME and cache of tests/conftest.py):",
            red=True,
        )
        for path in leaked[:20]:
            terminalreporter.write_line(f"  {path}", red=True)
