"""A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1.

`Registry.start(tmp)` writes a config (optionally with htpasswd basic auth, bcrypt hashed),
starts the binary on a free loopback port and waits until `/v2/` answers. `push_chart`
uploads a real chart archive the way `helm push` does: config blob
(`application/vnd.cncf.helm.config.v1+json`, the Chart.yaml as JSON), the archive as the
`application/vnd.cncf.helm.chart.content.v1.tar+gzip` layer, then the OCI manifest under
the tag (`+` -> `_`).

`RegistryFront` puts a small real HTTP front (reverse proxy) before a registry for what
distribution 2.8 cannot do here: the bearer token flow (it answers `401 WWW-Authenticate:
Bearer realm=...` until a request carries a token its `/token` endpoint issued, anonymously
or only for basic credentials when `require_basic` is set, as Docker Hub, GHCR and Harbor
do; 2.8 needs a JWT key infrastructure for that), and tag list pagination by the
distribution spec (`n`, `last`, `Link: <...>; rel="next"`; 2.8 ignores `n` for tags).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml

REGISTRY_BINARY = "docker-registry"
HELM_CONFIG_MEDIA = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_MEDIA = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_MANIFEST_MEDIA = "application/vnd.oci.image.manifest.v1+json"


def registry_binary() -> str:
    found = shutil.which(REGISTRY_BINARY) or ("/usr/bin/docker-registry" if os.path.exists("/usr/bin/docker-registry") else None)
    if not found:
        raise RuntimeError(
            "the OCI tests need Debian's docker-registry binary: apt-get install -y docker-registry "
            "(scripts/test.sh installs it when run as root)"
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _htpasswd_line(user: str, password: str) -> str:
    import bcrypt

    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"


class Registry:
    """A running docker-registry. `auth=(user, password)` enables htpasswd basic auth."""

    def __init__(self, workdir: Path, auth: tuple[str, str] | None = None, *, access_log: bool = False) -> None:
        self.workdir = workdir
        self.auth = auth
        self.access_log = access_log  # every request as a line of `registry.log` (see `requests_logged`)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> "Registry":
        binary = registry_binary()
        storage = self.workdir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        cfg: dict = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": not self.access_log}},
            "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
        }
        if self.auth:
            htpasswd = self.workdir / "htpasswd"
            htpasswd.write_text(_htpasswd_line(*self.auth))
            cfg["auth"] = {"htpasswd": {"realm": "test-registry", "path": str(htpasswd)}}
        config = self.workdir / "config.yml"
        config.write_text(yaml.safe_dump(cfg))
        self.log = open(self.workdir / "registry.log", "wb")
        self.proc = subprocess.Popen([binary, "serve", str(config)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {(self.workdir / 'registry.log').read_text()[-2000:]}")
            try:
                status, _, _ = self.request("GET", "/v2/")
                if status in (200, 401):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("docker-registry did not start within 20 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def __enter__(self) -> "Registry":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests_logged(self) -> list[tuple[str, str, int]]:
        """(method, path with query, status) of every request so far (needs `access_log=True`)."""
        out = []
        for line in (self.workdir / "registry.log").read_text(errors="replace").splitlines():
            m = re.search(r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3}) ', line)
            if m:
                out.append((m.group(1), m.group(2), int(m.group(3))))
        return out

    # -- raw distribution API ---------------------------------------------------------------

    def _auth_header(self) -> dict[str, str]:
        if not self.auth:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()}

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            hdrs = dict(self._auth_header())
            hdrs.update(headers or {})
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, headers, body = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        if status != 202:
            raise RuntimeError(f"blob upload start: HTTP {status} {body[:200]!r}")
        location = headers["location"]
        parts = urlsplit(location)
        target = parts.path + "?" + (parts.query + "&" if parts.query else "") + f"digest={digest}"
        status, _, body = self.request(
            "PUT", target, data, {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
        )
        if status != 201:
            raise RuntimeError(f"blob upload: HTTP {status} {body[:200]!r}")
        return digest

    def push_manifest(self, repo: str, tag: str, manifest: dict) -> str:
        data = json.dumps(manifest, separators=(",", ":")).encode()
        status, _, body = self.request("PUT", f"/v2/{repo}/manifests/{tag}", data, {"Content-Type": OCI_MANIFEST_MEDIA})
        if status != 201:
            raise RuntimeError(f"manifest push {repo}:{tag}: HTTP {status} {body[:300]!r}")
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def push_chart(self, archive: Path, namespace: str = "charts", *, created: str | None = "2025-09-03T10:00:00Z") -> dict:
        """Push a chart archive like `helm push archive oci://<host>/<namespace>`; returns its refs."""
        data = archive.read_bytes()
        with tarfile.open(archive) as tar:
            member = next(m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml"))
            meta = yaml.safe_load(tar.extractfile(member).read())  # type: ignore[union-attr]
        name, version = meta["name"], str(meta["version"])
        repo = f"{namespace}/{name}" if namespace else name
        config = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
        config_digest = self.push_blob(repo, config)
        layer_digest = self.push_blob(repo, data)
        manifest: dict = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST_MEDIA,
            "config": {"mediaType": HELM_CONFIG_MEDIA, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": HELM_CHART_MEDIA, "digest": layer_digest, "size": len(data)}],
        }
        annotations = {"org.opencontainers.image.title": name, "org.opencontainers.image.version": version}
        if created:
            annotations["org.opencontainers.image.created"] = created
        manifest["annotations"] = annotations
        tag = version.replace("+", "_")
        manifest_digest = self.push_manifest(repo, tag, manifest)
        return {"repo": repo, "tag": tag, "layer": layer_digest, "manifest": manifest_digest, "config": config_digest}

    def tag(self, repo: str, src_tag: str, new_tag: str) -> None:
        """Point another tag at the manifest of `src_tag` (cheap way to make many tags)."""
        status, _, body = self.request("GET", f"/v2/{repo}/manifests/{src_tag}", headers={"Accept": OCI_MANIFEST_MEDIA})
        if status != 200:
            raise RuntimeError(f"manifest get: HTTP {status}")
        status, _, body2 = self.request("PUT", f"/v2/{repo}/manifests/{new_tag}", body, {"Content-Type": OCI_MANIFEST_MEDIA})
        if status != 201:
            raise RuntimeError(f"manifest tag {new_tag}: HTTP {status} {body2[:200]!r}")


# --- a bearer-token front for the registry ----------------------------------------------------


class _ProxyHandler(BaseHTTPRequestHandler):
    server: "_ProxyServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        front = self.server.front
        parts = urlsplit(self.path)
        with front.lock:
            front.requests.append((self.command, self.path, dict(self.headers)))
        if parts.path == "/token":
            if front.require_basic is not None:
                want = "Basic " + base64.b64encode(":".join(front.require_basic).encode()).decode()
                if self.headers.get("Authorization") != want:
                    self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"Content-Type": "application/json"})
                    return
            scope = parse_qs(parts.query).get("scope", [""])[0]
            token = secrets.token_hex(16)
            with front.lock:
                front.tokens[token] = scope
            self._send(200, json.dumps({"token": token, "expires_in": 300}).encode(), {"Content-Type": "application/json"})
            return
        header = self.headers.get("Authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else None
        with front.lock:
            ok = not front.tokens_required or (token is not None and token in front.tokens)
        if not ok:
            repo = parts.path[len("/v2/") :].split("/tags/")[0].split("/manifests/")[0].split("/blobs/")[0]
            challenge = f'Bearer realm="{front.url}/token",service="test-registry",scope="repository:{repo}:pull"'
            self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"WWW-Authenticate": challenge, "Content-Type": "application/json"})
            return
        if parts.path.endswith("/tags/list") and front.page_size:
            self._tags_page(parts.path, parse_qs(parts.query))
            return
        status, headers, body = front.registry.request("GET", self.path, headers={k: v for k, v in self.headers.items() if k.lower() in ("accept",)})
        out = {k: v for k, v in headers.items() if k in ("content-type", "docker-content-digest", "link", "etag")}
        self._send(status, body, out)

    do_HEAD = do_GET

    def _tags_page(self, path: str, query: dict[str, list[str]]) -> None:
        front = self.server.front
        status, headers, body = front.registry.request("GET", path)
        if status != 200:
            self._send(status, body, {"Content-Type": headers.get("content-type", "application/json")})
            return
        doc = json.loads(body)
        tags = sorted(doc.get("tags") or [])
        n = int(query.get("n", [str(front.page_size)])[0])
        n = min(n, front.page_size)
        last = query.get("last", [None])[0]
        if last is not None:
            tags = [t for t in tags if t > last]
        page, more = tags[:n], len(tags) > n
        out = {"Content-Type": "application/json"}
        if more:
            out["Link"] = f'<{path}?n={n}&last={page[-1]}>; rel="next"'
        with front.lock:
            front.pages_served += 1
        self._send(200, json.dumps({"name": doc.get("name"), "tags": page}).encode(), out)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    front: "RegistryFront"


class RegistryFront:
    def __init__(
        self,
        registry: Registry,
        *,
        tokens: bool = True,
        require_basic: tuple[str, str] | None = None,
        page_size: int | None = None,
    ) -> None:
        self.registry = registry
        self.tokens_required = tokens
        self.require_basic = require_basic
        self.page_size = page_size
        self.pages_served = 0
        self.tokens: dict[str, str] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self._server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.front = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def __enter__(self) -> "RegistryFront":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
