"""An OCI image layout (image-spec `image-layout.md`): the `images/` folder of a bundle.

    oci-layout            {"imageLayoutVersion": "1.0.0"}
    index.json            one descriptor per carried image, annotated with its reference
    blobs/sha256/<hex>    every manifest, index, config and layer, once (shared layers are stored once)

Each `index.json` entry carries `org.opencontainers.image.ref.name` (the reference without its digest, so
`skopeo copy oci:images:docker.io/library/nginx:1.27 …` finds it; a digest-only reference keeps its
digest) and `io.containerd.image.name` (the full reference, what `ctr import` names it), plus where it was
read from when a `pullFrom` cache stood in for the upstream.

Blobs are written through a temp file in the same folder, checked against their digest, then renamed:
a blob file under its digest's name is always whole and right.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Collection, Iterator

from chartkeeper.errors import InputError, IntegrityError
from chartkeeper.fsutil import atomic_file, sha256_of
from chartkeeper.sources.distribution import INDEX_TYPES, Manifest, sha256_digest

LAYOUT_FILE = "oci-layout"
LAYOUT_VERSION = "1.0.0"
REF_NAME = "org.opencontainers.image.ref.name"
FULL_NAME = "io.containerd.image.name"
PULLED_FROM = "io.chartkeeper.image.pulled-from"
_DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")
_BLOB_NAME_RE = re.compile(r"blobs/sha256/[a-f0-9]{64}")


def blob_path(folder: Path, digest: str) -> Path:
    if not _DIGEST_RE.fullmatch(digest):  # a digest from a manifest names a file: no `../` in it
        raise IntegrityError(f"{digest!r} is not a sha256 digest")
    return folder / "blobs" / "sha256" / digest.split(":", 1)[1]


def ref_name(image: str) -> str:
    """The `ref.name` annotation for a normalised reference: without the digest when it has a tag."""
    name, at, digest = image.partition("@")
    tail = name.rsplit("/", 1)[-1]
    return name if ":" in tail or not at else image


def children(manifest: Manifest) -> list[dict[str, Any]]:
    """What a manifest references: an index's manifests; an image's config and layers."""
    doc = manifest.doc()
    if manifest.is_index:
        found = doc.get("manifests") or []
    else:
        found = [doc.get("config"), *(doc.get("layers") or [])]
    out = [d for d in found if isinstance(d, dict) and isinstance(d.get("digest"), str)]
    if len(out) != len(found):
        raise IntegrityError(f"manifest {manifest.digest} has a malformed descriptor")
    return out


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int


class LayoutWriter:
    """Fills a new layout folder; `finish` writes its `index.json` and `oci-layout`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        self.entries: list[dict[str, Any]] = []

    def has(self, digest: str) -> bool:
        return blob_path(self.folder, digest).is_file()

    def put_bytes(self, data: bytes) -> str:
        digest = sha256_digest(data)
        if not self.has(digest):
            def fill(fh: BinaryIO) -> str:
                fh.write(data)
                return digest

            self.put_stream(digest, len(data), fill)
        return digest

    def put_stream(self, digest: str, size: int, fill: Callable[[BinaryIO], str | None]) -> None:
        """Write a blob through `fill(fh)`; refused unless the bytes are `size` long and hash to `digest`.
        `fill` returns the digest of what it wrote when it hashed it on the way (else None: hashed here)."""
        # staged beside the blob and swapped in; a refusal or an interruption leaves no blob behind
        with atomic_file(blob_path(self.folder, digest), mode=None, fsync=False) as fh:
            hashed = fill(fh)
            got_size = fh.tell()
            got = hashed or sha256_of(fh)
            if got != digest or got_size != size:
                raise IntegrityError(f"blob {digest} ({size} bytes) arrived as {got} ({got_size} bytes)")

    def add(self, manifest: Manifest, annotations: dict[str, str], platform: dict[str, str] | None = None) -> None:
        entry: dict[str, Any] = {"mediaType": manifest.media_type, "digest": manifest.digest,
                                 "size": len(manifest.data), "annotations": annotations}
        if platform:
            entry["platform"] = platform
        self.entries.append(entry)

    def finish(self) -> None:
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": self.entries}
        (self.folder / "index.json").write_text(json.dumps(index, indent=2) + "\n")
        (self.folder / LAYOUT_FILE).write_text(json.dumps({"imageLayoutVersion": LAYOUT_VERSION}) + "\n")


# -- reading a layout (the site) ------------------------------------------------------------------


