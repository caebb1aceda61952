"""Ask the site's registry whether images are there: `HEAD /v2/<name>/manifests/<tag or digest>`.

The same client as OCI chart sources (`OciSource`): credentials from the environment or Helm's registry
config, the CA bundle, plain HTTP for loopback and `plainHttp` hosts, retries with backoff, the
basic/bearer auth dance. One client per registry host; requests run concurrently, bounded.

A registry that cannot be reached, refuses the credentials or answers nonsense gives an error for those
images, never "missing": a wrong answer here would send someone to copy images that are already there,
or worse, let a bump through that lacks one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable

from chartkeeper.errors import ChartkeeperError
from chartkeeper.imageref import parse_reference
from chartkeeper.masking import redact
from chartkeeper.settings import Settings
from chartkeeper.sources.oci import OciSource

MAX_WORKERS = 8


@dataclass(frozen=True)
class Presence:
    image: str  # the reference asked about (where the site keeps the image)
    present: bool | None  # None: the registry could not tell (see `error`)
    error: str | None = None


def _split(ref: str) -> tuple[str, str, str]:
    """(registry host, repository, tag or digest) of a normalised reference."""
    r = parse_reference(ref)
    return r.registry, r.repository, r.reference


def check_images(settings: Settings, refs: Iterable[str], *, workers: int = MAX_WORKERS) -> dict[str, Presence]:
    """Presence of every reference in its registry (references are normalised `host/path:tag[@digest]`)."""
    wanted = sorted(set(refs))
    clients: dict[str, OciSource] = {}
    jobs: list[tuple[str, str, str, str]] = []
    out: dict[str, Presence] = {}
    for ref in wanted:
        try:
            host, repo, reference = _split(ref)
        except ValueError as exc:
            out[ref] = Presence(ref, None, f"not an image reference ({exc})")
            continue
        if host not in clients:
            clients[host] = OciSource(f"oci://{host}", settings)
        jobs.append((ref, host, repo, reference))

    def one(job: tuple[str, str, str, str]) -> Presence:
        ref, host, repo, reference = job
        try:
            return Presence(ref, clients[host].has_manifest(repo, reference))
        except ChartkeeperError as exc:
            return Presence(ref, None, redact(exc.message))

    if jobs:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
            for p in pool.map(one, jobs):
                out[p.image] = p
    for c in clients.values():
        c.close()
    return out
