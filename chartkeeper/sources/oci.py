"""Charts in an OCI registry (`oci://host[:port]/namespace`), through the distribution API.

* versions: `GET /v2/<namespace>/<chart>/tags/list`, following `Link: <...>; rel="next"`
  pages; Helm stores `+` of a version as `_` in the tag, so tags are mapped back.
* describe/fetch: the manifest of the tag -> the Helm chart layer
  (`application/vnd.cncf.helm.chart.content.v1.tar+gzip`); its digest is the archive's
  sha256, which is what the lock records, so a chart mirrored between OCI and an HTTP
  repository keeps its digest.
* auth: a 401 challenge `Bearer realm=...,service=...,scope=...` gets a token from the
  realm (anonymously, or with basic credentials when we have them); `Basic` gets the basic
  credentials. Tokens are kept per scope for the life of the source.
* TLS unless the host is loopback or listed in `Settings.plain_http`.
"""

from __future__ import annotations

import ipaddress
import json
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode, urljoin, urlsplit

from chartkeeper.errors import IntegrityError, SourceError
from chartkeeper.masking import redact, register_secret
from chartkeeper.settings import Settings
from chartkeeper.sources import credentials
from chartkeeper.sources.base import ChartRelease, Source, VersionListing, error_label
from chartkeeper.sources.index import normalize_digest
from chartkeeper.sources.staging import staged_write
from chartkeeper.sources.transport import Response, Transport, origin_of, strip_userinfo
from chartkeeper.versions import ChartVersion

HELM_CONFIG_MEDIA = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_MEDIA = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
LEGACY_CHART_MEDIA = "application/tar+gzip"  # charts pushed by Helm 3.0-3.6 experimental OCI
OCI_MANIFEST_MEDIA = "application/vnd.oci.image.manifest.v1+json"
MANIFEST_ACCEPT = f"{OCI_MANIFEST_MEDIA}, application/vnd.docker.distribution.manifest.v2+json"
# an image's manifest in any of the forms registries serve: OCI index, Docker list, single manifests
IMAGE_ACCEPT = ("application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, "
                f"{OCI_MANIFEST_MEDIA}, application/vnd.docker.distribution.manifest.v2+json")
MAX_PAGES = 10_000

_PARAM_RE = re.compile(r'(\w+)="([^"]*)"|(\w+)=([^\s,]+)')


def tag_of(version: ChartVersion | str) -> str:
    """Helm's tag for a chart version: `+` is not allowed in OCI tags, so it becomes `_`."""
    return str(version).replace("+", "_")


def version_of(tag: str) -> ChartVersion | None:
    return ChartVersion.try_parse(tag.replace("_", "+"))


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for m in _PARAM_RE.finditer(rest):
        if m.group(1):
            params[m.group(1).lower()] = m.group(2)
        else:
            params[m.group(3).lower()] = m.group(4)
    return scheme.lower(), params


def next_link(header: str | None) -> str | None:
    """The `rel="next"` target of a Link header."""
    if not header:
        return None
    for part in header.split(","):
        m = re.match(r'\s*<([^>]*)>\s*;(.*)', part)
        if m and re.search(r'rel\s*=\s*"?next"?', m.group(2)):
            return m.group(1)
    return None


