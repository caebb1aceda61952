"""Write a downloaded archive next to its destination, verify it, then swap it in."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Callable

from chartkeeper.errors import IntegrityError, disk_full, is_disk_full
from chartkeeper.fsutil import atomic_file, sha256_of


def staged_write(dest: Path, expected: str | None, write: Callable[[BinaryIO], str | None], what: str) -> str:
    """Call `write(fh)` on a temp file beside `dest`; check the sha256; os.replace into `dest`.

    `write` may return the digest it computed while writing (saves a second read). On a
    mismatch with `expected` an IntegrityError names both digests and no file is left behind.
    Archives are fsynced before the swap and readable by everyone (0644), like Helm's.
    """
    try:
        with atomic_file(Path(dest), mode=0o644, fsync=True) as fh:
            got = write(fh)
            if got is None:
                fh.flush()
                got = sha256_of(fh)
            if expected is not None and got != expected:
                raise IntegrityError(f"{what}: digest mismatch: the source publishes {expected}, the archive is {got}")
    except OSError as exc:
        if is_disk_full(exc):  # the disk, not the source: no retry, and the path says which disk
            raise disk_full(dest, f"downloading {what}") from None
        raise
    return got
