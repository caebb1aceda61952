"""The fault-injecting servers do what the reliability suite relies on them to do.

Checked with the standard library's own HTTP client, so a later failure of chartkeeper
against them is chartkeeper's, not the fixture's."""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import faults as F
from tests.support.faults import FaultyRepoServer, loopback_alias_available
from tests.support.tls import make_pki, server_context

pytestmark = pytest.mark.reliability


def _get(url: str, timeout: float = 5.0, path: str | None = None) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    conn.request("GET", path or parts.path or "/")
    return conn.getresponse()


@pytest.fixture
def server(tmp_path: Path):
    (tmp_path / "index.yaml").write_text("apiVersion: v1\nentries: {}\n" + "# pad\n" * 200)
    (tmp_path / "a.tgz").write_bytes(bytes(range(256)) * 16)
    with FaultyRepoServer(tmp_path) as s:
        yield s


def test_script_runs_in_order_then_serves(server: FaultyRepoServer) -> None:
    server.script("/index.yaml", F.status(503), F.retry_after(429, 2), F.PASS, F.status(404))
    assert _get(server.url + "/index.yaml").status == 503
    r = _get(server.url + "/index.yaml")
    assert r.status == 429 and r.getheader("Retry-After") == "2"
    assert _get(server.url + "/index.yaml").status == 200
    assert _get(server.url + "/index.yaml").status == 404
    assert _get(server.url + "/index.yaml").status == 200
    assert server.hits("/index.yaml") == 5
    assert server.injected == {"http-503": 1, "http-429-retry-after": 1, "http-404": 1}


def test_regex_paths_and_always(server: FaultyRepoServer) -> None:
    server.always(re.compile(r"\.tgz$"), F.status(500))
    for _ in range(3):
        assert _get(server.url + "/a.tgz").status == 500
    assert _get(server.url + "/index.yaml").status == 200


def test_close_mid_body_is_an_incomplete_read(server: FaultyRepoServer) -> None:
    server.always("/a.tgz", F.close_mid_body(fraction=0.25))
    r = _get(server.url + "/a.tgz")
    with pytest.raises(http.client.IncompleteRead):
        r.read()


def test_stall_trips_the_client_timeout_and_stop_is_prompt(tmp_path: Path) -> None:
    (tmp_path / "index.yaml").write_text("x" * 1000)
    s = FaultyRepoServer(tmp_path).start()
    s.always("/index.yaml", F.stall(60))
    with pytest.raises((socket.timeout, TimeoutError)):
        _get(s.url + "/index.yaml", timeout=0.5)
    s.always("/index.yaml", F.stall_body(60))
    r = _get(s.url + "/index.yaml", timeout=0.5)
    with pytest.raises((socket.timeout, TimeoutError)):
        r.read()
    t0 = time.monotonic()
    s.stop()
    assert time.monotonic() - t0 < 5


def test_truncated_corrupt_and_oversized(server: FaultyRepoServer) -> None:
    whole = (server.root / "a.tgz").read_bytes()
    server.script("/a.tgz", F.truncated(fraction=0.5), F.corrupt(), F.oversized(declared=10 << 30, send=1 << 16))
    assert _get(server.url + "/a.tgz").read() == whole[: len(whole) // 2]
    bad = _get(server.url + "/a.tgz").read()
    assert len(bad) == len(whole) and bad != whole
    r = _get(server.url + "/a.tgz")
    assert int(r.getheader("Content-Length")) == 10 << 30
    assert len(r.read(1 << 15)) == 1 << 15


def test_redirect_loop_never_ends(server: FaultyRepoServer) -> None:
    server.always("/index.yaml", F.redirect_loop())
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(server.url + "/index.yaml", timeout=5)
    assert exc.value.code in (301, 302)
    assert server.hits("/index.yaml") > 5


def test_redirect_to_another_loopback_host(tmp_path: Path, server: FaultyRepoServer) -> None:
    if not loopback_alias_available():
        pytest.skip("127.0.0.2 cannot be bound on this machine")
    other_root = tmp_path / "other"
    other_root.mkdir()
    (other_root / "index.yaml").write_text("moved: true\n")
    with FaultyRepoServer(other_root, host="127.0.0.2") as other:
        assert other.url.startswith("http://127.0.0.2:")
        server.always("/index.yaml", F.redirect(other.url + "/index.yaml", kind="redirect-other-host"))
        with urllib.request.urlopen(server.url + "/index.yaml", timeout=5) as r:
            assert r.read() == b"moved: true\n"
        assert other.hits("/index.yaml") == 1


def test_tls_unknown_ca_refused_and_custom_bundle_accepted(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    root = tmp_path / "repo"
    root.mkdir()
    (root / "index.yaml").write_text("ok: 1\n")
    with FaultyRepoServer(root, ssl_context=server_context(pki)) as s:
        assert s.url.startswith("https://127.0.0.1:")
        with pytest.raises(urllib.error.URLError) as exc:
            urllib.request.urlopen(s.url + "/index.yaml", timeout=5, context=ssl.create_default_context())
        assert isinstance(exc.value.reason, ssl.SSLCertVerificationError)
        wrong = ssl.create_default_context(cafile=str(pki.other_ca_pem))
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(s.url + "/index.yaml", timeout=5, context=wrong)
        right = ssl.create_default_context(cafile=str(pki.ca_pem))
        with urllib.request.urlopen(s.url + "/index.yaml", timeout=5, context=right) as r:
            assert r.read() == b"ok: 1\n"
