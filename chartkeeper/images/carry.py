"""Images across the air gap: pulled into an OCI image layout on the connected side (`bundle --images`),
pushed from it to the site's registry (`unbundle`).

Pulling keeps every manifest byte for byte, so digests survive the trip. A multi-platform index is
narrowed to the requested platforms: one platform left means the platform's own manifest is carried (its
digest is upstream's); several mean a new index of just those. A reference that pins an index by digest
keeps the whole index, or the digest would not resolve at the site.

Pushing goes children first (layers and config, then the manifest, then the index), asks the registry
before each blob (`HEAD`: a rerun after an interruption uploads only what is missing) and links a blob it
already pushed to another repository of the same registry instead of uploading it again (a cross-repository
mount).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from chartkeeper.errors import InputError, SourceError
from chartkeeper.imageref import parse_reference
from chartkeeper.images.layout import (FULL_NAME, PULLED_FROM, REF_NAME, Blob, LayoutWriter, blob_path, children,
                                       read_index, ref_name, walk)
from chartkeeper.settings import Settings
from chartkeeper.sources.distribution import ImageRegistry, Manifest

Progress = Callable[[str], None]
DEFAULT_PLATFORMS = ("linux/amd64",)
TRANSFERS = 4  # blob downloads or uploads at once
#: Test hook: `unbundle` stops (prints a line on stderr, then sleeps) after its first blob upload, so a
#: test can kill it exactly there.
PAUSE_ENV = "CHARTKEEPER_TEST_PAUSE_AT"
PAUSE_STAGE = "unbundle-blob-pushed"


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Platform":
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InputError(f"--platform {text}: expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/amd64")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def matches(self, p: Any) -> bool:
        if not isinstance(p, dict):
            return False
        return (p.get("os") == self.os and p.get("architecture") == self.architecture
                and (self.variant is None or p.get("variant") == self.variant))

    def __str__(self) -> str:
        return "/".join(x for x in (self.os, self.architecture, self.variant) if x)


@dataclass(frozen=True)
class CarriedImage:
    """One image in the bundle: `digest` is what the site will hold under the image's name."""

    image: str
    digest: str
    media_type: str
    size: int  # bytes of every blob it needs (shared ones counted for each image)
    platforms: tuple[str, ...]
    whole_index: bool = False
    pulled_from: str | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"image": self.image, "digest": self.digest, "mediaType": self.media_type,
                             "size": self.size, "platforms": list(self.platforms)}
        if self.whole_index:
            d["wholeIndex"] = True
        if self.pulled_from:
            d["pulledFrom"] = self.pulled_from
        return d


@dataclass
class _Meter:
    """Bytes and images so far, said on stderr at most once a second."""

    say: Progress
    total_images: int
    images: int = 0
    bytes: int = 0
    started: float = field(default_factory=time.monotonic)
    _last: float = field(default_factory=time.monotonic)  # the first line after a second, not at once
    _lock: threading.Lock = field(default_factory=threading.Lock)  # transfers run in threads

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes += n
            now = time.monotonic()
            if now - self._last < 1.0:
                return
            self._last = now
        self.say(f"{self.images}/{self.total_images} image(s), {_mb(self.bytes)} "
                 f"({_mb(self.bytes / max(now - self.started, 1e-6))}/s)")


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


class _Registries:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.by_host: dict[str, ImageRegistry] = {}

    def get(self, host: str) -> ImageRegistry:
        if host not in self.by_host:
            self.by_host[host] = ImageRegistry(host, self.settings)
        return self.by_host[host]

    def close(self) -> None:
        for r in self.by_host.values():
            r.close()


# -- pulling ----------------------------------------------------------------------------------------


