"""Files written whole or not at all, and scratch folders that outlive no run.

Atomic writes: the bytes go to a temp file in the destination's folder (same file system, so
`os.replace` is atomic), named `.<name>.<pid>-<random>.tmp`; readers see the old file or the
new one, never half of one. A write killed before its replace leaves that temp file behind;
`sweep_temp_files` removes the ones whose writer is gone (the pid in the name says who).

Scratch folders: every run gets one folder under `<cache>/tmp/` (`run_tempdir`), named after the
host and pid, removed when the process exits; `temp_folder` makes a fresh folder inside it for
one piece of work, and the tools we run get it as their TMPDIR (`scratch_env`). A run that was
killed cannot remove its folder, so the next run (every command, first thing) removes the
folders of this host's runs whose process is no longer alive. Nothing lands in the system temp
folder, where nobody would ever clean it.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import socket
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

TEMP_SUFFIX = ".tmp"
# `.<name>.<pid>-<8 random>.tmp` (this module), or `.<name>.<8 random>.tmp` (mkstemp, older versions)
_TEMP_FILE_RE = re.compile(r"^\.(?P<name>.+)\.(?:(?P<pid>\d+)-)?[A-Za-z0-9_]{8}\.tmp$")


def default_cache_dir() -> Path:
    """`$CHARTKEEPER_CACHE_DIR`, else `$XDG_CACHE_HOME/chartkeeper`, else `~/.cache/chartkeeper`."""
    if os.environ.get("CHARTKEEPER_CACHE_DIR"):
        return Path(os.environ["CHARTKEEPER_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chartkeeper"


def pid_alive(pid: int) -> bool:
    """Is process `pid` running on this host? (A pid reused since only delays a clean-up.)"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except OSError:
        return False
    return True


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the file system holding `path` (or the
    nearest folder above it that exists); None when the system cannot tell."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        st = os.statvfs(p)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return None
    return st.f_bavail * st.f_frsize


class _CopyFailed(Exception):
    def __init__(self, error: OSError) -> None:
        self.error = error


def copy_tree(src: Path, dst: Path) -> None:
    """`shutil.copytree(src, dst, symlinks=True)`, except that the first file that cannot be
    copied raises its own OSError (its errno, and the destination as its file name), where
    copytree would go on and raise one `shutil.Error` holding only the texts of every failure:
    a full disk must read "no space left on <file>", not a list of tuples."""

    def copy(s: str, d: str) -> object:
        try:
            return shutil.copy2(s, d)
        except OSError as exc:
            raise _CopyFailed(OSError(exc.errno, exc.strerror, d) if exc.errno is not None else exc) from None

    try:
        shutil.copytree(src, dst, symlinks=True, copy_function=copy)
    except _CopyFailed as failed:
        raise failed.error from None


# -- atomic writes -------------------------------------------------------------------------------


@contextmanager
def atomic_file(
    path: Path,
    *,
    mode: int | None = 0o644,
    keep_mode: bool = False,
    fsync: bool = True,
    dir_mode: int | None = None,
) -> Iterator[BinaryIO]:
    """Yield a binary file (open for writing and reading) that becomes `path` when the block ends.

    `mode`: the new file's permissions (None keeps mkstemp's 0600, for private caches);
    `keep_mode`: an existing `path` keeps its permissions; `fsync`: the bytes reach the disk before
    the swap (a crash then leaves the old file or the new one, never an empty one); `dir_mode`:
    permissions of parent folders this creates. An exception in the block removes the temp file
    and leaves `path` as it was.
    """
    path = Path(path)
    if dir_mode is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w+b") as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        if keep_mode and path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        elif mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:
            # a failed write() names no file; the user needs to know which one (and so which disk)
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def resolves_inside(path: Path, root: Path) -> bool:
    """Would writing `path` (making its missing folders) stay inside `root`, symlinks followed?"""
    probe = path
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        probe = probe.parent
    return probe.resolve().is_relative_to(root.resolve())


def path_outside(search_path: str, root: Path) -> str:
    """`search_path` (a PATH value) without the folders inside `root`: a tool committed in the
    repository (`.tools/bin/helm`, `bin/kubectl`) is the repository's code, never run as ours."""
    real_root = root.resolve()
    keep = [d for d in search_path.split(os.pathsep) if d and not Path(d).resolve().is_relative_to(real_root)]
    return os.pathsep.join(keep)


def atomic_write_bytes(path: Path, data: bytes, **options: object) -> None:
    """Write `data` to `path` atomically; `options` as for `atomic_file`."""
    with atomic_file(path, **options) as fh:  # type: ignore[arg-type]
        fh.write(data)


