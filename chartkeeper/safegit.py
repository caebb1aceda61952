"""Git as chartkeeper runs it: none of the repository's own programs.

A deployment repository is input, and its git config can name programs that git would start for
us: hooks (`core.hooksPath`, `.git/hooks/post-checkout`, `pre-commit`…), clean/smudge filters
(`filter.<driver>.*`, on the files `.gitattributes` marks) and an fsmonitor daemon. A hook that
hangs would hang `bump`; a formatter hook or a filter would rewrite vendored upstream files and
break their tree checksum. So every git process chartkeeper starts (gitpython's runner and its
helper processes alike) gets, through `GIT_CONFIG_COUNT` (git 2.31+), which outranks every config
file: `core.hooksPath` pointing at an empty folder of this run, `core.fsmonitor=false`, and every
filter driver the config defines emptied and not required. The user's identity, signing and
credential helpers are kept: they are the user's, not the repository's.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from chartkeeper.fsutil import run_tempdir


def _hooks_folder() -> Path:
    folder = run_tempdir() / "no-hooks"
    folder.mkdir(exist_ok=True)
    return folder


def filter_drivers(cwd: Path) -> list[str]:
    """The filter drivers git's config defines for the repository at `cwd` (every level, includes too)."""
    try:
        proc = subprocess.run(
            ["git", "config", "--name-only", "--get-regexp", r"^filter\..*\.(clean|smudge|process|required)$"],
            cwd=cwd, capture_output=True, text=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []  # no git (the command that needs it says so) or a config git cannot read
    names = {line.rpartition(".")[0].partition(".")[2] for line in proc.stdout.splitlines() if line.count(".") >= 2}
    return sorted(n for n in names if n)


def config_env(cwd: Path) -> dict[str, str]:
    """The environment variables that switch the repository's programs off for git run at `cwd`."""
    pairs = [("core.hooksPath", str(_hooks_folder())), ("core.fsmonitor", "false")]
    for driver in filter_drivers(cwd):
        pairs += [(f"filter.{driver}.{key}", "") for key in ("clean", "smudge", "process")]
        pairs.append((f"filter.{driver}.required", "false"))
    # after the entries the environment gives already (CI sets `safe.directory` this way): those are kept
    try:
        given = max(0, int(os.environ.get("GIT_CONFIG_COUNT") or 0))
    except ValueError:
        given = 0
    env = {"GIT_CONFIG_COUNT": str(given + len(pairs))}
    for i, (key, value) in enumerate(pairs, start=given):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env
