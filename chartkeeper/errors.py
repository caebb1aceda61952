"""One error type for everything a user can cause or fix, and the exit codes it maps to.

Commands raise `ChartkeeperError` (or a subclass) with a message that is ready to print;
the CLI prints it on one line and exits with its code. Anything else is a bug: the CLI
prints a short hint and exits with `EXIT_BUG`.
"""

from __future__ import annotations

import errno
import os

# Documented in README.md ("Exit codes"); keep the two in step.
EXIT_OK = 0
EXIT_FINDINGS = 1  # updates available (--fail-on-update), drift, lint findings, findings over --fail-on
EXIT_ERROR = 2  # bad input, unreachable/lying upstream, invalid lock, refused operation
EXIT_BUG = 3  # an unexpected exception inside chartkeeper
EXIT_INTERRUPTED = 130  # Ctrl-C


class ChartkeeperError(Exception):
    """A failure the user can act on. `str(err)` is the whole message."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(ChartkeeperError):
    """A file the user owns (lock, helmfile, values, patch, chart) is malformed."""


class SourceError(ChartkeeperError):
    """An upstream repository or registry failed, refused or lied."""


class IntegrityError(ChartkeeperError):
    """Bytes do not match what was published or pinned (digest, tree checksum, hostile archive)."""


class RefusedError(ChartkeeperError):
    """A precondition is not met (dirty tree, drift, downgrade, concurrent run)."""


class DiskFullError(ChartkeeperError):
    """The file system refused a write for lack of space (or quota). The message names the path."""


#: errno values that mean "the disk is full" to the user, whatever the file system calls it
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
NO_SPACE_HINT = "free space on that file system, then run the same command again"


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS


def disk_full(path: "str | os.PathLike[str] | None", doing: str = "", *, hint: str | None = NO_SPACE_HINT) -> DiskFullError:
    """"no space left on <path> (<doing>)": the path tells which file system filled up."""
    where = f"no space left on {os.fspath(path)}" if path else "no space left on the device"
    return DiskFullError(where + (f" ({doing})" if doing else ""), hint=hint)


def unnamed(name: str, message: str) -> str:
    """`message` without a leading `<name>: `: errors raised deep down (staging, the swap) often
    name their chart already, and a caller that prefixes the name again would print
    "gpu-operator: gpu-operator: ..."."""
    prefix = f"{name}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def about(name: str, message: str) -> str:
    """`<name>: <message>`, naming the chart exactly once."""
    return f"{name}: {unnamed(name, message)}"
