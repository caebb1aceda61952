"""Hostile upstreams for the reliability suite: real servers on loopback that misbehave on cue.

`FaultyRepoServer` is a `ChartRepoServer` (same files, auth, ETag knobs) whose requests can be
scripted per path: `server.script("/index.yaml", status(503), status(503))` answers the next two
requests for that path with 503 and then serves normally again; `server.always(path, fault)`
misbehaves forever. Paths may be exact strings or compiled regular expressions.

`FaultProxy` puts the same fault table in front of another HTTP server (the real
`docker-registry` for the OCI path), forwarding whatever is not scripted, and can demand
registry credentials (basic, or the bearer-token flow of the distribution spec) itself.

Each fault is a small callable `fault(handler) -> bool` with a `kind` used for the suite's
figures; `server.injected` counts what was actually sent. Stalls wait on an event that
`stop()` sets, so a test never waits for its own stalled server.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import re
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterable, Pattern
from urllib.parse import unquote, urlsplit

from tests.support.httpserver import ChartRepoServer

Handler = BaseHTTPRequestHandler


@dataclass
class Fault:
    """One misbehaviour. `act(handler, body)` answers the request; `body` is what would
    have been served (the file, or the upstream's response), or None when there is none."""

    kind: str
    act: Callable[[Handler, "bytes | None"], None]

    def __call__(self, h: Handler) -> bool:
        _owner(h).count(self.kind)
        self.act(h, _real_body(h))
        h.close_connection = True
        return True


PASS = None  # in a script: serve this request normally


def _owner(h: Handler) -> "_Scripted":
    return h.server.repo  # type: ignore[attr-defined,no-any-return]


def _real_body(h: Handler) -> bytes | None:
    owner = _owner(h)
    getter = getattr(owner, "real_body", None)
    return getter(h) if getter else None


def _send(h: Handler, code: int, body: bytes = b"", headers: dict[str, str] | None = None,
          length: int | None = None) -> None:
    h.send_response(code)
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body) if length is None else length))
    h.send_header("Connection", "close")
    h.end_headers()


def _write(h: Handler, data: bytes) -> None:
    try:
        h.wfile.write(data)
        h.wfile.flush()
    except OSError:
        pass


def _hard_close(h: Handler) -> None:
    try:
        h.wfile.flush()
    except OSError:
        pass
    try:
        h.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# --- the catalogue of faults --------------------------------------------------------------


def status(code: int, *, headers: dict[str, str] | None = None, body: bytes = b"") -> Fault:
    def act(h: Handler, _: bytes | None) -> None:
        hdrs = dict(headers or {})
        if code == 401:
            hdrs.setdefault("WWW-Authenticate", 'Basic realm="charts"')
        _send(h, code, body, hdrs)
        if h.command != "HEAD":
            _write(h, body)

    return Fault(f"http-{code}", act)


def retry_after(code: int = 429, seconds: int | str = 1) -> Fault:
    f = status(code, headers={"Retry-After": str(seconds)})
    f.kind = f"http-{code}-retry-after"
    return f


def stall(seconds: float) -> Fault:
    """Send nothing at all for `seconds` (past the client's read timeout), then hang up."""

    def act(h: Handler, _: bytes | None) -> None:
        _owner(h).stopping.wait(seconds)
        _hard_close(h)

    return Fault("stall-before-headers", act)


def stall_body(seconds: float, *, fraction: float = 0.5) -> Fault:
    """Send headers and part of the body, then go silent for `seconds`, then hang up."""

    def act(h: Handler, real: bytes | None) -> None:
        data = real or b"x" * 4096
        cut = max(1, int(len(data) * fraction))
        _send(h, 200, length=len(data), headers={"Content-Type": _ctype(h)})
        _write(h, data[:cut])
        _owner(h).stopping.wait(seconds)
        _hard_close(h)

    return Fault("stall-mid-body", act)


def close_mid_body(*, fraction: float = 0.5) -> Fault:
    """Promise the whole body (Content-Length), send part of it, close the connection."""

    def act(h: Handler, real: bytes | None) -> None:
        data = real or b"x" * 4096
        cut = max(1, int(len(data) * fraction))
        _send(h, 200, length=len(data), headers={"Content-Type": _ctype(h)})
        _write(h, data[:cut])
        _hard_close(h)

    return Fault("close-mid-body", act)