class OciSource(Source):
    def __init__(self, url: str, settings: Settings, display_url: str | None = None) -> None:
        if not url.startswith("oci://"):
            raise SourceError(f"{redact(url)}: not an oci:// URL")
        clean, user, password = strip_userinfo(url)
        parts = urlsplit(clean)
        if not parts.hostname:
            raise SourceError(f"{redact(url)}: no registry host in the URL")
        self.host = parts.netloc  # host[:port]
        self.namespace = parts.path.strip("/")
        self.display_url = redact(strip_userinfo(display_url or url)[0]).rstrip("/")
        self.settings = settings
        plain = is_loopback(parts.hostname) or self.host in settings.plain_http or parts.hostname in settings.plain_http
        self.base = f"{'http' if plain else 'https'}://{self.host}"
        self.credentials = credentials.for_registry(self.host, user, password)
        self.label = error_label(redact(f"oci://{self.host}/{self.namespace}"), self.display_url)
        self.transport = Transport(settings, self.label)
        self.page_size: int | None = None  # `n` for tags/list; None lets the registry choose
        self._tokens: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    # -- requests with the registry's auth dance -----------------------------------------

    def repo_path(self, chart: str) -> str:
        return "/".join(p for p in (self.namespace, chart) if p)

    def _get(
        self, url: str, scope: str, *, headers: dict[str, str] | None = None, sink: BinaryIO | None = None,
        method: str = "GET",
    ) -> Response:
        return self.call(method, url, scope, headers=headers, sink=sink)

    def call(
        self, method: str, url: str, scope: str, *, headers: dict[str, str] | None = None,
        sink: BinaryIO | None = None, body: bytes | BinaryIO | None = None, statuses: tuple[int, ...] = (200, 404),
    ) -> Response:
        """One distribution-API request with the registry's auth dance (`scope` as the token server
        wants it: `repository:<name>:pull` or `...:pull,push`); statuses other than `statuses` raise."""
        with self._lock:
            auth = self._tokens.get(scope)
        if auth is None and self.credentials.token:
            auth = {"Authorization": f"Bearer {self.credentials.token}"}  # an identity token from the environment
        origin = origin_of(self.base)
        wanted = tuple(dict.fromkeys((*statuses, 401)))
        resp = self.transport.request(
            method, url, headers=headers, auth=auth, auth_origin=origin, sink=sink, statuses=wanted, body=body
        )
        if resp.status == 401:
            auth = self._authenticate(resp.header("www-authenticate") or "", scope)
            if sink is not None:  # the refused answer's body must not stay in front of the real one
                sink.seek(0)
                sink.truncate()
            resp = self.transport.request(
                method, url, headers=headers, auth=auth, auth_origin=origin, sink=sink, statuses=wanted, body=body
            )
            if resp.status == 401:
                raise SourceError(
                    f"{self.label}: the registry refused the credentials for {scope}",
                    hint="check the registry credentials (see README: Credentials)",
                )
        return resp

    def _authenticate(self, challenge: str, scope: str) -> dict[str, str]:
        scheme, params = parse_challenge(challenge)
        creds = self.credentials
        if scheme == "basic":
            if not creds.present:
                raise SourceError(
                    f"{self.label}: the registry wants credentials",
                    hint=f"set {credentials.env_key(self.base)}_USERNAME and _PASSWORD, or `helm registry login`",
                )
            auth = creds.header()
        elif scheme == "bearer":
            realm = params.get("realm")
            if not realm:
                raise SourceError(f"{self.label}: bearer challenge without a realm")
            query = {"scope": params.get("scope") or scope}
            if params.get("service"):
                query["service"] = params["service"]
            token_url = realm + ("&" if "?" in realm else "?") + urlencode(query)
            realm_parts = urlsplit(realm)
            # Credentials go to the token server only over TLS or on this machine.
            send = creds.present and (realm_parts.scheme == "https" or is_loopback(realm_parts.hostname or ""))
            resp = self.transport.request(
                "GET",
                token_url,
                auth=creds.header() if send else None,
                auth_origin=origin_of(realm),
                statuses=(200, 401, 403),
            )
            if resp.status != 200:
                raise SourceError(
                    f"{self.label}: the token server refused access to {query['scope']} (HTTP {resp.status})",
                    hint=None if creds.present else f"set {credentials.env_key(self.base)}_USERNAME and _PASSWORD",
                )
            try:
                doc = json.loads(resp.body)
                token = doc.get("token") or doc.get("access_token")
            except (ValueError, AttributeError, RecursionError):
                token = None
            if not isinstance(token, str) or not token:
                raise SourceError(f"{self.label}: the token server answered without a token")
            register_secret(token)
            auth = {"Authorization": f"Bearer {token}"}
        else:
            raise SourceError(f"{self.label}: unsupported auth challenge {scheme or '(none)'!r}")
        with self._lock:
            self._tokens[scope] = auth
        return auth

    def has_manifest(self, repository: str, reference: str) -> bool:
        """Does the registry hold `repository` at `reference` (a tag or a digest)? `HEAD` of its manifest,
        accepting indexes and manifest lists as well as single manifests (what a multi-arch image is)."""
        resp = self._get(
            f"{self.base}/v2/{quote(repository)}/manifests/{quote(reference)}",
            f"repository:{repository}:pull",
            headers={"Accept": IMAGE_ACCEPT},
            method="HEAD",
        )
        return resp.status == 200

    # -- the Source interface ---------------------------------------------------------------

    def tags(self, chart: str) -> list[str]:
        repo = self.repo_path(chart)
        scope = f"repository:{repo}:pull"
        url = f"{self.base}/v2/{quote(repo)}/tags/list"
        if self.page_size:
            url += f"?n={self.page_size}"
        tags: list[str] = []
        for _ in range(MAX_PAGES):
            resp = self._get(url, scope, headers={"Accept": "application/json"})
            if resp.status == 404:
                raise SourceError(f"{self.label}: no chart named {chart!r} in the registry")
            try:
                doc = json.loads(resp.body)
            except (ValueError, RecursionError):  # a registry's JSON nested past Python's stack too
                raise SourceError(f"{self.label}: malformed tag list for {chart}") from None
            page = doc.get("tags") if isinstance(doc, dict) else None
            if page is None:
                page = []
            if not isinstance(page, list):
                raise SourceError(f"{self.label}: malformed tag list for {chart}")
            tags.extend(str(t) for t in page)
            nxt = next_link(resp.header("link"))
            if not nxt:
                return tags
            url = urljoin(url, nxt)
            if origin_of(url) != origin_of(self.base):
                raise SourceError(f"{self.label}: tag list pagination points to another host")
        raise SourceError(f"{self.label}: tag list of {chart} has more than {MAX_PAGES} pages")

    def versions(self, chart: str) -> VersionListing:
        releases: list[ChartRelease] = []
        skipped: list[str] = []
        seen: set[ChartVersion] = set()
        for tag in self.tags(chart):
            v = version_of(tag)
            if v is None:
                skipped.append(tag)
                continue
            if v in seen:
                continue
            seen.add(v)
            releases.append(ChartRelease(name=chart, version=v, urls=(f"{self.display_url}/{chart}:{tag}",)))
        releases.sort(key=lambda r: r.version, reverse=True)
        return VersionListing(tuple(releases), tuple(skipped))

    def _manifest(self, release: ChartRelease) -> dict[str, Any]:
        repo = self.repo_path(release.name)
        tag = tag_of(release.version)
        resp = self._get(
            f"{self.base}/v2/{quote(repo)}/manifests/{quote(tag)}",
            f"repository:{repo}:pull",
            headers={"Accept": MANIFEST_ACCEPT},
        )
        if resp.status == 404:
            raise SourceError(f"{self.label}: {release.name}:{tag} not found in the registry")
        try:
            doc = json.loads(resp.body)
        except (ValueError, RecursionError):
            raise SourceError(f"{self.label}: malformed manifest for {release.name}:{tag}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list):
            raise SourceError(f"{self.label}: {release.name}:{tag} is not an image manifest")
        return doc

    @staticmethod
    def _chart_layer(doc: dict[str, Any]) -> dict[str, Any] | None:
        for media in (HELM_CHART_MEDIA, LEGACY_CHART_MEDIA):
            for layer in doc.get("layers") or []:
                if isinstance(layer, dict) and layer.get("mediaType") == media:
                    return layer
        return None

    def describe(self, release: ChartRelease) -> ChartRelease:
        doc = self._manifest(release)
        layer = self._chart_layer(doc)
        digest = normalize_digest(layer.get("digest")) if layer else None
        annotations = doc.get("annotations") if isinstance(doc.get("annotations"), dict) else {}
        created = annotations.get("org.opencontainers.image.created")
        app_version = release.app_version
        kube_version = release.kube_version
        deprecated = release.deprecated
        chart_annotations = release.annotations
        config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
        if config.get("mediaType") == HELM_CONFIG_MEDIA and normalize_digest(config.get("digest")):
            repo = self.repo_path(release.name)
            resp = self._get(f"{self.base}/v2/{quote(repo)}/blobs/{config['digest']}", f"repository:{repo}:pull")
            if resp.status == 200:
                try:
                    meta = json.loads(resp.body)
                except ValueError:
                    meta = None
                if isinstance(meta, dict):
                    app_version = meta.get("appVersion") or app_version
                    kube_version = meta.get("kubeVersion") or kube_version
                    deprecated = bool(meta.get("deprecated", deprecated))
                    ann = meta.get("annotations")
                    if isinstance(ann, dict):
                        chart_annotations = tuple(sorted((str(k), str(v)) for k, v in ann.items()))
        return replace(
            release,
            digest=release.digest or digest,
            created=release.created or (str(created) if created else None),
            app_version=str(app_version) if app_version is not None else None,
            kube_version=str(kube_version) if kube_version is not None else None,
            deprecated=deprecated,
            annotations=chart_annotations,
        )

    def fetch(self, release: ChartRelease, dest: Path) -> str:
        doc = self._manifest(release)
        layer = self._chart_layer(doc)
        ref = f"{self.display_url}/{release.name}:{tag_of(release.version)}"
        if layer is None:
            raise SourceError(f"{ref}: not a Helm chart (no {HELM_CHART_MEDIA} layer)")
        published = normalize_digest(layer.get("digest"))
        if published is None:
            raise SourceError(f"{ref}: the chart layer has no sha256 digest")
        if release.digest and release.digest != published:
            raise IntegrityError(f"{ref}: digest mismatch: expected {release.digest}, the registry publishes {published}")
        repo = self.repo_path(release.name)

        def write(fh: BinaryIO) -> str | None:
            resp = self._get(f"{self.base}/v2/{quote(repo)}/blobs/{published}", f"repository:{repo}:pull", sink=fh)
            if resp.status != 200:
                raise SourceError(f"{ref}: chart layer {published} not found (HTTP {resp.status})")
            return resp.sha256

        return staged_write(dest, published, write, ref)
