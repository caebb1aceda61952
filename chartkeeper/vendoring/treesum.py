"""A deterministic checksum of a vendored chart folder, and the per-file manifest behind it.

The manifest is one line per file or symlink, sorted by the UTF-8 bytes of the relative
POSIX path:

    f <sha256 of contents> <path>      regular file
    x <sha256 of contents> <path>      regular file with an exec bit (the only mode kept)
    l <sha256 of link target> <path>   symlink (the target text, never followed)

The tree checksum is `sha256:` + sha256 of the header line plus those lines. mtimes, owners,
other mode bits and empty folders do not count, so the same tree checksums the same on every
machine. Paths are escaped (`\\` and control characters) so a line is always one line.

The manifest of each vendored chart is kept next to the lock (`.treesums/<name>.sums`) so
`verify` can name the files that drifted, not only say that the tree did. It is trusted only
while its own checksum equals the lock's `treeChecksum`.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from chartkeeper.errors import InputError
from chartkeeper.fsutil import atomic_write_text

HEADER = "# chartkeeper tree manifest v1\n"
MANIFEST_DIR = ".treesums"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileSum:
    kind: str  # "f" file, "x" executable file, "l" symlink
    digest: str  # hex


Manifest = Mapping[str, FileSum]


def _escape(path: str) -> str:
    out = []
    for ch in path:
        if ch == "\\":
            out.append("\\\\")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _unescape(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            if text[i + 1] == "\\":
                out.append("\\")
                i += 2
                continue
            if text[i + 1] == "x" and i + 3 < len(text):
                out.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def tree_manifest(folder: Path) -> dict[str, FileSum]:
    """{relative posix path: FileSum} for every file and symlink under `folder` (links not followed)."""
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    result: dict[str, FileSum] = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        names = list(filenames)
        # os.walk lists symlinks to folders among dirnames; they are entries, not places to go.
        for d in list(dirnames):
            if (base / d).is_symlink():
                dirnames.remove(d)
                names.append(d)
        for n in names:
            p = base / n
            rel = p.relative_to(folder).as_posix()
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                result[rel] = FileSum("l", hashlib.sha256(os.fsencode(os.readlink(p))).hexdigest())
            elif stat.S_ISREG(st.st_mode):
                kind = "x" if st.st_mode & 0o111 else "f"
                result[rel] = FileSum(kind, _hash_file(p))
            else:
                raise InputError(f"{folder}: {rel} is neither a file, a folder nor a symlink")
    return result


def render_manifest(manifest: Manifest) -> str:
    lines = [HEADER]
    for rel in sorted(manifest, key=lambda r: r.encode("utf-8", "surrogateescape")):
        s = manifest[rel]
        lines.append(f"{s.kind} {s.digest} {_escape(rel)}\n")
    return "".join(lines)


def parse_manifest(text: str, where: str = "manifest") -> dict[str, FileSum]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0] != HEADER:
        raise InputError(f"{where}: not a chartkeeper tree manifest")
    result: dict[str, FileSum] = {}
    for n, line in enumerate(lines[1:], start=2):
        parts = line.rstrip("\n").split(" ", 2)
        if len(parts) != 3 or parts[0] not in ("f", "x", "l") or len(parts[1]) != 64:
            raise InputError(f"{where}: line {n}: malformed manifest line")
        result[_unescape(parts[2])] = FileSum(parts[0], parts[1])
    return result


def checksum_of_manifest(manifest: Manifest) -> str:
    return "sha256:" + hashlib.sha256(render_manifest(manifest).encode("utf-8", "surrogateescape")).hexdigest()


def tree_checksum(folder: Path) -> str:
    """`sha256:<hex>` of `folder`: paths, exec bits, contents and link targets; nothing else."""
    return checksum_of_manifest(tree_manifest(folder))


@dataclass(frozen=True)
class Drift:
    """How a folder differs from a manifest (sorted relative paths)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not (self.added or self.removed or self.modified)

    def as_dict(self) -> dict[str, list[str]]:
        return {"added": list(self.added), "removed": list(self.removed), "modified": list(self.modified)}


def diff_manifests(expected: Manifest, actual: Manifest) -> Drift:
    added = sorted(set(actual) - set(expected))
    removed = sorted(set(expected) - set(actual))
    modified = sorted(p for p in set(expected) & set(actual) if expected[p] != actual[p])
    return Drift(tuple(added), tuple(removed), tuple(modified))


def diff_tree(folder: Path, manifest: Manifest) -> Drift:
    """Files of `folder` added, removed or modified (content, exec bit, link target) against `manifest`."""
    return diff_manifests(manifest, tree_manifest(folder))


# --- storage next to the lock -----------------------------------------------------------------


def manifest_path(lock_dir: Path, name: str) -> Path:
    return lock_dir / MANIFEST_DIR / f"{name}.sums"


def write_manifest(lock_dir: Path, name: str, manifest: Manifest) -> Path:
    path = manifest_path(lock_dir, name)
    atomic_write_text(path, render_manifest(manifest))
    return path


def read_manifest(lock_dir: Path, name: str, expected_checksum: str | None) -> dict[str, FileSum] | None:
    """The stored manifest of chart `name`, or None when missing, unreadable or not matching the lock."""
    path = manifest_path(lock_dir, name)
    try:
        manifest = parse_manifest(path.read_text(encoding="utf-8", errors="surrogateescape"), str(path))
    except (OSError, InputError):
        return None
    if expected_checksum is not None and checksum_of_manifest(manifest) != expected_checksum:
        return None
    return manifest


def remove_manifest(lock_dir: Path, name: str) -> None:
    try:
        manifest_path(lock_dir, name).unlink()
    except FileNotFoundError:
        pass


def stored_manifest_names(lock_dir: Path) -> Iterable[str]:
    d = lock_dir / MANIFEST_DIR
    if not d.is_dir():
        return []
    return sorted(p.name[: -len(".sums")] for p in d.glob("*.sums"))
