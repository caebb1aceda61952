"""Pick the source for a repository URL; the one module that knows every kind of source.

Kept apart from `base.py` so the interface does not import its own implementations.
"""

from __future__ import annotations

import re

from chartkeeper.errors import InputError
from chartkeeper.settings import Settings
from chartkeeper.sources.base import Source
from chartkeeper.sources.http import HttpSource
from chartkeeper.sources.local import LocalSource
from chartkeeper.sources.oci import OciSource


SCHEMES = ("https://", "http://", "oci://", "file://")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def check_repository(repository: str, what: str = "repository") -> str:
    """`repository` when chartkeeper can read it: an https/http/oci/file URL or a folder path."""
    if not repository.strip():
        raise InputError(f"{what}: empty; give https://…, oci://…, file://… or a folder")
    if repository.startswith(SCHEMES):
        if not repository.split("://", 1)[1].strip("/"):
            raise InputError(f"{what} {repository!r}: names no host or folder")
        return repository
    scheme = _SCHEME_RE.match(repository)
    if scheme and len(scheme.group(0)) > 2:  # `C:` is a Windows drive, not a scheme
        raise InputError(f"{what} {repository!r}: {scheme.group(0)[:-1]} is not a repository scheme chartkeeper reads "
                         f"(https://, http://, oci://, file:// or a folder)")
    return repository


def open_source(repository: str, settings: Settings | None = None) -> Source:
    """The source for a repository URL (`https://`, `http://`, `oci://`, `file://` or a folder)."""
    settings = settings or Settings()
    check_repository(repository)
    url = settings.mirror_for(repository)
    if url.startswith("oci://"):
        return OciSource(url, settings, display_url=repository)
    if url.startswith(("http://", "https://")):
        return HttpSource(url, settings, display_url=repository)
    return LocalSource(url, settings, display_url=repository)
