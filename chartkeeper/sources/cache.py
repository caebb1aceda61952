"""The on-disk cache of repository indexes, under `Settings.cache_dir/index/`.

One folder per index URL (a hash of the URL; the URL never carries credentials):

    meta.json           {"url", "etag", "lastModified", "sha256"}   validators of the stored body
    index.yaml          the last body received (200)
    charts/<chart>.json the releases of one chart, extracted from the body with that sha256

A revalidation that answers 304 reuses `charts/<chart>.json` without reading or parsing
`index.yaml`; a chart asked for the first time is extracted from the stored body once. Every
file is written through a temp file and os.replace (`fsutil`), so concurrent runs never see half a
file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chartkeeper.fsutil import atomic_write_bytes, sweep_temp_files


@dataclass(frozen=True)
class CacheMeta:
    url: str
    etag: str | None
    last_modified: str | None
    sha256: str


def _atomic_write(path: Path, data: bytes) -> None:
    # A cache entry is private (0600 files, 0700 folders) and cheap to lose: no fsync.
    atomic_write_bytes(path, data, mode=None, fsync=False, dir_mode=0o700)


class IndexCache:
    """The cache entry of one index URL."""

    def __init__(self, cache_dir: Path, url: str) -> None:
        self.url = url
        self.dir = cache_dir / "index" / hashlib.sha256(url.encode()).hexdigest()[:40]

    def meta(self) -> CacheMeta | None:
        try:
            raw = json.loads((self.dir / "meta.json").read_text(encoding="utf-8"))
            if raw.get("url") != self.url or not (self.dir / "index.yaml").is_file():
                return None
            return CacheMeta(raw["url"], raw.get("etag"), raw.get("lastModified"), raw["sha256"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def body(self) -> bytes | None:
        try:
            return (self.dir / "index.yaml").read_bytes()
        except OSError:
            return None

    def store(self, body: bytes, etag: str | None, last_modified: str | None) -> CacheMeta:
        sha = hashlib.sha256(body).hexdigest()
        sweep_temp_files(self.dir)  # what a killed run's writes left (their process is gone)
        old = self.meta()
        if old is None or old.sha256 != sha:
            _atomic_write(self.dir / "index.yaml", body)
        meta = CacheMeta(self.url, etag, last_modified, sha)
        payload = {"url": self.url, "etag": etag, "lastModified": last_modified, "sha256": sha}
        _atomic_write(self.dir / "meta.json", json.dumps(payload).encode())
        return meta

    def _chart_file(self, chart: str) -> Path:
        # chart names are validated by the lock, but never trust them as path parts
        safe = hashlib.sha256(chart.encode()).hexdigest()[:16]
        return self.dir / "charts" / f"{safe}.json"

    def extract(self, chart: str, sha256: str) -> dict[str, Any] | None:
        """The stored extract of `chart` for the body with `sha256`, or None."""
        try:
            raw = json.loads(self._chart_file(chart).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict) or raw.get("sha256") != sha256 or raw.get("chart") != chart:
            return None
        return raw

    def store_extract(self, chart: str, sha256: str, records: list[dict[str, Any]] | None) -> None:
        payload = {"chart": chart, "sha256": sha256, "present": records is not None, "records": records or []}
        try:
            _atomic_write(self._chart_file(chart), json.dumps(payload).encode())
        except OSError:
            pass  # a read-only cache only costs speed
