"""Pick the source for a repository URL; the one module that knows every kind of source.

Kept apart from `base.py` so the interface does not import its own implementations.
"""

from __future__ import annotations

from chartkeeper.settings import Settings
from chartkeeper.sources.base import Source
from chartkeeper.sources.http import HttpSource
from chartkeeper.sources.local import LocalSource
from chartkeeper.sources.oci import OciSource


def open_source(repository: str, settings: Settings | None = None) -> Source:
    """The source for a repository URL (`https://`, `http://`, `oci://`, `file://` or a folder)."""
    settings = settings or Settings()
    url = settings.mirror_for(repository)
    if url.startswith("oci://"):
        return OciSource(url, settings, display_url=repository)
    if url.startswith(("http://", "https://")):
        return HttpSource(url, settings, display_url=repository)
    return LocalSource(url, settings, display_url=repository)
