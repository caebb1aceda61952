"""One file to carry across the air gap: vendored charts repackaged, an index.yaml, the lock.

Layout inside OUT.tgz (a single top folder, so it unpacks like any archive):

    chartkeeper-bundle/
      index.yaml                 a Helm repository index of the archives below
      versions.lock              the lock the charts were vendored from
      charts/<chart>-<version>.tgz
      images/                    with `bundle --images`: an OCI image layout (chartkeeper.images.layout),
      images.json                the images in it, each with its digest and size, and what it was made from
      images.txt                 the image list, one reference per line

Each archive is the *vendored* tree (subcharts unpacked, repositories `file://charts/...`),
packed deterministically: sorted members, fixed mtime, owner 0, modes 0644/0755. Unpacked,
it checksums to the lock's `treeChecksum`, which is what `sync --from BUNDLE` checks (its
archive digest differs from upstream's; the index records the upstream digest and tree
checksum as annotations). Read back as a local source: `file://<folder>` or `--from OUT.tgz`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import queue
import shutil
import stat
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from chartkeeper import yamlio
from chartkeeper.errors import InputError, RefusedError
from chartkeeper.lockfile import Lock, LockEntry, render_lock
from chartkeeper.vendoring.unpack import STAGING_PREFIX

BUNDLE_TOP = "chartkeeper-bundle"
FIXED_MTIME = 315532800  # 1980-01-01: deterministic archives, and old enough for every tool


def _tarinfo(name: str, *, size: int = 0, mode: int = 0o644, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mode = mode
    ti.type = kind
    ti.linkname = link
    ti.mtime = FIXED_MTIME
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti


def _walk_sorted(folder: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath)
        links = [d for d in dirnames if (base / d).is_symlink()]
        dirnames[:] = sorted(d for d in dirnames if d not in links)
        for n in sorted(filenames + links):
            yield base / n


def pack_tree(folder: Path, top: str, out: io.BufferedIOBase | Any, compresslevel: int = 9) -> None:
    """Write a deterministic .tgz of `folder` with the single top folder `top` to `out`."""
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=FIXED_MTIME, compresslevel=compresslevel) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.copybufsize = 1 << 20  # image layers: 16 KiB copies would cost more than the copying
            paths = sorted(_walk_sorted(folder), key=lambda p: p.relative_to(folder).as_posix().encode("utf-8", "surrogateescape"))
            for p in paths:
                rel = p.relative_to(folder).as_posix()
                st = p.lstat()
                name = f"{top}/{rel}"
                if stat.S_ISLNK(st.st_mode):
                    tar.addfile(_tarinfo(name, kind=tarfile.SYMTYPE, link=os.readlink(p), mode=0o777))
                elif stat.S_ISREG(st.st_mode):
                    mode = 0o755 if st.st_mode & 0o111 else 0o644
                    with open(p, "rb") as fh:
                        tar.addfile(_tarinfo(name, size=st.st_size, mode=mode), fh)


class _HashingWriter(io.RawIOBase):
    """The bundle's bytes into `fh`, hashed on the way (its digest without a second read of gigabytes).

    The hashing and the writing run on a thread of their own, a few chunks behind the packing: hashlib and
    file writes let go of the GIL, so gzip's CRC and copying go on meanwhile (1 GB of image layers packed in
    1.25 s instead of 1.8 s). `finish` waits for the last chunk and raises what the thread met (a full disk)."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.sha256 = hashlib.sha256()
        self._todo: queue.Queue[bytes | None] = queue.Queue(maxsize=8)  # at most a few MB ahead of the disk
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="bundle-writer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while (chunk := self._todo.get()) is not None:
            if self._error is None:  # after a failure, only take the chunks off so the packing never waits
                try:
                    self.sha256.update(chunk)
                    self.fh.write(chunk)
                except BaseException as exc:
                    self._error = exc

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._error is not None:
            raise self._error
        chunk = data if isinstance(data, bytes) else bytes(data)  # the caller may reuse its buffer
        self._todo.put(chunk)
        return len(chunk)

    def finish(self) -> None:
        self._todo.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


def _sha256_hex(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_bundle(lock: Lock, entries: list[LockEntry], out_path: Path,
                 extra: Callable[[Path], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Write the bundle to `out_path` atomically; return a summary (charts, size).

    `extra(top)` adds to the bundle's folder before it is packed (`bundle --images` pulls the images
    there) and returns what it adds to the summary. Image layers are compressed already: a bundle with
    extra content is packed in gzip's stored blocks (level 0): deflating them again would cost more time
    than any other step and save nothing; the charts inside are archives compressed on their own."""
    names: dict[str, str] = {}
    for e in entries:
        fname = f"{e.chart}-{e.version}.tgz"
        if fname in names:
            raise InputError(f"bundle: {e.name} and {names[fname]} are both {e.chart} {e.version}; a bundle holds each once")
        names[fname] = e.name
    out_path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX + "bundle-", dir=out_path.parent))
    try:
        top = work / BUNDLE_TOP
        (top / "charts").mkdir(parents=True)
        index: dict[str, list[dict[str, Any]]] = {}
        for e in entries:
            folder = lock.folder_of(e)
            meta = yamlio.load_file(folder / "Chart.yaml")
            if not isinstance(meta, dict):
                raise RefusedError(f"bundle: {folder}/Chart.yaml is not a mapping")
            archive = top / "charts" / f"{e.chart}-{e.version}.tgz"
            with open(archive, "wb") as fh:
                pack_tree(folder, e.chart, fh)
            index.setdefault(e.chart, []).append(_index_entry_from(meta, e, archive, f"charts/{archive.name}"))
        doc = {"apiVersion": "v1", "entries": {k: index[k] for k in sorted(index)}, "generated": "1980-01-01T00:00:00Z"}
        (top / "index.yaml").write_text(yamlio.dumps(doc))
        sub = Lock(tuple(entries), lock.header, None)
        (top / "versions.lock").write_text(render_lock(sub))
        added = extra(top) if extra is not None else {}
        tmp_out = work / "bundle.tgz"
        with open(tmp_out, "wb") as fh:
            hashing = _HashingWriter(fh)  # the bundle's digest as it is written: not a second read of gigabytes
            try:
                pack_tree(top, BUNDLE_TOP, hashing, compresslevel=9 if extra is None else 0)
            finally:
                hashing.finish()
        os.replace(tmp_out, out_path)
        return {"path": str(out_path), "charts": [e.name for e in entries], **added,
                "bytes": out_path.stat().st_size, "digest": "sha256:" + hashing.sha256.hexdigest()}
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:  # a failed write names no file: the bundle's disk it is
            raise OSError(exc.errno, exc.strerror, str(out_path)) from exc
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _index_entry_from(meta: dict[str, Any], entry: LockEntry, archive: Path, rel_url: str) -> dict[str, Any]:
    d: dict[str, Any] = {"apiVersion": str(meta.get("apiVersion", "v2")), "name": entry.chart, "version": entry.version}
    for key in ("appVersion", "description", "type", "kubeVersion"):
        if meta.get(key) is not None:
            d[key] = str(meta[key])
    d["created"] = entry.fetched or "1980-01-01T00:00:00Z"
    d["digest"] = _sha256_hex(archive)
    d["urls"] = [rel_url]
    annotations = {"chartkeeper.io/tree-checksum": entry.tree_checksum or "",
                   "chartkeeper.io/upstream-repository": entry.repository}
    if entry.digest:
        annotations["chartkeeper.io/upstream-digest"] = entry.digest
    d["annotations"] = annotations
    return d
