"""Write a downloaded archive next to its destination, verify it, then swap it in."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from chartkeeper.errors import IntegrityError


def staged_write(dest: Path, expected: str | None, write: Callable[[BinaryIO], str | None], what: str) -> str:
    """Call `write(fh)` on a temp file beside `dest`; check the sha256; os.replace into `dest`.

    `write` may return the digest it computed while writing (saves a second read). On a
    mismatch with `expected` an IntegrityError names both digests and no file is left behind.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    try:
        with os.fdopen(fd, "w+b") as fh:
            got = write(fh)
            fh.flush()
            if got is None:
                fh.seek(0)
                h = hashlib.sha256()
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
                got = "sha256:" + h.hexdigest()
            os.fsync(fh.fileno())
        if expected is not None and got != expected:
            raise IntegrityError(f"{what}: digest mismatch: the source publishes {expected}, the archive is {got}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
        return got
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
