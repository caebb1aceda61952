"""A small HTTP client for chart sources, on the standard library (fast to import, no extra deps).

What it does that `urllib.request` would not do the way we need:

* timeouts on connect and read (`Settings.timeout`), TLS with an extra CA bundle;
* an overall deadline per request, retries included (`Settings.request_deadline`), extended for
  a big body by its size at `Settings.min_speed`, and a minimum speed once `timeout` seconds
  have passed: a server that trickles bytes fails as "too slow" instead of hanging the run;
* bounded retries with exponential backoff on 5xx, 429 (honouring `Retry-After`), connection
  resets and timeouts -- never on 4xx;
* a bounded number of redirects, and credentials that are only ever sent to the origin they
  belong to (a redirect to another host, e.g. a blob store, gets no `Authorization`);
* bodies read into memory (optionally gzip-encoded) or streamed into a file while hashing;
  request bodies sent from bytes or a seekable file (rewound for a retry; its size extends the deadline
  like a big download's).

Errors are `SourceError` with a one-line message that never carries a credential.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Callable, Mapping
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from chartkeeper.errors import SourceError
from chartkeeper.masking import redact

if TYPE_CHECKING:
    import ssl

    from chartkeeper.settings import Settings

USER_AGENT = "chartkeeper"
MAX_REDIRECTS = 5
MAX_BODY = 1 << 30  # an index, manifest or chart archive over 1 GiB is hostile, not a repository
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5  # seconds; doubles per attempt
BACKOFF_MAX = 8.0
RETRY_AFTER_MAX = 30.0
_CHUNK = 1 << 16
_SEND_BLOCK = 1 << 20  # an image layer upload sent 8 KiB at a time (http.client's default) is CPU-bound


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port): the unit credentials are bound to."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.scheme, (parts.hostname or "").lower(), port)


def strip_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """The URL without `user:pass@`, and the user and password it carried (percent-decoded)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    user = unquote(parts.username) if parts.username is not None else None
    pw = unquote(parts.password) if parts.password is not None else None
    return clean, user, pw


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    url: str  # after redirects
    sha256: str | None = None  # "sha256:<hex>" of a body streamed into a sink

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class TlsOptions:
    ca_files: tuple[str, ...] = ()
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False


