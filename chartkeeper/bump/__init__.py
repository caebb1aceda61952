"""`chartkeeper bump`: a reviewed chart upgrade on its own git branch.

* `preflight` — git repository, clean tree, no drift in the vendored chart
* `workspace` — the temporary git worktree and branch; recovery from killed runs
* `journal`   — staged writes swapped in by a replayable journal
* `apply`     — the upgrade itself in a tree (worktree or `--in-place`)
* `summary`   — the upgrade analysis (of NEW as `chartkeeper.upgrade` staged it) as the branch and commit need it
* `ready`     — after the commit: verify and render every environment
* `run`       — one bump, `--all`, and what is printed
"""

from __future__ import annotations

import os
import sys
import time

#: Test hook: when set to a stage name, the command stops at that stage (prints a line on
#: stderr, then sleeps) so a test can kill it exactly there. Stages: resolved, worktree,
#: chart-staged, staged, journal-written, swapping, committed, verified.
PAUSE_ENV = "CHARTKEEPER_TEST_PAUSE_AT"


def pause(stage: str) -> None:
    if os.environ.get(PAUSE_ENV) == stage:
        sys.stderr.write(f"chartkeeper: paused at {stage}\n")
        sys.stderr.flush()
        time.sleep(3600)
