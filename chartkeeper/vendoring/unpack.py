"""Unpack an untrusted chart archive, or refuse it naming the member that is wrong.

A chart archive comes from the network (or from a USB stick that did). Python's `tarfile`
will happily write through `../`, absolute paths and symlinks, so this module never calls
`extract*`: it streams the members, checks each one, and writes regular files itself.

Refused: absolute paths, `..` components, backslashes and control characters in names,
symlinks whose target leaves the chart (or that other members would be written through),
hard links, device files, FIFOs and other special members, names that collide once case is
folded (they would overwrite each other on macOS/Windows checkouts), a member listed twice,
and archives past the size, file-count or compression-ratio limits. The limits are checked
on the bytes actually decompressed while streaming, never on what headers claim.

The archive's single top folder must be the chart's name and hold a `Chart.yaml` naming the
same chart. Everything is written into a hidden sibling temp folder and renamed into place at
the end, so a refusal or a crash leaves nothing at `dest` (a killed process leaves a
`.chartkeeper-staging-*` folder that the next `sync` removes). Modes are normalised: folders
0755, files 0644, or 0755 when the archive marked them executable.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chartkeeper import yamlio
from chartkeeper.errors import InputError, IntegrityError, disk_full, is_disk_full

if TYPE_CHECKING:
    from chartkeeper.settings import Settings

STAGING_PREFIX = ".chartkeeper-staging-"
_CHUNK = 1 << 16
MiB = 1 << 20


@dataclass(frozen=True)
class ExtractLimits:
    """What one archive may expand to. Real charts are far below these (kube-prometheus-stack
    unpacks to a few MB); a decompression bomb is far above."""

    max_bytes: int = 512 * MiB  # decompressed tar stream, headers included
    max_files: int = 20_000  # members of any kind
    max_ratio: float = 200.0  # decompressed / compressed bytes ...
    ratio_floor: int = 16 * MiB  # ... enforced once this much has been decompressed

    @classmethod
    def from_settings(cls, settings: "Settings | None" = None) -> "ExtractLimits":
        """Defaults, overridden by `extractLimits:` in chartkeeper.yaml, then CHARTKEEPER_MAX_CHART_* variables."""
        raw: dict[str, Any] = dict(getattr(settings, "extract_limits", ()) or ())
        env = {
            "maxBytes": os.environ.get("CHARTKEEPER_MAX_CHART_BYTES"),
            "maxFiles": os.environ.get("CHARTKEEPER_MAX_CHART_FILES"),
            "maxRatio": os.environ.get("CHARTKEEPER_MAX_CHART_RATIO"),
        }
        raw.update({k: v for k, v in env.items() if v})
        base = cls()
        try:
            return cls(
                max_bytes=int(raw.get("maxBytes", base.max_bytes)),
                max_files=int(raw.get("maxFiles", base.max_files)),
                max_ratio=float(raw.get("maxRatio", base.max_ratio)),
                ratio_floor=min(base.ratio_floor, int(raw.get("maxBytes", base.max_bytes))),
            )
        except (TypeError, ValueError):
            raise InputError("extractLimits: maxBytes, maxFiles and maxRatio must be numbers") from None


class _Refused(Exception):
    pass


class _Meter:
    """Counts compressed and decompressed bytes as they stream; refuses past the limits."""

    def __init__(self, limits: ExtractLimits) -> None:
        self.limits = limits
        self.compressed = 0
        self.decompressed = 0
        self.skipped = 0  # bytes of members passed over (a bundle's images when only its charts are wanted)
        self.current = ""  # the member being read, for messages

    def check(self) -> None:
        lim = self.limits
        if self.decompressed - self.skipped > lim.max_bytes:
            raise _Refused(f"expands past the {lim.max_bytes} byte limit (decompression bomb?)")
        if self.decompressed > lim.ratio_floor and self.decompressed > lim.max_ratio * max(self.compressed, 1):
            raise _Refused(
                f"compression ratio over {lim.max_ratio:g}:1 ({self.decompressed} bytes from {self.compressed}; decompression bomb?)"
            )


class _CountingReader:
    def __init__(self, fh: Any, meter: _Meter, compressed: bool) -> None:
        self.fh = fh
        self.meter = meter
        self.compressed = compressed

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = _CHUNK  # never let a caller ask for "everything"
        data = self.fh.read(n)
        if self.compressed:
            self.meter.compressed += len(data)
        else:
            self.meter.decompressed += len(data)
            self.meter.check()
        return data


def _member_parts(name: str) -> list[str]:
    if "\x00" in name or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise _Refused("has a control character in its name")
    if "\\" in name:
        raise _Refused("has a backslash in its name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise _Refused("is an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _Refused("has a '..' path component")
    return parts


def safe_extract(
    archive: Path, dest: Path, expected_chart: str, limits: ExtractLimits | None = None, *, is_chart: bool = True,
    skip: str | None = None,
) -> Path:
    """Unpack chart archive `archive` so that `dest` is the chart folder; return `dest`.

    `is_chart=False` unpacks any archive with the single top folder `expected_chart` (a bundle)
    with the same checks, without asking for a Chart.yaml. `skip`: a folder under the top one whose
    members are passed over (not written, not counted against `max_bytes`).

    `dest` must not exist; its parent must. Raises IntegrityError naming the archive and the
    offending member; on any failure nothing is left at `dest` or beside it.
    """
    limits = limits or ExtractLimits()
    if dest.exists() or dest.is_symlink():
        raise InputError(f"{dest}: already exists; refusing to unpack over it")
    work = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX + "x-", dir=dest.parent))
    root = work / "chart"
    root.mkdir(mode=0o755)
    try:
        _extract_into(archive, root, expected_chart, limits, is_chart, skip)
        os.rename(root, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def _extract_into(archive: Path, root: Path, expected_chart: str, limits: ExtractLimits, is_chart: bool,
                  skip: str | None = None) -> None:
    label = archive.name
    meter = _Meter(limits)
    try:
        with open(archive, "rb") as raw:
            magic = raw.read(2)
            raw.seek(0)
            if magic != b"\x1f\x8b":
                raise IntegrityError(f"{label}: not a gzip-compressed chart archive")
            gz = gzip.GzipFile(fileobj=_CountingReader(raw, meter, compressed=True), mode="rb")  # type: ignore[arg-type]
            stream = _CountingReader(gz, meter, compressed=False)
            with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
                _walk(tar, root, expected_chart, limits, meter, skip)
    except _Refused as exc:
        where = f" member {meter.current!r}" if meter.current else ""
        raise IntegrityError(f"{label}: refused{where}: {exc}") from None
    except _MemberRefused as exc:
        raise IntegrityError(f"{label}: refused member {exc.member!r}: {exc.reason}") from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        if is_disk_full(exc):
            raise disk_full(getattr(exc, "filename", None), f"unpacking {label}, member {meter.current!r}") from None
        if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile) and exc.errno is not None:
            raise IntegrityError(f"{label}: cannot unpack near member {meter.current!r}: {exc.strerror}") from None
        raise IntegrityError(f"{label}: not a valid chart archive ({exc})") from None
    if not is_chart:
        return
    chart_yaml = root / "Chart.yaml"
    if not chart_yaml.is_file() or chart_yaml.is_symlink():
        raise IntegrityError(f"{label}: no {expected_chart}/Chart.yaml in the archive")
    try:
        meta = yamlio.loads(chart_yaml.read_bytes(), f"{label}: {expected_chart}/Chart.yaml")
    except InputError as exc:
        raise IntegrityError(str(exc)) from None
    actual = meta.get("name") if isinstance(meta, dict) else None
    if actual != expected_chart:
        raise IntegrityError(f"{label}: {expected_chart}/Chart.yaml names the chart {actual!r}, expected {expected_chart!r}")


class _MemberRefused(Exception):
    def __init__(self, member: str, reason: str) -> None:
        super().__init__(f"{member}: {reason}")
        self.member = member
        self.reason = reason


def _walk(tar: tarfile.TarFile, root: Path, expected_chart: str, limits: ExtractLimits, meter: _Meter,
          skip: str | None = None) -> None:
    folded: dict[str, str] = {}  # casefolded path (and every parent) -> path as written
    kinds: dict[str, str] = {}  # path -> "d" | "f" | "l"
    links: list[tuple[str, str]] = []
    count = 0
    for member in tar:
        name = member.name
        meter.current = name
        count += 1
        try:
            if count > limits.max_files:
                raise _Refused(f"has more than {limits.max_files} members")
            parts = _member_parts(name)
            if not parts:
                continue
            if parts[0] != expected_chart:
                raise _Refused(f"is outside the top folder {expected_chart}/ (the archive's top folder must be the chart name)")
            rel_parts = parts[1:]
            if not rel_parts:
                if member.isdir():
                    continue
                raise _Refused("takes the name of the chart folder")
            if skip is not None and rel_parts[0] == skip:
                meter.skipped += max(member.size, 0)
                continue
            rel = "/".join(rel_parts)
            for i in range(1, len(rel_parts) + 1):
                prefix = "/".join(rel_parts[:i])
                key = prefix.casefold()
                seen = folded.get(key)
                if seen is not None and seen != prefix:
                    raise _Refused(f"collides with {expected_chart}/{seen} when case is folded")
                folded[key] = prefix
            for i in range(1, len(rel_parts)):
                if kinds.get("/".join(rel_parts[:i])) in ("f", "l"):
                    raise _Refused(f"would be written through {expected_chart}/{'/'.join(rel_parts[:i])}, which is not a folder")
            if member.isdir():
                if kinds.get(rel, "d") != "d":
                    raise _Refused("appears twice in the archive")
                kinds[rel] = "d"
                (root / rel).mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            if rel in kinds:
                raise _Refused("appears twice in the archive")
            if member.issym():
                target = member.linkname
                if not target or target.startswith("/") or "\x00" in target:
                    raise _Refused(f"is a symlink to {target!r}, outside the chart")
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
                if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
                    raise _Refused(f"is a symlink to {target!r}, outside the chart")
                kinds[rel] = "l"
                links.append((rel, target))
                continue
            if member.islnk():
                raise _Refused(f"is a hard link (to {member.linkname!r}); charts never need them")
            if member.ischr() or member.isblk():
                raise _Refused("is a device file")
            if member.isfifo():
                raise _Refused("is a FIFO")
            if not member.isreg() or member.issparse():
                raise _Refused("is not a regular file, folder or symlink")
            if member.size > limits.max_bytes:
                raise _Refused(f"claims {member.size} bytes, over the {limits.max_bytes} byte limit")
            kinds[rel] = "f"
            target_path = root / rel
            target_path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            src = tar.extractfile(member)
            assert src is not None
            mode = 0o755 if member.mode & 0o111 else 0o644
            fd = os.open(target_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
            try:
                with os.fdopen(fd, "wb") as out:
                    while True:
                        chunk = src.read(_CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
            except OSError as exc:
                if exc.errno is None or exc.filename is not None:
                    raise
                raise OSError(exc.errno, exc.strerror, str(target_path)) from None  # write() names no file
            os.chmod(target_path, mode)  # the umask must not decide
        except _Refused as exc:
            raise _MemberRefused(name, str(exc)) from None
    # Symlinks last, so no member above could have been written through one.
    for rel, target in links:
        if any(k.startswith(rel + "/") for k in kinds):
            raise _MemberRefused(f"{expected_chart}/{rel}", "is a symlink that other members are written through")
        p = root / rel
        p.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.symlink(target, p)
    # Each target was checked on its own text; chained links (`a -> ..` is the chart folder,
    # `b -> a/..` is lexically inside) can still resolve outside. Check where they really go.
    real_root = os.path.realpath(root)
    for rel, target in links:
        real = os.path.realpath(root / rel)
        if real != real_root and not real.startswith(real_root + os.sep):
            raise _MemberRefused(f"{expected_chart}/{rel}", f"is a symlink to {target!r}, which resolves outside the chart")
        if real == real_root:
            raise _MemberRefused(f"{expected_chart}/{rel}", f"is a symlink to {target!r}, the chart folder itself")
    _normalise_dirs(root)


def _normalise_dirs(root: Path) -> None:
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            p = Path(dirpath) / d
            if not p.is_symlink():
                os.chmod(p, 0o755)
    os.chmod(root, 0o755)


