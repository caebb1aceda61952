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

What the cache does not hold yet, when it is megabytes (a new chart version), is parsed by a second
Python process (`python -c … serve()`): parsing holds the GIL, so on a thread it would take turns with
the analysis; in a process of its own it runs on another core while the analysis goes on. Whatever the
worker cannot do (no interpreter to start, a document past its default limits, a crash) is parsed
here, so errors read as they always have.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import yaml

from chartkeeper import yamlio
from chartkeeper.fsutil import atomic_write_bytes

MIN_CHARS = 32 * 1024  # smaller files parse in a millisecond or two: not worth a file
WORKER_CHARS = 1024 * 1024  # below this much to parse, starting a process costs more than it saves
WORKER_SECONDS = 120.0
MAX_BYTES = 256 * 1024 * 1024
_MAGIC = b"chartkeeper-parsed-yaml 1\n"
_SALT = f"{_MAGIC!r} pyyaml {yaml.__version__} {yamlio.LOADER} python {sys.version_info[:2]}\n".encode()

_folder: Path | None = None


def use(folder: Path | None) -> None:
    """Keep parsed CRD files in `folder` for the rest of the run (None: parse every time)."""
    global _folder
    _folder = Path(folder) if folder is not None else None


def loads_all(text: str, source: str) -> list[Any]:
    """`yamlio.loads_all(text, source)` for one static CRD file, read from the cache when it holds it."""
    return load_files([(source, text)])[0]


def load_files(files: list[tuple[str, str]]) -> list[list[Any]]:
    """The documents of each CRD file (source name, text), in order: from the cache, else parsed. Errors
    are those of `yamlio.loads_all` on the files one after the other (the first bad file's)."""
    folder = _folder
    entries = [_entry(folder, text) if folder is not None else None for _, text in files]
    kept = [_read(e) if e is not None else None for e in entries]
    payloads = list(kept)
    for i, (_, text) in enumerate(files):
        early = _ahead.pop(text, None) if payloads[i] is None else None
        if early is not None:
            payloads[i] = early.result()
    todo = [i for i, (_, text) in enumerate(files) if payloads[i] is None and len(text) >= MIN_CHARS]
    if sum(len(files[i][1]) for i in todo) >= WORKER_CHARS:
        for i, payload in zip(todo, _parse_elsewhere([files[i][1] for i in todo]).result()):
            payloads[i] = payload
    out = []
    for (source, text), entry, payload, was_kept in zip(files, entries, payloads, kept):
        docs = _documents(payload) if payload is not None else None
        if docs is None:
            docs = yamlio.loads_all(text, source)
            payload, was_kept = _dumps(docs), None  # what a kept entry held did not load: replace it
        else:
            yamlio.check_loaded(text, docs, source)
        if entry is not None and was_kept is None and payload is not None:
            _write(folder, entry, payload)  # type: ignore[arg-type]
        out.append(docs)
    return out


def _entry(folder: Path, text: str) -> Path | None:
    if len(text) < MIN_CHARS:
        return None
    key = hashlib.sha256(_SALT + text.encode("utf-8", "surrogatepass")).hexdigest()
    return folder / key[:2] / key


def _documents(payload: bytes) -> list[Any] | None:
    try:
        docs = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    return docs if isinstance(docs, list) else None


def _read(entry: Path) -> bytes | None:
    """The payload of an entry whose bytes hash as they say."""
    try:
        data = entry.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC)
    payload = data[head + 32:]
    if data[:head] != _MAGIC or hashlib.sha256(payload).digest() != data[head:head + 32]:
        return None
    try:
        os.utime(entry)  # read last: kept longest
    except OSError:
        pass
    return payload


def _dumps(docs: list[Any]) -> bytes | None:
    try:
        return marshal.dumps(docs)
    except ValueError:  # a type marshal cannot hold (datetime): parse this one every time
        return None


def _write(folder: Path, entry: Path, payload: bytes) -> None:
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


# -- the worker process ---------------------------------------------------------------------------


_ahead: dict[str, Future[bytes | None]] = {}  # a CRD file's text -> its payload, from a worker started early


def parse_ahead(texts: list[str]) -> None:
    """Start a worker now on the texts the cache does not hold, for a `load_files` to come (`diff` and `bump`
    start one on OLD's CRD files before they download NEW)."""
    folder = _folder
    todo = [t for t in dict.fromkeys(texts) if len(t) >= MIN_CHARS and t not in _ahead  # held: `load_files` checks it
            and (folder is None or not _entry(folder, t).is_file())]  # type: ignore[union-attr]
    if sum(map(len, todo)) < WORKER_CHARS:
        return
    whole = _parse_elsewhere(todo)
    for i, text in enumerate(todo):
        one: Future[bytes | None] = Future()
        _ahead[text] = one
        whole.add_done_callback(lambda w, i=i, one=one: one.set_result(w.result()[i]))


def _parse_elsewhere(texts: list[str]) -> Future[list[bytes | None]]:
    """Each text's documents in marshal form, parsed by a second interpreter that starts now (None where it
    could not: the caller parses those itself)."""
    done: Future[list[bytes | None]] = Future()
    nothing: list[bytes | None] = [None] * len(texts)
    package_root = str(Path(__file__).resolve().parents[2])  # the worker imports this very chartkeeper
    code = f"import sys; sys.path.insert(0, {package_root!r}); from chartkeeper.helm.crd_cache import serve; serve()"
    try:
        if not sys.executable:
            raise OSError("no interpreter to start")
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
    except OSError:
        done.set_result(nothing)
        return done

    def talk() -> None:  # waits on pipes: holds no GIL while the worker parses
        try:
            out, _ = proc.communicate(marshal.dumps(texts), timeout=WORKER_SECONDS)
            answer = marshal.loads(out) if proc.returncode == 0 else None
        except (OSError, subprocess.SubprocessError, ValueError, EOFError, TypeError):
            proc.kill()
            answer = None
        ok = isinstance(answer, list) and len(answer) == len(texts) and \
            all(a is None or isinstance(a, bytes) for a in answer)
        done.set_result(answer if ok else nothing)  # type: ignore[arg-type]

    threading.Thread(target=talk, name="crd-parse-worker", daemon=True).start()
    return done


def serve() -> None:
    """The worker: texts (marshal) on stdin, each one's documents (marshal bytes, or None) on stdout."""
    texts = marshal.loads(sys.stdin.buffer.read())
    out: list[bytes | None] = []
    for text in texts:
        try:
            out.append(marshal.dumps(yamlio.loads_all(text)))
        except Exception:  # left to the caller, who names the file in its error
            out.append(None)
    sys.stdout.buffer.write(marshal.dumps(out))
