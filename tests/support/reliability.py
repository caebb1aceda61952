"""The reliability suite's own figures (docs/reliability.md is generated from them).

Tests wrap each trial in `reliability.case(category, kind)`: the trial counts as tried when
the block starts and as survived only when the block ends without an exception, so a trial
counts only after its assertions passed. Categories:

* `fault`   -- a fault injected by an upstream (kind: "<fault> / <command>")
* `hostile` -- a hostile archive or malformed input (kind: what it was)
* `kill`    -- a SIGKILL at one point of a run, then the checks and a recovering re-run
* `canary`  -- a planted secret, "survived" meaning it leaked nowhere
* `concurrency` -- two processes on one deployment
* `budget`  -- huge or hostile input against the memory and time budgets (`limits:`)
* `fetch`   -- a chart that would make the analysis fetch, or crash on what it cannot fetch
* `writes`  -- a path, name or symlink that would make a write leave its place (refused before any write)
* `exec`    -- code the repository brings (a template's `exec`, a committed binary, git hooks and filters)
* `markup`  -- upstream text that would become Markdown structure in a report

A trial may also note what it cost (`row["peak_mb"]`, `row["seconds"]`) and the bounds it asserted
(`row["bound_mb"]`, `row["bound_s"]`); the summary keeps the highest per kind.

With `CHARTKEEPER_RELIABILITY_OUT=<folder>` every pytest process (each xdist worker) writes its
rows to `<folder>/rows-<worker>.json`, and the controlling process merges them into
`<folder>/summary.json` at the end. `scripts/reliability.py` renders the summary as Markdown.
"""

from __future__ import annotations

import json
import os
import threading
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

ENV = "CHARTKEEPER_RELIABILITY_OUT"


class Recorder:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @contextmanager
    def case(self, category: str, kind: str, **extra: Any) -> Iterator[dict[str, Any]]:
        row: dict[str, Any] = {"category": category, "kind": kind, "ok": False, **extra}
        try:
            yield row
        except BaseException:
            with self._lock:
                self.rows.append(row)
            raise
        row["ok"] = True
        with self._lock:
            self.rows.append(row)


RECORDER = Recorder()


@pytest.fixture(scope="session")
def reliability() -> Recorder:
    return RECORDER


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    grouped: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for r in rows:
        cell = grouped[r["category"]][r["kind"]]
        cell[0] += 1
        cell[1] += 1 if r["ok"] else 0
    costs: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for r in rows:
        cost = costs[(r["category"], r["kind"])]
        for key in _COSTS:
            if isinstance(r.get(key), (int, float)):
                cost[key] = max(cost.get(key, 0.0), float(r[key]))
    for cat, kinds in sorted(grouped.items()):
        out[cat] = {
            "tried": sum(v[0] for v in kinds.values()),
            "passed": sum(v[1] for v in kinds.values()),
            "kinds": {k: {"tried": v[0], "passed": v[1], **costs.get((cat, k), {})} for k, v in sorted(kinds.items())},
        }
    return out


_COSTS = ("peak_mb", "bound_mb", "seconds", "bound_s")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    folder = os.environ.get(ENV)
    if not folder:
        return
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    (out / f"rows-{worker or 'main'}.json").write_text(json.dumps(RECORDER.rows, indent=1))
    if worker is None:  # the controller (or a run without xdist): merge every process's rows
        rows: list[dict[str, Any]] = []
        for f in sorted(out.glob("rows-*.json")):
            rows.extend(json.loads(f.read_text()))
        summary = {
            "exitstatus": int(exitstatus),
            "tests_collected": session.testscollected,
            "tests_failed": session.testsfailed,
            "figures": summarize(rows),
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
