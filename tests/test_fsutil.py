"""fsutil: atomic writes keep each caller's durability and permissions, and what killed runs leave
behind (temp files, scratch folders) is swept by the next run without touching live runs' files."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chartkeeper import fsutil
from chartkeeper.errors import IntegrityError
from chartkeeper.sources.cache import IndexCache
from chartkeeper.sources.staging import staged_write

ROOT = Path(__file__).resolve().parent.parent


def _mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


def _python(code: str, **kw: object) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=60, **kw)


def test_atomic_write_text_new_file_is_0644_and_exact(tmp_path: Path) -> None:
    f = tmp_path / "sub" / "versions.lock"
    fsutil.atomic_write_text(f, "a: 1\r\nb: ü\n")
    assert f.read_bytes() == "a: 1\r\nb: ü\n".encode()
    assert _mode(f) == 0o644
    assert sorted(p.name for p in f.parent.iterdir()) == ["versions.lock"]


def test_atomic_write_text_keeps_the_mode_of_a_hand_edited_file(tmp_path: Path) -> None:
    f = tmp_path / "helmfile.yaml"
    f.write_text("old\n")
    f.chmod(0o600)
    fsutil.atomic_write_text(f, "new\n")
    assert f.read_text() == "new\n"
    assert _mode(f) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    f = tmp_path / "CHANGELOG.md"
    f.write_text("old\n")
    with pytest.raises(RuntimeError):
        with fsutil.atomic_file(f) as fh:
            fh.write(b"half")
            raise RuntimeError("boom")
    assert f.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["CHANGELOG.md"]


def test_private_cache_writes_stay_0600_in_0700_folders(tmp_path: Path) -> None:
    cache = IndexCache(tmp_path / "cache", "https://charts.example.invalid/index.yaml")
    cache.store(b"apiVersion: v1\nentries: {}\n", '"etag"', None)
    body = cache.dir / "index.yaml"
    assert body.read_bytes() == b"apiVersion: v1\nentries: {}\n"
    assert _mode(body) == 0o600 and _mode(cache.dir / "meta.json") == 0o600
    assert _mode(cache.dir) == 0o700


def test_staged_write_checks_the_digest_and_leaves_nothing_on_a_mismatch(tmp_path: Path) -> None:
    data = b"chart archive bytes"
    good = "sha256:" + hashlib.sha256(data).hexdigest()
    dest = tmp_path / "dl" / "chart-1.0.0.tgz"
    with pytest.raises(IntegrityError, match="digest mismatch"):
        staged_write(dest, "sha256:" + "0" * 64, lambda fh: fh.write(data) and None, "chart 1.0.0")
    assert list(dest.parent.iterdir()) == []
    # no digest from the writer: the file is hashed after writing
    assert staged_write(dest, good, lambda fh: fh.write(data) and None, "chart 1.0.0") == good
    assert dest.read_bytes() == data and _mode(dest) == 0o644
    assert [p.name for p in dest.parent.iterdir()] == ["chart-1.0.0.tgz"]


def test_a_killed_write_leaves_a_temp_file_the_next_sweep_removes(tmp_path: Path) -> None:
    target = tmp_path / "meta.json"
    proc = _python(f"""
        import os, signal
        from pathlib import Path
        from chartkeeper import fsutil
        with fsutil.atomic_file(Path({str(target)!r})) as fh:
            fh.write(b"half of it")
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (left,) = list(tmp_path.iterdir())
    assert fsutil.is_temp_file(left.name) and not target.exists()
    # a live writer's temp file (the pid of a running process) and a stranger's file stay
    with subprocess.Popen(["sleep", "30"]) as live:
        try:
            live_tmp = tmp_path / f".index.yaml.{live.pid}-abcd1234.tmp"
            live_tmp.write_text("being written")
            (tmp_path / "notes.tmp").write_text("not ours")
            assert fsutil.sweep_temp_files(tmp_path) == [left]
            assert live_tmp.exists() and (tmp_path / "notes.tmp").exists()
            # an older version's mkstemp name carries no pid: only a run-lock holder removes it
            legacy = tmp_path / ".versions.lock.k1ll3d00.tmp"
            legacy.write_text("x")
            assert fsutil.sweep_temp_files(tmp_path) == []
            assert fsutil.sweep_temp_files(tmp_path, all_writers=True) == [live_tmp, legacy]
            assert (tmp_path / "notes.tmp").exists()
        finally:
            live.kill()


def test_index_cache_sweeps_what_a_killed_run_left(tmp_path: Path) -> None:
    cache = IndexCache(tmp_path / "cache", "https://charts.example.invalid/index.yaml")
    cache.store(b"entries: {}\n", None, None)
    dead = _dead_pid()
    stale = cache.dir / f".index.yaml.{dead}-zzzz9999.tmp"
    stale.write_text("half")
    cache.store(b"entries: {a: []}\n", None, None)
    assert not stale.exists()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_run_tempdir_is_one_folder_per_run_removed_at_exit(tmp_path: Path) -> None:
    proc = _python(f"""
        from pathlib import Path
        from chartkeeper import fsutil
        a = fsutil.run_tempdir(Path({str(tmp_path)!r}))
        assert fsutil.run_tempdir(Path({str(tmp_path)!r})) == a
        with fsutil.temp_folder("diff-", Path({str(tmp_path)!r})) as t:
            assert t.parent == a and t.is_dir() and t.name.startswith("diff-")
            (t / "x").write_text("x")
        assert not t.exists()
        print(a)
    """)
    assert proc.returncode == 0, proc.stderr
    used = Path(proc.stdout.strip())
    assert used.parent == tmp_path / "tmp" and used.name.startswith("run-")
    assert not used.exists()  # removed when the process exited


def test_the_next_run_sweeps_the_folders_of_killed_runs_only(tmp_path: Path) -> None:
    proc = _python(f"""
        import os, signal
        from pathlib import Path
        from chartkeeper import fsutil
        with fsutil.temp_folder("kustomize-", Path({str(tmp_path)!r})) as t:
            (t / "rendered.yaml").write_text("kind: ConfigMap")
            print(t.parent, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert proc.returncode == -signal.SIGKILL
    killed = Path(proc.stdout.strip())
    assert (killed / next(iter(os.listdir(killed))) / "rendered.yaml").exists()
    runs = tmp_path / "tmp"
    host = fsutil._host()
    with subprocess.Popen(["sleep", "30"]) as live:
        try:
            alive = runs / f"run-{host}-{live.pid}-abcd1234"
            alive.mkdir()
            elsewhere = runs / f"run-otherhost-{_dead_pid()}-abcd1234"
            elsewhere.mkdir()
            mine = fsutil.run_tempdir(tmp_path)
            assert not killed.exists()
            assert alive.is_dir() and elsewhere.is_dir() and mine.is_dir()
        finally:
            live.kill()
