"""A classic Helm repository over HTTP(S): `<repo>/index.yaml` plus archives.

The index is fetched once per source instance and cached on disk (see `cache.py`); a
revalidation answered with 304 reads only the small per-chart extract. Credentials (see
`credentials.py`) are sent only to the repository's own origin, never to archive hosts
elsewhere or across redirects.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, BinaryIO

from chartkeeper.errors import SourceError
from chartkeeper.masking import redact
from chartkeeper.settings import Settings
from chartkeeper.sources import credentials
from chartkeeper.sources.base import ChartRelease, Source, VersionListing, error_label
from chartkeeper.sources.cache import IndexCache
from chartkeeper.sources.index import IndexReader, entry_record, listing_from_records
from chartkeeper.sources.staging import staged_write
from chartkeeper.sources.transport import TlsOptions, Transport, origin_of, strip_userinfo


class HttpSource(Source):
    def __init__(self, url: str, settings: Settings, display_url: str | None = None) -> None:
        clean, user, password = strip_userinfo(url)
        self.url = clean.rstrip("/")
        self.display_url = redact(strip_userinfo(display_url or url)[0]).rstrip("/")
        self.settings = settings
        self.credentials = credentials.for_http(self.url, user, password)
        tls = TlsOptions(
            ca_files=(self.credentials.ca_file,) if self.credentials.ca_file else (),
            cert_file=self.credentials.cert_file,
            key_file=self.credentials.key_file,
            insecure=self.credentials.insecure,
        )
        self.label = error_label(redact(self.url), self.display_url)
        self.transport = Transport(settings, self.label, tls)
        self.index_url = self.url + "/index.yaml"
        self.index_url_label = error_label(redact(self.index_url), self.display_url + "/index.yaml")
        self._cache = IndexCache(settings.cache_dir, self.index_url)
        self._lock = threading.Lock()
        self._loaded: tuple[str, bytes | None] | None = None  # (sha256 of the index, body when read)
        self._reader: IndexReader | None = None
        # what the last calls did; tests and `--verbose` read it
        self.stats: dict[str, int] = {"downloaded": 0, "not_modified": 0, "extracted": 0, "extract_hits": 0}

    # -- the index ------------------------------------------------------------------------

    def _get_index(self, conditional: bool = True) -> tuple[str, bytes | None]:
        meta = self._cache.meta() if conditional else None
        if self.settings.offline:
            if meta is None:
                raise SourceError(f"{self.label}: offline and no cached index")
            return meta.sha256, None
        headers: dict[str, str] = {}
        if meta is not None:
            if meta.etag:
                headers["If-None-Match"] = meta.etag
            if meta.last_modified:
                headers["If-Modified-Since"] = meta.last_modified
        resp = self.transport.request(
            "GET",
            self.index_url,
            headers=headers,
            auth=self.credentials.header(),
            accept_gzip=True,
            statuses=(200, 304) if headers else (200,),
        )
        if resp.status == 304 and meta is not None:
            self.stats["not_modified"] += 1
            return meta.sha256, None
        self.stats["downloaded"] += 1
        body = resp.body
        try:
            stored = self._cache.store(body, resp.header("etag"), resp.header("last-modified"))
            return stored.sha256, body
        except OSError:  # an unwritable cache costs speed, not correctness
            return hashlib.sha256(body).hexdigest(), body

    def _index(self) -> tuple[str, bytes | None]:
        if self._loaded is None:
            self._loaded = self._get_index()
        return self._loaded

    def _records(self, chart: str) -> list[dict[str, Any]] | None:
        sha, body = self._index()
        hit = self._cache.extract(chart, sha)
        if hit is not None:
            self.stats["extract_hits"] += 1
            return hit["records"] if hit.get("present") else None
        if body is None:
            body = self._cache.body()
            if body is None or hashlib.sha256(body).hexdigest() != sha:
                sha, body = self._get_index(conditional=False)  # the stored body is gone or damaged
            self._loaded = (sha, body)
        assert body is not None
        if self._reader is None or self._reader.body is not body:
            self._reader = IndexReader(body, self.index_url_label)
        items = self._reader.entries(chart)
        self.stats["extracted"] += 1
        records = None
        if items is not None:
            records = [entry_record(it, self.url) if isinstance(it, dict) else {"version": repr(it)} for it in items]
        self._cache.store_extract(chart, sha, records)
        return records

    def versions(self, chart: str) -> VersionListing:
        with self._lock:
            records = self._records(chart)
        if records is None:
            raise SourceError(f"{self.label}: the index lists no chart named {chart!r}")
        return listing_from_records(chart, records)

    # -- archives -------------------------------------------------------------------------

    def fetch(self, release: ChartRelease, dest: Path) -> str:
        if not release.urls:
            raise SourceError(f"{self.label}: {release.name} {release.version} has no archive URL in the index")
        if self.settings.offline:
            raise SourceError(f"{self.label}: offline; cannot download {release.name} {release.version}")
        origin = origin_of(self.url)
        errors: list[str] = []
        for raw_url in release.urls:
            url = self.settings.mirror_for(raw_url)  # an index at a mirror may still name upstream URLs
            if url.startswith("file://") or "://" not in url:
                errors.append(f"{url}: not an HTTP URL")
                continue

            def write(fh: BinaryIO, url: str = url) -> str | None:
                resp = self.transport.request("GET", url, auth=self.credentials.header(), auth_origin=origin, sink=fh)
                return resp.sha256

            try:
                return staged_write(dest, release.digest, write, f"{self.label}: {release.name} {release.version}")
            except SourceError as exc:
                errors.append(exc.message)
        raise SourceError(errors[0] if len(errors) == 1 else "; ".join(errors))