def body(data: bytes, *, kind: str = "bad-body", content_type: str | None = None,
         headers: dict[str, str] | None = None) -> Fault:
    """Answer 200 with exactly `data` (a consistent Content-Length)."""

    def act(h: Handler, _: bytes | None) -> None:
        hdrs = {"Content-Type": content_type or _ctype(h)}
        hdrs.update(headers or {})
        _send(h, 200, data, hdrs)
        if h.command != "HEAD":
            _write(h, data)

    return Fault(kind, act)


def truncated(*, fraction: float = 0.6, inside_quote: bool = False) -> Fault:
    """The real body cut short, with a Content-Length that matches the cut (the HTTP layer is happy).

    `inside_quote=True` moves the cut to just inside the next quoted scalar after `fraction`
    (Helm quotes every `created:` time), so the document no longer parses; a cut between
    entries leaves a valid, shorter index that no client can tell from a real one."""

    def act(h: Handler, real: bytes | None) -> None:
        whole = real or b""
        cut = max(1, int(len(whole) * fraction))
        if inside_quote:
            q = min((i for i in (whole.find(b'"', cut), whole.find(b"'", cut)) if i != -1), default=-1)
            if q != -1:
                cut = q + 3
        data = whole[:cut]
        _send(h, 200, data, {"Content-Type": _ctype(h)})
        if h.command != "HEAD":
            _write(h, data)

    return Fault("truncated-body", act)


def oversized(declared: int = 8 << 30, *, send: int = 1 << 20) -> Fault:
    """Declare a gigantic body and start sending it (a hostile or broken mirror)."""

    def act(h: Handler, _: bytes | None) -> None:
        _send(h, 200, length=declared, headers={"Content-Type": _ctype(h)})
        chunk = b"# padding\n" * 6553
        sent = 0
        while sent < send and not _owner(h).stopping.is_set():
            try:
                h.wfile.write(chunk)
            except OSError:
                return
            sent += len(chunk)
        _hard_close(h)

    return Fault("oversized-body", act)