def pull_images(settings: Settings, images: list[str], folder: Path, platforms: tuple[Platform, ...],
                progress: Progress) -> list[CarriedImage]:
    """Pull every image into a new OCI layout at `folder` (through `images.pullFrom` caches)."""
    writer = LayoutWriter(folder)
    regs = _Registries(settings)
    meter = _Meter(progress, len(images))
    carried: list[CarriedImage] = []
    try:
        for image in images:
            carried.append(_pull_one(settings, regs, writer, image, platforms, meter))
            meter.images += 1
            progress(f"pulled {image} ({_mb(carried[-1].size)})")
    finally:
        regs.close()
    writer.finish()
    return carried


def _pull_one(settings: Settings, regs: _Registries, writer: LayoutWriter, image: str,
              platforms: tuple[Platform, ...], meter: _Meter) -> CarriedImage:
    ref = parse_reference(image)
    source = settings.image_pull_source(image)
    src = parse_reference(source)
    reg = regs.get(src.registry)
    top = reg.manifest(src.repository, src.reference)
    if top is None:
        raise SourceError(f"{image}: not found in {src.registry}" + (f" (read through pullFrom as {source})" if source != image else ""))
    if ref.digest and top.digest != ref.digest:
        raise SourceError(f"{image}: {src.registry} serves digest {top.digest}")
    _refuse_unknown(image, top)
    whole = False
    platform_names: list[str] = []
    carried = top
    if top.is_index and not ref.digest:
        kids = children(top)
        wanted = [m for m in kids if any(p.matches(m.get("platform")) for p in platforms)]
        if not wanted:
            have = sorted({_platform_name(m.get("platform")) for m in kids})
            raise SourceError(f"{image}: no {', '.join(map(str, platforms))} in its index (it has {', '.join(have)})",
                              hint="choose the platforms of your nodes with --platform")
        platform_names = [_platform_name(m.get("platform")) for m in wanted]
        if len(wanted) == len(kids):
            pass  # every platform asked for: the index as published, digest and all
        elif len(wanted) == 1:
            child = reg.manifest(src.repository, wanted[0]["digest"])
            if child is None:
                raise SourceError(f"{image}: {wanted[0]['digest']} of its index is not in {src.registry}")
            carried = child
        else:
            doc = top.doc()
            doc["manifests"] = wanted
            data = json.dumps(doc, separators=(",", ":")).encode()
            carried = Manifest(top.media_type, data, writer.put_bytes(data))
    elif top.is_index:
        whole = True
        platform_names = [_platform_name(m.get("platform")) for m in children(top)]
    size = _store_tree(reg, src.repository, writer, carried, meter)
    annotations = {REF_NAME: ref_name(image), FULL_NAME: image}
    if source != image:
        annotations[PULLED_FROM] = source
    writer.add(carried, annotations)
    return CarriedImage(image, carried.digest, carried.media_type, size, tuple(platform_names), whole,
                        source if source != image else None)


def _platform_name(p: Any) -> str:
    if not isinstance(p, dict):
        return "unknown"
    return "/".join(str(x) for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)


def _refuse_unknown(image: str, m: Manifest) -> None:
    if m.media_type.startswith("application/vnd.docker.distribution.manifest.v1"):
        raise SourceError(f"{image}: a Docker schema 1 manifest (deprecated, signed for its registry): cannot be carried")


def _store_tree(reg: ImageRegistry, repo: str, writer: LayoutWriter, manifest: Manifest, meter: _Meter) -> int:
    """Store a manifest and everything under it; the bytes it needs."""
    total = len(manifest.data)
    if manifest.is_index:  # an index names manifests (one per platform, attestations)
        for d in children(manifest):
            child = reg.manifest(repo, d["digest"])
            if child is None:
                raise SourceError(f"{repo}@{d['digest']}: named by an index, not in the registry")
            total += _store_tree(reg, repo, writer, child, meter)
    else:
        blobs = {d["digest"]: int(d.get("size") or 0) for d in children(manifest)}
        total += sum(blobs.values())
        wanted = [(digest, size) for digest, size in blobs.items() if not writer.has(digest)]  # shared: stored once

        def pull(blob: tuple[str, int]) -> None:
            digest, size = blob
            writer.put_stream(digest, size, lambda fh: reg.blob_into(repo, digest, fh))
            meter.add(size)

        # a few layers at once: hashing one (hashlib lets go of the GIL) while the next arrives
        with ThreadPoolExecutor(max_workers=TRANSFERS) as pool:
            list(pool.map(pull, wanted))
    writer.put_bytes(manifest.data)
    return total


