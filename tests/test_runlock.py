from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from chartkeeper.errors import RefusedError
from chartkeeper.runlock import hold

HOLDER = """
import sys, time
from pathlib import Path
from chartkeeper.runlock import hold
with hold(Path(sys.argv[1]), wait=0):
    print("held", flush=True)
    time.sleep(30)
"""


def test_second_process_waits_then_refuses_and_lock_dies_with_holder(tmp_path: Path) -> None:
    lock = tmp_path / ".chartkeeper.lock"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        with pytest.raises(RefusedError) as exc:
            with hold(lock, wait=0.5):
                pass
        assert time.monotonic() - t0 >= 0.45
        assert "another chartkeeper process" in str(exc.value) and f"pid {proc.pid}" in str(exc.value)
    finally:
        proc.kill()
        proc.wait()
    with hold(lock, wait=2):  # SIGKILL released it
        pass


def test_many_processes_serialise_and_leave_no_file(tmp_path: Path) -> None:
    lock = tmp_path / ".chartkeeper.lock"
    log = tmp_path / "log"
    code = f"""
import os, sys, time
from pathlib import Path
from chartkeeper.runlock import hold
with hold(Path({str(lock)!r}), wait=30):
    with open({str(log)!r}, "a") as fh:
        fh.write("in\\n"); fh.flush(); time.sleep(0.05); fh.write("out\\n")
"""
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(6)]
    assert [p.wait(60) for p in procs] == [0] * 6
    assert log.read_text() == "in\nout\n" * 6  # never interleaved
    assert not lock.exists()


def test_sync_refuses_while_another_process_holds_the_deployment(tmp_path: Path) -> None:
    from tests.support.harness import assert_clean_failure, run_cli

    ext = tmp_path / "helmfile" / "charts" / "external"
    ext.mkdir(parents=True)
    (ext / "versions.lock").write_text("version: 1\ncharts: []\n")
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(ext / ".chartkeeper.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        for args in (["sync"], ["add", "x", "--repo", "http://127.0.0.1:9", "--version", "1.0.0"], ["import"]):
            res = run_cli(args, cwd=tmp_path, env={"CHARTKEEPER_LOCK_WAIT": "0.3"})
            assert_clean_failure(res, "another chartkeeper process", f"pid {proc.pid}")
    finally:
        proc.kill()
        proc.wait()
    assert run_cli(["sync"], cwd=tmp_path).returncode == 0


def test_what_a_killed_run_leaves_is_hidden_from_git_status(tmp_path: Path) -> None:
    from chartkeeper.fsutil import is_temp_file
    from chartkeeper.runlock import LOCK_NAME, ignore_in_git

    repo = tmp_path / "repo"
    ext = repo / "helmfile" / "charts" / "external"
    (ext / ".treesums").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    ignore_in_git(ext)
    ignore_in_git(ext)  # once is enough: no second block
    exclude = (repo / ".git" / "info" / "exclude").read_text()
    assert exclude.count("# chartkeeper:") == 1
    left = [ext / LOCK_NAME, ext / ".chartkeeper-staging-ab12cd34" / "x", ext / ".versions.lock.4242-a_b3Xy9z.tmp",
            ext / ".treesums" / ".demo.sums.22940-f3r_avmr.tmp"]
    for f in left:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("x")
    assert all(is_temp_file(f.name) for f in left[2:])  # the names fsutil really makes
    mine = [ext / "notes.tmp", ext / ".draft.tmp", ext / "demo-1.0.0" / "values.yaml"]
    for f in mine:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("x")
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo,
                            capture_output=True, text=True, check=True).stdout
    shown = sorted(line[3:] for line in status.splitlines())
    assert shown == sorted(str(f.relative_to(repo)) for f in mine)
