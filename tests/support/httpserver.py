"""A real HTTP chart repository on 127.0.0.1 for tests: files from a folder, plus knobs.

Knobs are plain attributes the test sets: `require_auth=("user", "pass")` or
`require_token="abc"`, `faults[path] = callable(handler) -> bool` (return True when the
fault answered the request). Every request is logged in `requests` as (method, path, headers).
ETag and Last-Modified are sent, and If-None-Match/If-Modified-Since answered with 304.
`host=` binds another loopback address (127.0.0.2 for "another host"); `ssl_context=` serves
HTTPS (see tests/support/tls.py). tests/support/faults.py builds scripted faults on top.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlsplit


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def _authorized(self) -> bool:
        repo = self.server.repo
        header = self.headers.get("Authorization", "")
        if repo.require_auth is not None:
            want = "Basic " + base64.b64encode(":".join(repo.require_auth).encode()).decode()
            return header == want
        if repo.require_token is not None:
            return header == f"Bearer {repo.require_token}"
        return True

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        repo = self.server.repo
        path = unquote(urlsplit(self.path).path)
        with repo.lock:
            repo.requests.append((self.command, path, dict(self.headers)))
        fault = repo.faults.get(path)
        if fault is not None and fault(self):
            return
        if not self._authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        target = (repo.root / path.lstrip("/")).resolve()
        if not str(target).startswith(str(repo.root.resolve())) or not target.is_file():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = target.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        mtime = email.utils.formatdate(target.stat().st_mtime, usegmt=True)
        if repo.conditional and (self.headers.get("If-None-Match") == etag):
            with repo.lock:  # count before answering: the client may assert as soon as it has the 304
                repo.not_modified += 1
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-yaml" if path.endswith(".yaml") else "application/gzip")
        self.send_header("Content-Length", str(len(data)))
        if repo.conditional:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", mtime)
        self.end_headers()
        if body:
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    repo: "ChartRepoServer"
    ssl_context: "ssl.SSLContext | None" = None

    def get_request(self):  # type: ignore[no-untyped-def]
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            # Handshake in the handler thread, so a client that rejects the certificate (or
            # stalls) never blocks the accept loop.
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):  # type: ignore[no-untyped-def]
        pass  # refused handshakes and reset connections are what fault tests provoke


class ChartRepoServer:
    """Serve `root` on http://127.0.0.1:<port>/ until `stop()` (or the `with` block ends)."""

    def __init__(self, root: Path, *, host: str = "127.0.0.1", ssl_context: "ssl.SSLContext | None" = None) -> None:
        self.root = root
        self.require_auth: tuple[str, str] | None = None
        self.require_token: str | None = None
        self.conditional = True
        self.faults: dict[str, Callable[[BaseHTTPRequestHandler], bool]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.not_modified = 0
        self.lock = threading.Lock()
        self._server = _Server((host, 0), _Handler)
        self._server.repo = self
        self._server.ssl_context = ssl_context
        self.tls = ssl_context is not None
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def start(self) -> "ChartRepoServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "ChartRepoServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def paths_requested(self) -> list[str]:
        with self.lock:
            return [p for _, p, _ in self.requests]