@dataclass
class Transport:
    """One per source. Thread-safe: every request opens its own connection."""

    settings: "Settings"
    label: str  # the source's display URL, for messages
    tls: TlsOptions = field(default_factory=TlsOptions)
    sleep: Callable[[float], None] = time.sleep
    _ssl_context: "ssl.SSLContext | None" = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # -- connections -------------------------------------------------------------------

    def _context(self) -> "ssl.SSLContext":
        with self._lock:
            if self._ssl_context is None:
                ctx = ssl.create_default_context()
                cafiles = list(self.tls.ca_files)
                if self.settings.ca_bundle:
                    cafiles.insert(0, self.settings.ca_bundle)
                for ca in cafiles:
                    try:
                        ctx.load_verify_locations(cafile=ca)
                    except (OSError, ssl.SSLError) as exc:
                        raise SourceError(f"{self.label}: cannot load CA bundle {ca} ({exc})") from None
                if self.tls.cert_file:
                    try:
                        ctx.load_cert_chain(self.tls.cert_file, self.tls.key_file)
                    except (OSError, ssl.SSLError) as exc:
                        raise SourceError(f"{self.label}: cannot load client certificate ({exc})") from None
                if self.tls.insecure:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                self._ssl_context = ctx
            return self._ssl_context

    def _connection(self, url: str) -> http.client.HTTPConnection:
        parts = urlsplit(url)
        host = parts.hostname or ""
        timeout = self.settings.timeout
        if parts.scheme == "https":
            return http.client.HTTPSConnection(host, parts.port or 443, timeout=timeout, context=self._context(),
                                               blocksize=_SEND_BLOCK)
        if parts.scheme == "http":
            return http.client.HTTPConnection(host, parts.port or 80, timeout=timeout, blocksize=_SEND_BLOCK)
        raise SourceError(f"{self.label}: unsupported URL scheme in {redact(url)}")

    # -- one request, with retries and redirects ------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: Mapping[str, str] | None = None,
        auth_origin: tuple[str, str, int] | None = None,
        sink: BinaryIO | None = None,
        accept_gzip: bool = False,
        statuses: tuple[int, ...] = (200,),
        body: bytes | BinaryIO | None = None,
    ) -> Response:
        """Send a request; follow redirects; retry transient failures.

        `auth` headers are added only while the URL's origin equals `auth_origin` (default:
        the origin of `url`). Any status in `statuses` is returned; 401/403/404 and the like
        are returned too when listed, otherwise they raise `SourceError`.
        """
        auth_origin = auth_origin or origin_of(url)
        current = url
        redirects = 0
        attempt = 0
        budget = _Budget(time.monotonic(), self.settings.request_deadline)
        size = _body_size(body)
        if size and self.settings.min_speed > 0:
            budget.extend(self.settings.timeout + size / self.settings.min_speed)  # an upload takes its time too
        while True:
            hdrs = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip" if accept_gzip else "identity"}
            if body is not None:
                hdrs["Content-Length"] = str(size)
            hdrs.update(headers or {})
            if auth and origin_of(current) == auth_origin:
                hdrs.update(auth)
            if body is not None and not isinstance(body, bytes):
                body.seek(0)  # a retry (or a redirect, or the request after an auth challenge) sends it all again
            try:
                resp = self._once(method, current, hdrs, sink, budget, body)
            except _Transient as exc:
                if attempt >= self.settings.retries:
                    raise SourceError(f"{self.label}: {exc} ({_tries(attempt)})") from None
                if budget.remaining() < _backoff(attempt) + 1:
                    raise SourceError(f"{self.label}: {exc} ({_tries(attempt)}; the {budget.deadline:g}s "
                                      "deadline leaves no time for another)", hint=_DEADLINE_HINT) from None
                self.sleep(_backoff(attempt))
                attempt += 1
                if sink is not None:  # the broken attempt's bytes must not stay in front of the retry's
                    sink.seek(0)
                    sink.truncate()
                continue
            if resp.status in (301, 302, 303, 307, 308) and resp.status not in statuses:
                location = resp.header("location")
                if not location:
                    raise SourceError(f"{self.label}: HTTP {resp.status} without a Location header")
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise SourceError(f"{self.label}: more than {MAX_REDIRECTS} redirects from {_short(url)}")
                nxt = urljoin(current, location)
                if urlsplit(current).scheme == "https" and urlsplit(nxt).scheme != "https":
                    raise SourceError(f"{self.label}: refusing a redirect from HTTPS to {_short(nxt)}")
                current = nxt
                if resp.status == 303:
                    method = "GET"
                if sink is not None:
                    sink.seek(0)
                    sink.truncate()
                continue
            wait = max(_backoff(attempt), _retry_after(resp.header("retry-after")))
            if (resp.status in RETRY_STATUSES and resp.status not in statuses and attempt < self.settings.retries
                    and budget.remaining() >= wait + 1):
                self.sleep(wait)
                attempt += 1
                if sink is not None:
                    sink.seek(0)
                    sink.truncate()
                continue
            if resp.status not in statuses:
                extra = f" ({_tries(attempt)})" if attempt else ""
                raise SourceError(f"{self.label}: HTTP {resp.status} from {_short(current)}{extra}", hint=_hint(resp.status))
            if resp.header("content-encoding") == "gzip" and sink is None:
                try:
                    plain = gzip.decompress(resp.body)
                except (OSError, EOFError) as exc:
                    raise SourceError(f"{self.label}: corrupt gzip body from {_short(current)} ({exc})") from None
                resp = Response(resp.status, resp.headers, plain, resp.url, resp.sha256)
            return resp

    def _once(self, method: str, url: str, headers: dict[str, str], sink: BinaryIO | None, budget: "_Budget",
              body: bytes | BinaryIO | None = None) -> Response:
        parts = urlsplit(url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn = self._connection(url)
        watchdog = _Watchdog(conn)
        try:
            return self._exchange(conn, watchdog, method, url, target, headers, sink, budget, body)
        except (SourceError, _Transient, OSError):
            if watchdog.fired:  # the watchdog shut the socket: whatever broke, the cause is the clock
                raise self._too_slow(url, budget) from None
            raise
        finally:
            watchdog.cancel()
            conn.close()

    def _too_slow(self, url: str, budget: "_Budget") -> SourceError:
        return SourceError(
            f"{self.label}: too slow: {_short(url)} did not answer in full within the {budget.deadline:g}s deadline",
            hint=_DEADLINE_HINT,
        )

    def _exchange(self, conn: http.client.HTTPConnection, watchdog: "_Watchdog", method: str, url: str, target: str,
                  headers: dict[str, str], sink: BinaryIO | None, budget: "_Budget",
                  body: bytes | BinaryIO | None = None) -> Response:
        started = time.monotonic()
        floor = _SpeedFloor(self, url, started)
        try:
            if budget.remaining() <= 0:
                raise self._too_slow(url, budget)
            conn.connect()  # bounded by `timeout`; the watchdog guards everything after it
            watchdog.arm(budget.remaining())
            conn.request(method, target, body=body, headers=headers)
            raw = conn.getresponse()
        except (socket.timeout, TimeoutError):
            raise _Transient(f"timed out after {self.settings.timeout:g}s talking to {_short(url)}") from None
        except ConnectionRefusedError:
            raise SourceError(f"{self.label}: connection refused by {_short(url)}") from None
        except socket.gaierror as exc:
            raise SourceError(f"{self.label}: cannot resolve host of {_short(url)} ({exc.strerror})") from None
        except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine) as exc:
            raise _Transient(f"connection to {_short(url)} failed ({type(exc).__name__})") from None
        except OSError as exc:
            if isinstance(exc, ssl.SSLCertVerificationError):
                raise SourceError(
                    f"{self.label}: TLS certificate of {_short(url)} not trusted ({exc.verify_message})",
                    hint="set caBundle in chartkeeper.yaml (or CHARTKEEPER_CA_BUNDLE) to your internal CA",
                ) from None
            if isinstance(exc, ssl.SSLError):
                raise SourceError(f"{self.label}: TLS error with {_short(url)} ({exc.reason})") from None
            raise _Transient(f"network error with {_short(url)} ({exc})") from None
        hdrs: dict[str, str] = {}
        for k, v in raw.getheaders():
            k = k.lower()
            hdrs[k] = f"{hdrs[k]}, {v}" if k in hdrs else v
        status = raw.status
        length = hdrs.get("content-length", "")
        if length.isdigit() and self.settings.min_speed > 0 and budget.extend(
                time.monotonic() - budget.start + self.settings.timeout + int(length) / self.settings.min_speed):
            watchdog.arm(budget.remaining())  # a big archive may take longer than a small index
        if method == "HEAD" or status in (204, 304) or (300 <= status < 400) or status >= 400 or sink is None:
            try:
                body = _read_all(raw, self.label, floor)
            except (socket.timeout, TimeoutError):
                raise _Transient(f"timed out reading from {_short(url)}") from None
            except (ConnectionError, http.client.IncompleteRead) as exc:
                raise _Transient(f"connection to {_short(url)} broke mid-body ({type(exc).__name__})") from None
            return Response(status, hdrs, body, url)
        digest = hashlib.sha256()
        total = 0
        try:
            while True:
                chunk = raw.read1(_CHUNK)  # one socket read: the speed floor sees a trickle
                if not chunk:
                    break
                total += len(chunk)
                floor.check(total)
                if total > MAX_BODY:  # a hostile server must not fill the disk
                    raise SourceError(f"{self.label}: download from {_short(url)} is over the {MAX_BODY} byte limit")
                digest.update(chunk)
                sink.write(chunk)
            _ensure_complete(raw)
        except (socket.timeout, TimeoutError):
            raise _Transient(f"timed out reading from {_short(url)}") from None
        except (ConnectionError, http.client.IncompleteRead) as exc:
            raise _Transient(f"connection to {_short(url)} broke mid-download ({type(exc).__name__})") from None
        return Response(status, hdrs, b"", url, "sha256:" + digest.hexdigest())


