"""One chartkeeper process at a time per deployment: an fcntl lock next to versions.lock.

Commands that write the lock or the vendored folders (`add`, `sync`, `import`, `bump`) hold
`run_lock(settings)` for their whole run. A second process waits a little (a quick `check`
or an almost-finished sync should not make it fail) and then refuses with a clear message.
The file exists only while a process holds it: the holder unlinks it before letting go, and
a process that then finds it locked a dead inode starts over, so two processes can never
hold "the" lock on two different files. The kernel drops the lock when the holder exits,
even on SIGKILL, so a crashed run never blocks the next one (it only leaves an empty file).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from chartkeeper.errors import RefusedError

if TYPE_CHECKING:
    from chartkeeper.settings import Settings

LOCK_NAME = ".chartkeeper.lock"
DEFAULT_WAIT = 5.0


def lock_path_for(settings: "Settings") -> Path:
    return settings.lock_file.parent / LOCK_NAME


@contextmanager
def hold(path: Path, *, wait: float = DEFAULT_WAIT, what: str = "chartkeeper") -> Iterator[Path]:
    """Hold an exclusive lock on `path` for the `with` block; the file exists only while held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _acquire(fd, path, deadline, what)
            # The holder before us may have unlinked the file between our open and our lock:
            # then we hold a lock on a dead inode and must start over on the live path.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)
    try:
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # who holds it, for the next process's message
        except OSError as exc:  # a full disk: name the file, as every other failed write does
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        yield path
    finally:
        # Unlink while still holding the lock, so no run leaves a file behind; waiters notice
        # the dead inode (above) and retry.
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.close(fd)


def _acquire(fd: int, path: Path, deadline: float, what: str) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            if time.monotonic() >= deadline:
                raise RefusedError(
                    f"another {what} process{_holder(fd)} is working on this deployment ({path.name} is locked)",
                    hint="wait for it to finish and run the command again",
                ) from None
            time.sleep(0.1)


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


@contextmanager
def run_lock(settings: "Settings", *, wait: float = DEFAULT_WAIT) -> Iterator[Path]:
    """The deployment-wide lock every writing command holds (CHARTKEEPER_LOCK_WAIT overrides the wait)."""
    env = os.environ.get("CHARTKEEPER_LOCK_WAIT")
    if env:
        try:
            wait = float(env)
        except ValueError:
            pass
    path = lock_path_for(settings)
    ignore_in_git(path.parent)
    with hold(path, wait=wait) as p:
        yield p


# What a writing run may leave next to versions.lock while it works (or after a SIGKILL, until
# the next run): its lock file, staging folders, and the temp file of an atomic write (the lock,
# a `.treesums/` manifest: `.<name>.<pid>-<8 random>.tmp`, see fsutil). `git status` should never
# show them.
RUN_FILE_PATTERNS = (LOCK_NAME, ".chartkeeper-staging-*", ".chartkeeper-bump-*", ".*.[0-9]*-????????.tmp")


def ignore_in_git(folder: Path) -> None:
    """List RUN_FILE_PATTERNS once in the repository's `info/exclude` (git's own, never committed,
    so no tracked file of the user changes). Best effort: a read-only `.git` only costs the hiding."""
    git_dir = _git_common_dir(folder)
    if git_dir is None:
        return
    exclude = git_dir / "info" / "exclude"
    try:
        text = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
        missing = [p for p in RUN_FILE_PATTERNS if p not in text.splitlines()]
        if not missing:
            return
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with open(exclude, "a", encoding="utf-8") as f:
            f.write(("" if not text or text.endswith("\n") else "\n")
                    + "# chartkeeper: run lock and staging folders of a running (or killed) run\n"
                    + "".join(f"{p}\n" for p in missing))
    except OSError:
        pass


def _git_common_dir(folder: Path) -> Path | None:
    """The `.git` folder shared by every worktree of the repository holding `folder`, if any."""
    for d in (folder.resolve(), *folder.resolve().parents):
        dot = d / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():  # a linked worktree or submodule: `gitdir: <path>`, then its `commondir`
            try:
                line = dot.read_text(encoding="utf-8").strip()
            except OSError:
                return None
            if not line.startswith("gitdir:"):
                return None
            gd = (d / line[len("gitdir:"):].strip()).resolve()
            common = gd / "commondir"
            try:
                return (gd / common.read_text(encoding="utf-8").strip()).resolve() if common.is_file() else gd
            except OSError:
                return gd
    return None
