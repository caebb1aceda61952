"""The interface every upstream source implements.

    source = open_source(entry.repository, settings)    # sources/factory.py: mirrors applied
    listing = source.versions(entry.chart)              # VersionListing, newest first
    release = next(r for r in listing.releases if r.version == wanted)
    release = source.describe(release)                  # OCI: fills digest/created/appVersion
    digest = source.fetch(release, dest)                # "sha256:<hex>", verified, atomic

`versions` raises SourceError (unreachable, 401, malformed index, chart not listed);
`fetch` raises SourceError or IntegrityError (digest differs from what the source publishes).
Sources are safe to use from several threads; one instance downloads an index once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from chartkeeper.versions import ChartVersion


@dataclass(frozen=True)
class ChartRelease:
    """One published version of a chart, as the source describes it."""

    name: str
    version: ChartVersion
    digest: str | None = None  # "sha256:<hex>" as published (index `digest`, OCI manifest layer)
    urls: tuple[str, ...] = ()  # absolute archive URLs (HTTP/local); OCI: the reference
    created: str | None = None  # ISO time the index records
    app_version: str | None = None
    kube_version: str | None = None
    deprecated: bool = False
    # `artifacthub.io/changes` and friends: kept as (key, value) pairs so the value stays frozen
    annotations: tuple[tuple[str, str], ...] = ()
    dependencies: tuple[tuple[str, str, str], ...] = field(default=())  # (name, version, repository)

    def annotation(self, key: str) -> str | None:
        for k, v in self.annotations:
            if k == key:
                return v
        return None


@dataclass(frozen=True)
class VersionListing:
    """What `Source.versions` returns: the valid releases and how many were skipped as invalid."""

    releases: tuple[ChartRelease, ...]
    skipped_invalid: tuple[str, ...] = ()


class Source(ABC):
    """An upstream repository of charts."""

    #: the URL as the user wrote it (the lock's; never carries credentials)
    display_url: str
    #: how messages name the source: the URL actually contacted, then the upstream it mirrors
    label: str

    @abstractmethod
    def versions(self, chart: str) -> VersionListing:
        """Every published version of `chart`. Raises SourceError when the source fails."""

    @abstractmethod
    def fetch(self, release: ChartRelease, dest: Path) -> str:
        """Download the archive of `release` into the file `dest`; return its sha256 digest.

        Must verify the digest the source publishes (raise IntegrityError naming both digests on
        a mismatch, leaving no file at `dest`).
        """

    def describe(self, release: ChartRelease) -> ChartRelease:
        """`release` with the details a cheap listing leaves out (OCI: digest, created, appVersion).

        HTTP and local indexes already carry everything, so the default returns it unchanged.
        """
        return release

    def close(self) -> None:  # pragma: no cover - default: nothing to release
        pass


def error_label(fetched_url: str, upstream: str) -> str:
    """How errors name a source: the URL actually fetched first (the mirror, where the problem
    is), then the upstream it stands for, so nobody goes looking at a server never contacted."""
    fetched_url, upstream = fetched_url.rstrip("/"), upstream.rstrip("/")
    return fetched_url if fetched_url == upstream else f"{fetched_url} (mirror of {upstream})"