class _Transient(Exception):
    """A failure worth retrying (reset, timeout)."""


_DEADLINE_HINT = "a stalled or throttled mirror? raise deadline:/minSpeed: in chartkeeper.yaml if the link is just slow"


@dataclass
class _Budget:
    """The time one request may take, retries and backoff included."""

    start: float
    deadline: float

    def remaining(self) -> float:
        return self.start + self.deadline - time.monotonic()

    def extend(self, seconds: float) -> bool:
        """Allow at least `seconds` from the start (a big body at the minimum speed); True when it grew."""
        if seconds <= self.deadline:
            return False
        self.deadline = seconds
        return True


class _Watchdog:
    """Shuts the connection's socket when the request's time is up. Socket timeouts bound each
    read, not their sum: only a clock outside the reading thread stops a server that sends one
    byte just before every timeout."""

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.conn = conn
        self.fired = False
        self._timer: threading.Timer | None = None

    def arm(self, seconds: float) -> None:
        self.cancel()
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@dataclass
class _SpeedFloor:
    """Once `timeout` seconds have passed, a body arriving slower than `min_speed` fails."""

    transport: "Transport"
    url: str
    started: float

    def check(self, received: int) -> None:
        settings = self.transport.settings
        elapsed = time.monotonic() - self.started
        if settings.min_speed > 0 and elapsed > settings.timeout and received / elapsed < settings.min_speed:
            raise SourceError(
                f"{self.transport.label}: too slow: {received} bytes in {elapsed:.0f}s from {_short(self.url)} "
                f"(below the minimum of {_human_rate(settings.min_speed)})",
                hint=_DEADLINE_HINT,
            )


