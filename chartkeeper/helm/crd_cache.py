"""A chart's CRD files, parsed once per content: the documents are kept under `<cache>/parsed/`.

CRD files are the biggest YAML a chart has (kube-prometheus-stack: ten files, 3.4 MB) and no
template touches them, so every command that renders OLD or NEW would parse the same bytes again:
about 0.2 s a side, more than Helm takes to render the whole chart. They are the chart's own
published bytes, never a value of ours, so keeping them parsed on disk keeps no secret.

An entry is named by the SHA-256 of the text and of what parsed it (PyYAML, this format), and holds
the documents in `marshal` form after the SHA-256 of those bytes: a damaged or foreign entry is
refused and the text parsed again. Documents a cache cannot hold (a YAML timestamp) are not kept.
The limits in force are checked on every read, as a parse checks them. Nothing here fails a run:
an unwritable cache costs the parse, no more. The folder keeps the entries read last, within
`MAX_BYTES`.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from chartkeeper import yamlio
from chartkeeper.fsutil import atomic_write_bytes

MIN_CHARS = 32 * 1024  # smaller files parse in a millisecond or two: not worth a file
MAX_BYTES = 256 * 1024 * 1024
_MAGIC = b"chartkeeper-parsed-yaml 1\n"
_SALT = f"{_MAGIC!r} pyyaml {yaml.__version__} {yamlio.LOADER} python {sys.version_info[:2]}\n".encode()

_folder: Path | None = None


def use(folder: Path | None) -> None:
    """Keep parsed CRD files in `folder` for the rest of the run (None: parse every time)."""
    global _folder
    _folder = Path(folder) if folder is not None else None


def loads_all(text: str, source: str) -> list[Any]:
    """`yamlio.loads_all(text, source)` for a chart's static CRD file, read from the cache when it
    holds this text."""
    folder = _folder
    if folder is None or len(text) < MIN_CHARS:
        return yamlio.loads_all(text, source)
    key = hashlib.sha256(_SALT + text.encode("utf-8", "surrogatepass")).hexdigest()
    entry = folder / key[:2] / key
    docs = _read(entry)
    if docs is not None:
        yamlio.check_loaded(text, docs, source)
        return docs
    docs = yamlio.loads_all(text, source)
    _write(folder, entry, docs)
    return docs


def _read(entry: Path) -> list[Any] | None:
    try:
        data = entry.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC)
    payload = data[head + 32:]
    if data[:head] != _MAGIC or hashlib.sha256(payload).digest() != data[head:head + 32]:
        return None
    try:
        docs = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    if not isinstance(docs, list):
        return None
    try:
        os.utime(entry)  # read last: kept longest
    except OSError:
        pass
    return docs


def _write(folder: Path, entry: Path, docs: list[Any]) -> None:
    try:
        payload = marshal.dumps(docs)
    except ValueError:  # a type marshal cannot hold (datetime): parse this one every time
        return
    try:
        atomic_write_bytes(entry, _MAGIC + hashlib.sha256(payload).digest() + payload, fsync=False, mode=None)
        _trim(folder)
    except OSError:
        pass


def _trim(folder: Path) -> None:
    """Remove the entries read longest ago while the folder holds more than MAX_BYTES."""
    entries = []
    for sub in os.scandir(folder):
        if sub.is_dir(follow_symlinks=False):
            for f in os.scandir(sub.path):
                if f.is_file(follow_symlinks=False):
                    st = f.stat(follow_symlinks=False)
                    entries.append((st.st_mtime, st.st_size, f.path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= MAX_BYTES:
            break
        try:
            os.unlink(path)
        except OSError:
            continue
        total -= size
