"""Container images through the distribution API: manifests and blobs read on the connected side, written
on the site. The same client as OCI chart sources (`OciSource.call`): credentials (environment, Helm's and
Docker's registry config), the token dance, TLS and `caBundle`, plain HTTP for loopback and `plainHttp`
hosts, the transport's deadlines and retries.

Written for the project rather than taken from oras-py: oras-py speaks `requests` (a second HTTP stack
without our deadlines, minimum speed, redirect-credential rules and secret masking) and is built for
artifacts, not for copying multi-platform images byte for byte; what `bundle --images` and `unbundle` need
of the API is six calls.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode, urljoin

from chartkeeper.errors import IntegrityError, SourceError
from chartkeeper.settings import Settings
from chartkeeper.sources.oci import IMAGE_ACCEPT, OciSource

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MAX_MANIFEST = 4 << 20  # the distribution spec's limit; anything bigger is not a manifest
# Docker Hub's API lives on another host than the name images use
_API_HOSTS = {"docker.io": "registry-1.docker.io"}


@dataclass(frozen=True)
class Manifest:
    media_type: str
    data: bytes
    digest: str

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def doc(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.data)
        except (ValueError, RecursionError):  # nested past Python's stack: not a manifest either
            raise IntegrityError(f"manifest {self.digest} is not JSON") from None
        if not isinstance(doc, dict):
            raise IntegrityError(f"manifest {self.digest} is not a JSON object")
        return doc


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def media_type_of(data: bytes, header: str | None) -> str:
    """A manifest's media type: its `mediaType` field, else the Content-Type the registry sent."""
    try:
        field = json.loads(data).get("mediaType")
    except (ValueError, AttributeError, RecursionError):
        field = None
    if isinstance(field, str) and field:
        return field
    return (header or "").split(";", 1)[0].strip()


class ImageRegistry:
    """One registry host (`nvcr.io`, `harbor.example.internal:8443`) for images."""

    def __init__(self, host: str, settings: Settings) -> None:
        self.host = host
        self.client = OciSource(f"oci://{_API_HOSTS.get(host, host)}", settings)
        self.label = self.client.label

    def close(self) -> None:
        self.client.close()

    def _url(self, repo: str, kind: str, ref: str = "") -> str:
        return f"{self.client.base}/v2/{quote(repo)}/{kind}/{quote(ref) if ref else ''}"

    @staticmethod
    def _scope(repo: str, push: bool) -> str:
        return f"repository:{repo}:{'pull,push' if push else 'pull'}"

    # -- reading (the connected side) ----------------------------------------------------------

    def manifest(self, repo: str, reference: str) -> Manifest | None:
        """The manifest (or index) at a tag or digest, None when the registry has none. A digest
        reference is checked against the bytes served."""
        resp = self.client.call("GET", self._url(repo, "manifests", reference), self._scope(repo, False),
                                headers={"Accept": IMAGE_ACCEPT})
        if resp.status == 404:
            return None
        if len(resp.body) > MAX_MANIFEST:
            raise SourceError(f"{self.label}: {repo}:{reference}: manifest over {MAX_MANIFEST} bytes")
        digest = sha256_digest(resp.body)
        if reference.startswith("sha256:") and digest != reference:
            raise IntegrityError(f"{self.label}: {repo}@{reference}: the registry served a manifest with digest {digest}")
        return Manifest(media_type_of(resp.body, resp.header("content-type")), resp.body, digest)

    def blob_into(self, repo: str, digest: str, fh: BinaryIO) -> str:
        """Stream a blob into `fh`, checking its digest (returned)."""
        resp = self.client.call("GET", self._url(repo, "blobs", digest), self._scope(repo, False), sink=fh)
        if resp.status == 404:
            raise SourceError(f"{self.label}: {repo}: blob {digest} not found")
        if resp.sha256 != digest:
            raise IntegrityError(f"{self.label}: {repo}: blob {digest} arrived as {resp.sha256}")
        return digest

    # -- writing (the site) ------------------------------------------------------------------

    def has_blob(self, repo: str, digest: str) -> bool:
        resp = self.client.call("HEAD", self._url(repo, "blobs", digest), self._scope(repo, True))
        return resp.status == 200

    def push_blob(self, repo: str, digest: str, fh: BinaryIO, *, mount_from: str | None = None) -> bool:
        """Upload a blob (monolithic: POST, then PUT of the whole body). With `mount_from`, first ask the
        registry to link the blob from another repository it already holds it in; True when it did."""
        url = self._url(repo, "blobs", "uploads") + "/"
        if mount_from:
            url += "?" + urlencode({"mount": digest, "from": mount_from})
        resp = self.client.call("POST", url, self._scope(repo, True), statuses=(201, 202))
        if resp.status == 201:
            return True
        location = resp.header("location")
        if not location:
            raise SourceError(f"{self.label}: {repo}: the registry opened an upload without a Location")
        target = urljoin(self.client.base + "/", location)
        target += ("&" if "?" in target else "?") + urlencode({"digest": digest})
        self.client.call("PUT", target, self._scope(repo, True), body=fh, statuses=(201,),
                         headers={"Content-Type": "application/octet-stream"})
        return False

    def push_manifest(self, repo: str, reference: str, manifest: Manifest) -> None:
        self.client.call("PUT", self._url(repo, "manifests", reference), self._scope(repo, True), body=manifest.data,
                         headers={"Content-Type": manifest.media_type}, statuses=(201,))