def atomic_write_text(path: Path, text: str, *, keep_mode: bool = True, **options: object) -> None:
    """Write `text` (UTF-8, newlines as given) to `path` atomically and durably.

    Hand-edited files (the lock, helmfiles, CHANGELOG.md) keep the permissions they had; new ones
    get 0644.
    """
    atomic_write_bytes(path, text.encode("utf-8"), keep_mode=keep_mode, **options)


def sha256_of(fh: BinaryIO) -> str:
    """`sha256:<hex>` of everything in `fh` (read from the start)."""
    fh.seek(0)
    h = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        h.update(chunk)
    return "sha256:" + h.hexdigest()


def _matching(folder: Path, pattern: re.Pattern[str]) -> Iterator[tuple[str, re.Match[str]]]:
    """(name, match) of the entries of `folder` whose name matches `pattern`, sorted; none if unreadable."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return
    for name in names:
        m = pattern.match(name)
        if m is not None:
            yield name, m


def is_temp_file(name: str) -> bool:
    """Is `name` the temp file of an atomic write (this version's or an older one's)?"""
    return _TEMP_FILE_RE.match(name) is not None


def sweep_temp_files(folder: Path, *, all_writers: bool = False) -> list[Path]:
    """Remove the temp files atomic writes left in `folder` when their process was killed.

    By default only files whose writer (the pid in the name) is dead go: safe while other runs
    write there. `all_writers=True` removes every one, older versions' unnamed ones included:
    only for a caller that holds the run lock of that folder.
    """
    removed: list[Path] = []
    for name, m in _matching(folder, _TEMP_FILE_RE):
        pid = m.group("pid")
        if not all_writers and (pid is None or int(pid) == os.getpid() or pid_alive(int(pid))):
            continue
        p = Path(folder) / name
        if p.is_file() and not p.is_symlink():
            try:
                p.unlink()
            except FileNotFoundError:
                continue
            removed.append(p)
    return removed


# -- scratch folders -----------------------------------------------------------------------------

RUNS_FOLDER = "tmp"
_RUN_RE = re.compile(r"^run-(?P<host>.+)-(?P<pid>\d+)-[A-Za-z0-9_]{8}$")
_runs: dict[Path, Path] = {}
_runs_lock = threading.Lock()


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname() or "host")[:63]


def _runs_parent(cache_dir: Path | None) -> Path:
    return Path(cache_dir if cache_dir is not None else default_cache_dir()) / RUNS_FOLDER


def run_tempdir(cache_dir: Path | None = None) -> Path:
    """This process's scratch folder, `<cache>/tmp/run-<host>-<pid>-<random>/`, made on first use.

    Making it removes the folders of this host's earlier runs whose process is gone (killed
    runs); the folder itself is removed when the process exits. When the cache cannot be
    written, a folder in the system temp folder stands in (removed at exit all the same).
    """
    parent = _runs_parent(cache_dir)
    with _runs_lock:
        folder = _runs.get(parent)
        if folder is not None and folder.is_dir():
            return folder
        try:
            parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            sweep_dead_runs(parent)
            folder = Path(tempfile.mkdtemp(prefix=f"run-{_host()}-{os.getpid()}-", dir=parent))
        except OSError:
            folder = Path(tempfile.mkdtemp(prefix=f"chartkeeper-run-{os.getpid()}-"))
        _runs[parent] = folder
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        return folder


def sweep_dead_runs(parent: Path) -> list[Path]:
    """Remove the run folders in `parent` of this host's processes that are no longer alive."""
    removed: list[Path] = []
    host = _host()
    for name, m in _matching(parent, _RUN_RE):
        if m.group("host") != host:
            continue  # another machine's run (a shared cache): its pids mean nothing here
        pid = int(m.group("pid"))
        if pid == os.getpid() or pid_alive(pid):
            continue
        shutil.rmtree(parent / name, ignore_errors=True)
        removed.append(parent / name)
    return removed


def scratch_env(env: dict[str, str] | None = None, cache_dir: Path | None = None) -> dict[str, str]:
    """The environment for a tool we run (helmfile, helm, kustomize): `env` (default: ours) with
    TMPDIR (and TMP, TEMP) set to this run's scratch folder, so whatever the tool leaves behind
    when we are killed mid-run is swept with that folder instead of piling up in /tmp."""
    out = dict(os.environ if env is None else env)
    folder = str(run_tempdir(cache_dir))
    out.update(TMPDIR=folder, TMP=folder, TEMP=folder)
    return out


def sweep_killed_runs(cache_dir: Path | None = None) -> list[Path]:
    """What every command does first: remove the scratch folders of this host's killed runs."""
    return sweep_dead_runs(_runs_parent(cache_dir))


@contextmanager
def temp_folder(prefix: str, cache_dir: Path | None = None) -> Iterator[Path]:
    """A fresh empty folder inside this run's scratch folder, removed when the block ends."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=run_tempdir(cache_dir)))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