# -- pushing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushPlan:
    image: str
    target: str  # where the site keeps it
    descriptor: dict[str, Any]


@dataclass
class PushStats:
    uploaded: int = 0
    uploaded_bytes: int = 0
    mounted: int = 0
    present: int = 0
    manifests: int = 0
    to_upload: list[dict[str, str]] = field(default_factory=list)  # --dry-run: {target, digest, size}


def plan_push(folder: Path, target_of: Callable[[str], str]) -> list[PushPlan]:
    plans = []
    for entry in read_index(folder):
        image = (entry.get("annotations") or {}).get(FULL_NAME)
        if not isinstance(image, str):
            raise InputError(f"{folder}/index.json: an entry without the {FULL_NAME} annotation (not made by `bundle --images`)")
        plans.append(PushPlan(image, target_of(image), entry))
    return plans


def push_images(settings: Settings, folder: Path, plans: list[PushPlan], progress: Progress, *,
                dry_run: bool = False) -> PushStats:
    """Push each image to its target; blobs the registry has are skipped (a rerun resumes)."""
    regs = _Registries(settings)
    stats = PushStats()
    meter = _Meter(progress, len(plans))
    where: dict[tuple[str, str], str] = {}  # (host, digest) -> a repository of that host that holds it
    try:
        for plan in plans:
            dst = parse_reference(plan.target)
            reg = regs.get(dst.registry)
            repo = dst.repository
            tree = list(walk(folder, plan.descriptor))
            blobs = list({b.digest: b for b, m in tree if m is None}.values())
            # HEADs are cheap and many (one per layer): ask them together
            with ThreadPoolExecutor(max_workers=8) as pool:
                have = dict(zip([b.digest for b in blobs], pool.map(lambda b: reg.has_blob(repo, b.digest), blobs)))
            missing = []
            for b in blobs:
                if have[b.digest]:
                    stats.present += 1
                    where.setdefault((dst.registry, b.digest), repo)
                elif dry_run:
                    stats.to_upload.append({"target": plan.target, "digest": b.digest, "size": str(b.size)})
                else:
                    missing.append(b)

            def upload(b: Blob, reg: ImageRegistry = reg, repo: str = repo, host: str = dst.registry) -> bool:
                with open(blob_path(folder, b.digest), "rb") as fh:
                    mounted = reg.push_blob(repo, b.digest, fh, mount_from=where.get((host, b.digest)))
                if not mounted:
                    meter.add(b.size)
                    _pause_after_upload()
                return mounted

            # a few uploads at once: the registry hashes and stores one while the next is on the wire
            with ThreadPoolExecutor(max_workers=TRANSFERS) as pool:
                for b, mounted in zip(missing, pool.map(upload, missing)):
                    stats.mounted += mounted
                    stats.uploaded += not mounted
                    stats.uploaded_bytes += 0 if mounted else b.size
                    where[(dst.registry, b.digest)] = repo
            if dry_run:
                meter.images += 1
                continue
            for b, m in tree:
                if m is None:
                    continue
                top = b.digest == plan.descriptor["digest"]
                # children by digest; the image itself under its tag (by digest when the name has none)
                reg.push_manifest(repo, dst.tag if top and dst.tag else b.digest, m)
                stats.manifests += 1
            meter.images += 1
            progress(f"pushed {plan.image} -> {plan.target}")
    finally:
        regs.close()
    return stats


def _pause_after_upload() -> None:
    if os.environ.get(PAUSE_ENV) == PAUSE_STAGE:
        sys.stderr.write(f"chartkeeper: paused at {PAUSE_STAGE}\n")
        sys.stderr.flush()
        time.sleep(3600)

