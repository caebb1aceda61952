"""A folder (or `file://` URL) holding `index.yaml` and chart archives: the offline bundle
carried into an air-gapped site, or a file share a mirror points at.

A relative folder is relative to the deployment root (`Settings.root`). Archive URLs in the
index may be relative (to the folder), `file://` URLs, or absolute HTTP URLs of the upstream
the bundle was copied from -- those are looked up by file name inside the folder.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

from chartkeeper.errors import SourceError
from chartkeeper.settings import Settings
from chartkeeper.sources.base import ChartRelease, Source, VersionListing, error_label
from chartkeeper.sources.index import IndexReader, entry_record, listing_from_records
from chartkeeper.sources.staging import staged_write


def folder_of(url: str, settings: Settings) -> Path:
    if url.startswith("file://"):
        parts = urlsplit(url)
        path = Path(unquote(parts.netloc + parts.path) if parts.netloc not in ("", "localhost") else unquote(parts.path))
    else:
        path = Path(url).expanduser()
    if not path.is_absolute():
        path = settings.root / path
    return path


class LocalSource(Source):
    def __init__(self, url: str, settings: Settings, display_url: str | None = None) -> None:
        self.folder = folder_of(url, settings)
        self.display_url = display_url or url
        self.label = error_label(url, self.display_url)
        self.settings = settings
        self._lock = threading.Lock()
        self._reader: IndexReader | None = None

    def _index(self) -> IndexReader:
        if self._reader is None:
            index = self.folder / "index.yaml"
            try:
                self._reader = IndexReader(index.read_bytes(), f"{self.display_url}/index.yaml")
            except FileNotFoundError:
                if not self.folder.is_dir():
                    raise SourceError(f"{self.label}: folder {self.folder} does not exist") from None
                raise SourceError(
                    f"{self.label}: no index.yaml in {self.folder}",
                    hint="an offline bundle needs index.yaml next to the archives (helm repo index <folder>)",
                ) from None
            except OSError as exc:
                raise SourceError(f"{self.label}: cannot read {index} ({exc.strerror})") from None
        return self._reader

    def _base_url(self) -> str:
        return self.folder.resolve().as_uri()

    def versions(self, chart: str) -> VersionListing:
        with self._lock:
            items = self._index().entries(chart)
        if items is None:
            raise SourceError(f"{self.label}: the index lists no chart named {chart!r}")
        records: list[dict[str, Any]] = [
            entry_record(it, self._base_url()) if isinstance(it, dict) else {"version": repr(it)} for it in items
        ]
        return listing_from_records(chart, records)

    def _archive_path(self, url: str) -> Path:
        parts = urlsplit(url)
        if parts.scheme == "file":
            p = Path(unquote(parts.path))
            if p.is_file():
                return p
        # An index copied from upstream keeps upstream URLs: the archive is the file of that name here.
        return self.folder / Path(unquote(parts.path)).name

    def fetch(self, release: ChartRelease, dest: Path) -> str:
        if not release.urls:
            raise SourceError(f"{self.label}: {release.name} {release.version} has no archive URL in the index")
        tried: list[str] = []
        for url in release.urls:
            src = self._archive_path(url)
            if not src.is_file():
                tried.append(str(src))
                continue

            def write(fh: BinaryIO, src: Path = src) -> str | None:
                h = hashlib.sha256()
                with src.open("rb") as inp:
                    for chunk in iter(lambda: inp.read(1 << 20), b""):
                        h.update(chunk)
                        fh.write(chunk)
                return "sha256:" + h.hexdigest()

            return staged_write(dest, release.digest, write, f"{self.label}: {release.name} {release.version}")
        raise SourceError(f"{self.label}: archive of {release.name} {release.version} not found ({', '.join(tried)})")