def _human_rate(bps: float) -> str:
    return f"{bps / 1024:g} KiB/s" if bps >= 1024 else f"{bps:g} B/s"


def _ensure_complete(raw: http.client.HTTPResponse) -> None:
    # HTTPResponse.read(n) returns b"" when the server hangs up early instead of raising: a body
    # shorter than its Content-Length is a broken transfer (retried), never a short document.
    if raw.length:  # bytes still owed; None when there was no Content-Length
        raise http.client.IncompleteRead(b"", raw.length)


def _read_all(raw: http.client.HTTPResponse, label: str, floor: "_SpeedFloor") -> bytes:
    length = raw.getheader("Content-Length")
    if length and length.isdigit() and int(length) > MAX_BODY:
        raise SourceError(f"{label}: response of {length} bytes is over the {MAX_BODY} byte limit")
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = raw.read1(1 << 20)  # one socket read at a time, so a trickle is seen as one
        if not chunk:
            break
        total += len(chunk)
        floor.check(total)
        if total > MAX_BODY:
            raise SourceError(f"{label}: response is over the {MAX_BODY} byte limit")
        chunks.append(chunk)
    _ensure_complete(raw)
    return b"".join(chunks)


def _body_size(body: bytes | BinaryIO | None) -> int:
    """A request body's length: bytes, or a whole seekable file (always sent from its start)."""
    if body is None:
        return 0
    if isinstance(body, bytes):
        return len(body)
    return body.seek(0, 2)


def _backoff(attempt: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_BASE * (2**attempt))


def _retry_after(value: str | None) -> float:
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return min(RETRY_AFTER_MAX, float(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, min(RETRY_AFTER_MAX, when.timestamp() - time.time()))
    except (TypeError, ValueError):
        return 0.0


def _tries(attempt: int) -> str:
    return f"after {attempt + 1} attempt{'s' if attempt else ''}"


def _short(url: str) -> str:
    """The URL without query string or credentials (query strings carry signed tokens)."""
    parts = urlsplit(strip_userinfo(url)[0])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _hint(status: int) -> str | None:
    if status == 401:
        return "credentials missing or wrong (see README: Credentials)"
    if status == 403:
        return "the credentials have no access to this repository"
    return None