def read_index(folder: Path) -> list[dict[str, Any]]:
    """The entries of a layout's `index.json`; IntegrityError when it is not a layout."""
    try:
        layout = json.loads((folder / LAYOUT_FILE).read_text())
        index = json.loads((folder / "index.json").read_text())
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{folder}: not an OCI image layout ({exc})") from None
    entries = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(layout, dict) or layout.get("imageLayoutVersion") != LAYOUT_VERSION or not isinstance(entries, list):
        raise IntegrityError(f"{folder}: not an OCI image layout {LAYOUT_VERSION} (oci-layout, index.json)")
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("digest"), str) or not isinstance(e.get("mediaType"), str):
            raise IntegrityError(f"{folder}/index.json: malformed descriptor {e!r}")
    return entries


def load_manifest(folder: Path, descriptor: dict[str, Any]) -> Manifest:
    data = blob_path(folder, descriptor["digest"]).read_bytes()
    return Manifest(str(descriptor.get("mediaType") or ""), data, sha256_digest(data))


def walk(folder: Path, descriptor: dict[str, Any]) -> Iterator[tuple[Blob, Manifest | None]]:
    """Every blob under a descriptor, children before the manifests that name them (the order a registry
    accepts them in); each manifest with its bytes, layers and configs with None."""
    if descriptor.get("mediaType") in INDEX_TYPES or _is_manifest(descriptor):
        manifest = load_manifest(folder, descriptor)
        for child in children(manifest):
            yield from walk(folder, child)
        yield Blob(descriptor["digest"], int(descriptor.get("size") or 0)), manifest
    else:
        yield Blob(descriptor["digest"], int(descriptor.get("size") or 0)), None


def _is_manifest(descriptor: dict[str, Any]) -> bool:
    return str(descriptor.get("mediaType", "")).endswith(("manifest.v1+json", "manifest.v2+json"))


def verify(folder: Path, progress: Callable[[int], None] | None = None, hashed: Collection[str] = ()) -> list[Blob]:
    """Check every blob the layout's images need: present, of the size their descriptor says, hashing to
    their digest (those in `hashed` were hashed as they were unpacked). Returns them (each once);
    IntegrityError naming the first that is not."""
    seen: dict[str, Blob] = {}
    for entry in read_index(folder):
        for blob, _ in walk(folder, entry):
            if blob.digest in seen:
                continue
            path = blob_path(folder, blob.digest)
            try:
                size = path.stat().st_size
                if blob.digest in hashed:
                    got = blob.digest
                else:
                    with open(path, "rb") as fh:
                        got = sha256_of(fh)
            except OSError:
                raise IntegrityError(f"blob {blob.digest} is missing from the bundle") from None
            if got != blob.digest or (blob.size and size != blob.size):
                raise IntegrityError(f"blob {blob.digest} in the bundle is damaged: it hashes to {got} ({size} bytes)",
                                     hint="nothing was pushed; carry the bundle again (compare its digest)")
            seen[blob.digest] = blob
            if progress:
                progress(size)
    return list(seen.values())


def extract_layout(archive: Path, top: str, dest: Path) -> set[str]:
    """Unpack the `<top>/images/` layout of a bundle archive into `dest` (made), hashing each blob on the
    way: a blob whose bytes do not match its name stops it (IntegrityError). Returns the digests checked.
    Only the layout's own names are accepted; anything else under `images/` is refused."""
    prefix = f"{top}/images/"
    checked: set[str] = set()
    (dest / "blobs" / "sha256").mkdir(parents=True)
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                if not member.name.startswith(prefix) or member.isdir():
                    continue
                rel = member.name[len(prefix):]
                if not member.isfile() or not (rel in (LAYOUT_FILE, "index.json") or _BLOB_NAME_RE.fullmatch(rel)):
                    raise IntegrityError(f"{archive.name}: {member.name}: not part of an OCI image layout")
                src = tar.extractfile(member)
                assert src is not None  # a regular file always has a body
                h = hashlib.sha256()
                with open(dest / rel, "wb") as fh:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        h.update(chunk)
                        fh.write(chunk)
                if rel.startswith("blobs/"):
                    digest = "sha256:" + rel.rsplit("/", 1)[1]
                    if "sha256:" + h.hexdigest() != digest:
                        raise IntegrityError(f"{archive.name}: blob {digest} is damaged: it hashes to sha256:{h.hexdigest()}",
                                             hint="nothing was pushed; carry the bundle again (compare its digest)")
                    checked.add(digest)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise IntegrityError(f"{archive.name}: not a readable bundle ({exc})") from None
    if not (dest / LAYOUT_FILE).is_file():
        raise InputError(f"{archive.name}: holds no images (made without `bundle --images`)")
    return checked
