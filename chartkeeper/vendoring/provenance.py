"""Provenance: when a keyring is configured and the repository publishes `<archive>.prov`,
the archive must carry a valid signature from that keyring (Helm's `--verify`, through the
embedded Helm engine).

A keyring comes from `keyring:` in chartkeeper.yaml or CHARTKEEPER_KEYRING (a PGP *public*
keyring, e.g. `gpg --export > pubring.gpg`). Without a keyring nothing is checked; with one,
an archive whose `.prov` is missing is vendored with a warning (many repositories sign
nothing), a `.prov` that does not verify is a hard error and nothing is written. HTTP and
local sources are asked for `<archive URL>.prov`; OCI provenance layers are not read yet.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

from chartkeeper.errors import InputError, IntegrityError
from chartkeeper.sources.base import ChartRelease, Source
from chartkeeper.sources.http import HttpSource
from chartkeeper.sources.local import LocalSource
from chartkeeper.sources.transport import origin_of

if TYPE_CHECKING:
    from chartkeeper.settings import Settings

MAX_PROV_BYTES = 1 << 20


def keyring_of(settings: "Settings") -> Path | None:
    raw = os.environ.get("CHARTKEEPER_KEYRING") or getattr(settings, "keyring", None)
    if not raw:
        return None
    path = settings.path(Path(raw).expanduser())
    if not path.is_file():
        raise InputError(f"keyring: {path} does not exist")
    return path


def fetch_provenance(source: Source, release: ChartRelease, dest: Path) -> bool:
    """Write the release's `.prov` to `dest`; False when the source publishes none (or cannot say)."""
    for url in release.urls:
        data: bytes | None = None
        if isinstance(source, LocalSource):
            p = Path(str(source._archive_path(url)) + ".prov")
            if p.is_file() and p.stat().st_size <= MAX_PROV_BYTES:
                data = p.read_bytes()
        elif isinstance(source, HttpSource):
            buf = io.BytesIO()
            resp = source.transport.request(
                "GET", source.settings.mirror_for(url) + ".prov", auth=source.credentials.header(),
                auth_origin=origin_of(source.url), sink=buf, statuses=(200, 403, 404),
            )
            if resp.status == 200 and 0 < len(buf.getvalue()) <= MAX_PROV_BYTES:
                data = buf.getvalue()
        if data:
            dest.write_bytes(data)
            return True
    return False


def verify_provenance(archive: Path, prov: Path, keyring: Path, label: str) -> tuple[str, ...]:
    """Signers of `archive` per `prov` and `keyring`; IntegrityError when the signature does not hold."""
    import helm_python  # lazy: helm-python-sdk loads a large native library; only commands that render need it

    try:
        result = helm_python.verify(str(archive), str(keyring), provenance_file=str(prov))
    except helm_python.HelmError as exc:
        raise IntegrityError(f"{label}: provenance does not verify against {keyring.name}: {str(exc).strip()}") from None
    return tuple(result.get("signed_by") or ())