def trickle(seconds: float, *, pieces: int = 20, sent: threading.Event | None = None) -> Fault:
    """The real body, complete and correct, but spread over `seconds` (a slow mirror).
    `sent` is set once the last byte went out (tests time kills from it)."""

    def act(h: Handler, real: bytes | None) -> None:
        data = real or b""
        _send(h, 200, length=len(data), headers={"Content-Type": _ctype(h)})
        step = max(1, -(-len(data) // pieces))
        for i in range(0, len(data), step):
            _write(h, data[i : i + step])
            if _owner(h).stopping.wait(seconds / pieces):
                return
        if sent is not None:
            sent.set()

    return Fault("slow-body", act)


def drip(bytes_per_second: float = 1.0, *, headers_too: bool = False) -> Fault:
    """The real body one byte at a time at `bytes_per_second`, each byte well inside any read
    timeout, so only an overall deadline or a speed floor stops it. With `headers_too` the status
    line and headers drip as well (nothing of the answer is ever complete)."""

    def act(h: Handler, real: bytes | None) -> None:
        data = real or b""
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: {_ctype(h)}\r\nContent-Length: {len(data)}\r\n"
                "Connection: close\r\n\r\n").encode()
        if headers_too:
            data = head + data
        else:
            _write(h, head)
        for i in range(len(data)):
            _write(h, data[i : i + 1])
            if _owner(h).stopping.wait(1.0 / bytes_per_second):
                return

    return Fault("drip", act)


def corrupt(*, offset: int = -40) -> Fault:
    """The real bytes with one byte flipped: the published digest no longer matches."""

    def act(h: Handler, real: bytes | None) -> None:
        data = bytearray(real or b"\0")
        data[offset] ^= 0xFF
        _send(h, 200, bytes(data), {"Content-Type": _ctype(h)})
        if h.command != "HEAD":
            _write(h, bytes(data))

    return Fault("digest-mismatch", act)


def redirect(location: str | Callable[[Handler], str], *, code: int = 302, kind: str = "redirect") -> Fault:
    def act(h: Handler, _: bytes | None) -> None:
        loc = location(h) if callable(location) else location
        _send(h, code, headers={"Location": loc})

    return Fault(kind, act)


def redirect_loop(*, code: int = 302) -> Fault:
    """Redirect every request to itself plus a counter: the client must give up, not spin."""

    def act(h: Handler, _: bytes | None) -> None:
        path = urlsplit(h.path).path
        n = _owner(h).count("redirect-hop")
        _send(h, code, headers={"Location": f"{path}?hop={n}"})

    return Fault("redirect-loop", act)


def _ctype(h: Handler) -> str:
    path = urlsplit(h.path).path
    if path.endswith((".yaml", ".yml")):
        return "application/x-yaml"
    if "/manifests/" in path:
        return "application/vnd.oci.image.manifest.v1+json"
    if path.endswith((".json",)) or "/tags/list" in path:
        return "application/json"
    return "application/octet-stream"


# --- per-path scripts -----------------------------------------------------------------------


class _Script:
    def __init__(self, steps: Iterable[Fault | None], then: Fault | None) -> None:
        self.steps = list(steps)
        self.then = then
        self.lock = threading.Lock()

    def next(self) -> Fault | None:
        with self.lock:
            if self.steps:
                return self.steps.pop(0)
            return self.then


class _FaultTable(dict):  # type: ignore[type-arg]
    """`faults` of a ChartRepoServer: exact paths, or regular expressions, mapped to scripts.

    It stays a dict of path -> callable for code that sets `server.faults[path] = fn`."""

    def __init__(self) -> None:
        super().__init__()
        self.patterns: list[tuple[Pattern[str], Callable[[Handler], bool]]] = []

    def get(self, path: str, default=None):  # type: ignore[no-untyped-def, override]
        hit = super().get(path)
        if hit is not None:
            return hit
        for pattern, fn in self.patterns:
            if pattern.search(path):
                return fn
        return default


class _Scripted:
    """What both fault servers share: scripts, counters, the stop event."""

    faults: _FaultTable
    stopping: threading.Event
    injected: Counter[str]
    lock: threading.Lock

    def _init_scripts(self) -> None:
        self.faults = _FaultTable()
        self.stopping = threading.Event()
        self.injected = Counter()
        self.hit_counts: Counter[str] = Counter()

    def count(self, kind: str) -> int:
        with self.lock:
            self.injected[kind] += 1
            return self.injected[kind]

    def script(self, path: str | Pattern[str], *steps: Fault | None, then: Fault | None = PASS) -> None:
        """Answer the next requests for `path` with `steps` in order (None = serve normally), then `then`."""
        sc = _Script(steps, then)

        def run(h: Handler) -> bool:
            fault = sc.next()
            return fault(h) if fault is not None else False

        if isinstance(path, str):
            self.faults[path] = run
        else:
            self.faults.patterns = [(p, f) for p, f in self.faults.patterns if p.pattern != path.pattern]
            self.faults.patterns.append((path, run))

    def always(self, path: str | Pattern[str], fault: Fault) -> None:
        self.script(path, then=fault)

    def clear(self) -> None:
        self.faults.clear()
        self.faults.patterns.clear()

    def total_injected(self) -> int:
        with self.lock:
            return sum(v for k, v in self.injected.items() if k != "redirect-hop")


class FaultyRepoServer(_Scripted, ChartRepoServer):
    """A chart repository on loopback whose answers can be scripted per request."""

    def __init__(self, root: Path, **kw) -> None:  # type: ignore[no-untyped-def]
        ChartRepoServer.__init__(self, root, **kw)
        self._init_scripts()

    def real_body(self, h: Handler) -> bytes | None:
        path = unquote(urlsplit(h.path).path)
        target = (self.root / path.lstrip("/")).resolve()
        if str(target).startswith(str(self.root.resolve())) and target.is_file():
            return target.read_bytes()
        return None

    def hits(self, path: str) -> int:
        return sum(1 for p in self.paths_requested() if p == path)

    def stop(self) -> None:
        self.stopping.set()
        super().stop()


# --- a fault proxy in front of another server (the OCI registry) -------------------------------


class _ProxyHandler(BaseHTTPRequestHandler):
    server: "_ProxyServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._proxy()

    def do_HEAD(self) -> None:
        self._proxy()

    def _proxy(self) -> None:
        proxy = self.server.repo
        path = unquote(urlsplit(self.path).path)
        with proxy.lock:
            proxy.requests.append((self.command, path, dict(self.headers)))
        if path == "/token":
            return self._token()
        if not self._authorized():
            return
        fault = proxy.faults.get(path)
        if fault is not None and fault(self):
            return
        status_, headers, data = proxy.forward(self.command, self.path, self.headers)
        self.send_response(status_)
        for k, v in headers:
            if k.lower() in ("content-length", "connection", "transfer-encoding", "keep-alive"):
                continue
            if k.lower() == "location":
                v = v.replace(proxy.upstream, proxy.url)
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _authorized(self) -> bool:
        proxy = self.server.repo
        header = self.headers.get("Authorization", "")
        if proxy.require_auth is not None and proxy.token is None:
            want = "Basic " + base64.b64encode(":".join(proxy.require_auth).encode()).decode()
            if header == want:
                return True
            _send(self, 401, headers={"WWW-Authenticate": 'Basic realm="registry"'})
            return False
        if proxy.token is not None:
            if header == f"Bearer {proxy.token}":
                return True
            name = re.sub(r"^/v2/(.*?)/(tags|manifests|blobs)/.*$", r"\1", urlsplit(self.path).path)
            challenge = (
                f'Bearer realm="{proxy.url}/token",service="chartkeeper-test",'
                f'scope="repository:{name}:pull"'
            )
            _send(self, 401, headers={"WWW-Authenticate": challenge})
            return False
        return True

    def _token(self) -> None:
        """The distribution spec's token endpoint: basic credentials in, a bearer token out."""
        proxy = self.server.repo
        header = self.headers.get("Authorization", "")
        if proxy.require_auth is not None:
            want = "Basic " + base64.b64encode(":".join(proxy.require_auth).encode()).decode()
            if header != want:
                _send(self, 401, headers={"WWW-Authenticate": 'Basic realm="token"'})
                return
        data = json.dumps({"token": proxy.token, "access_token": proxy.token}).encode()
        _send(self, 200, data, {"Content-Type": "application/json"})
        self.wfile.write(data)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    repo: "FaultProxy"

    def handle_error(self, request, client_address):  # type: ignore[no-untyped-def]
        pass


class FaultProxy(_Scripted):
    """Forward HTTP requests to `upstream` (e.g. http://127.0.0.1:5000), injecting scripted faults.

    `require_auth=("user", "pw")` demands basic credentials; with `token="..."` as well the
    proxy runs the bearer-token flow instead (401 challenge -> /token with basic -> bearer).
    """

    def __init__(self, upstream: str, *, host: str = "127.0.0.1") -> None:
        self.upstream = upstream.rstrip("/")
        self.require_auth: tuple[str, str] | None = None
        self.token: str | None = None
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self._init_scripts()
        self._server = _ProxyServer((host, 0), _ProxyHandler)
        self._server.repo = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._cache: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {}

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def hostport(self) -> str:
        return self.url.split("://", 1)[1]

    def forward(self, method: str, target: str, headers) -> tuple[int, list[tuple[str, str]], bytes]:  # type: ignore[no-untyped-def]
        parts = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
        try:
            fwd = {k: v for k, v in headers.items() if k.lower() in ("accept", "range")}
            conn.request(method, target, headers=fwd)
            resp = conn.getresponse()
            data = resp.read()
            if resp.getheader("Content-Encoding") == "gzip":
                data = gzip.decompress(data)
            return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() != "content-encoding"], data
        finally:
            conn.close()

    def real_body(self, h: Handler) -> bytes | None:
        if h.command != "GET":
            return None
        st, _, data = self.forward("GET", h.path, h.headers)
        return data if st == 200 else None

    def paths_requested(self) -> list[str]:
        with self.lock:
            return [p for _, p, _ in self.requests]

    def hits(self, path: str) -> int:
        return sum(1 for p in self.paths_requested() if p == path)

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def loopback_alias_available(host: str = "127.0.0.2") -> bool:
    """Whether another loopback address can be bound (Linux routes all of 127/8 to lo)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


@dataclass
class Observed:
    """What a scripted run looked like from the server side (for assertions on retries)."""

    hits: int
    injected: dict[str, int] = field(default_factory=dict)
