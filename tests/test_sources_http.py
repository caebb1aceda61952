"""HttpSource against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from chartkeeper.errors import IntegrityError, SourceError
from chartkeeper.masking import redact
from chartkeeper.settings import Settings
from chartkeeper.sources import open_source
from chartkeeper.sources.credentials import env_key
from chartkeeper.sources.http import HttpSource
from tests.support.charts import sha256_file
from tests.support.httpserver import ChartRepoServer
from tests.support.repo import make_repo

CHARTS = {
    "demo-operator": ["v1.0.0", "v1.1.0", "1.2.0", "1.3.0-rc.1"],
    "demo": ["0.1.0", "0.2.0"],
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(root=tmp_path, cache_dir=tmp_path / "cache", timeout=5, retries=2)


@pytest.fixture
def server(repo_server: ChartRepoServer) -> ChartRepoServer:
    make_repo(repo_server.root, CHARTS)
    return repo_server


def _hang_up(handler) -> bool:
    handler.connection.shutdown(socket.SHUT_RDWR)
    handler.close_connection = True
    return True


def _status(code: int, headers: dict[str, str] | None = None, times: int | None = None):
    left = [times]

    def fault(handler) -> bool:
        if left[0] is not None:
            if left[0] <= 0:
                return False
            left[0] -= 1
        handler.send_response(code)
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return True

    return fault


def test_versions_newest_first_with_mixed_v_prefix(server: ChartRepoServer, settings: Settings) -> None:
    listing = open_source(server.url, settings).versions("demo-operator")
    assert [str(r.version) for r in listing.releases] == ["1.3.0-rc.1", "1.2.0", "v1.1.0", "v1.0.0"]
    top = listing.releases[1]
    assert top.urls == (f"{server.url}/demo-operator-1.2.0.tgz",)
    assert top.digest == sha256_file(server.root / "demo-operator-1.2.0.tgz")
    assert top.created == "2025-09-03T10:00:00Z" and top.app_version == "app-1.2.0"


def test_invalid_versions_are_skipped_and_counted(repo_server: ChartRepoServer, settings: Settings) -> None:
    make_repo(repo_server.root, {"demo": ["1.0.0", "latest", "1.0"]})
    listing = open_source(repo_server.url, settings).versions("demo")
    assert [str(r.version) for r in listing.releases] == ["1.0.0"]
    assert sorted(listing.skipped_invalid) == ["1.0", "latest"]


def test_fetch_writes_the_verified_archive(server: ChartRepoServer, settings: Settings, tmp_path: Path) -> None:
    src = open_source(server.url, settings)
    release = next(r for r in src.versions("demo").releases if str(r.version) == "0.2.0")
    dest = tmp_path / "out" / "demo.tgz"
    digest = src.fetch(release, dest)
    assert digest == sha256_file(server.root / "demo-0.2.0.tgz") == sha256_file(dest)


def test_fetch_digest_mismatch_leaves_nothing(server: ChartRepoServer, settings: Settings, tmp_path: Path) -> None:
    src = open_source(server.url, settings)
    release = next(r for r in src.versions("demo").releases if str(r.version) == "0.2.0")
    (server.root / "demo-0.2.0.tgz").write_bytes(b"not the published archive")  # the server now lies
    out = tmp_path / "out"
    with pytest.raises(IntegrityError) as err:
        src.fetch(release, out / "demo.tgz")
    assert release.digest in str(err.value) and "sha256:" in str(err.value).split(release.digest)[1]
    assert list(out.iterdir()) == []


def test_absolute_archive_urls(repo_server: ChartRepoServer, settings: Settings, tmp_path: Path) -> None:
    with ChartRepoServer(tmp_path / "files") as files:
        make_repo(files.root, {"demo": ["1.0.0"]}, base_url=files.url)
        (repo_server.root / "index.yaml").write_bytes((files.root / "index.yaml").read_bytes())
        src = open_source(repo_server.url, settings)
        release = src.versions("demo").releases[0]
        assert release.urls == (f"{files.url}/demo-1.0.0.tgz",)
        src.fetch(release, tmp_path / "demo.tgz")
        assert "/demo-1.0.0.tgz" in files.paths_requested()


def test_unknown_chart_and_missing_index(server: ChartRepoServer, settings: Settings) -> None:
    with pytest.raises(SourceError, match="no chart named 'nope'"):
        open_source(server.url, settings).versions("nope")
    with pytest.raises(SourceError, match="HTTP 404"):
        open_source(server.url + "/elsewhere", settings).versions("demo")


def test_malformed_index(repo_server: ChartRepoServer, settings: Settings) -> None:
    (repo_server.root / "index.yaml").write_text("apiVersion: v1\nentries:\n  demo:\n  - name: demo\n    version: [1.0\n")
    with pytest.raises(SourceError, match=r"malformed index.*line"):
        open_source(repo_server.url, settings).versions("demo")


# --- cache and revalidation ---------------------------------------------------------------


def test_304_reuses_the_extract_without_reading_the_index(server: ChartRepoServer, settings: Settings) -> None:
    cold = HttpSource(server.url, settings)
    first = cold.versions("demo-operator")
    assert cold.stats == {"downloaded": 1, "not_modified": 0, "extracted": 1, "extract_hits": 0}

    # Damage the cached body: if the warm run parsed it, it would fail or differ.
    cached = next(settings.cache_dir.glob("index/*/index.yaml"))
    cached.write_bytes(b"entries: [this is not the index")

    warm = HttpSource(server.url, settings)
    second = warm.versions("demo-operator")
    assert server.not_modified == 1
    assert warm.stats == {"downloaded": 0, "not_modified": 1, "extracted": 0, "extract_hits": 1}
    assert second == first
    index_requests = [h for m, p, h in server.requests if p == "/index.yaml"]
    assert index_requests[-1].get("If-None-Match")


def test_a_new_chart_after_304_is_extracted_from_the_cached_body(server: ChartRepoServer, settings: Settings) -> None:
    HttpSource(server.url, settings).versions("demo-operator")
    warm = HttpSource(server.url, settings)
    assert [str(r.version) for r in warm.versions("demo").releases] == ["0.2.0", "0.1.0"]
    assert warm.stats["not_modified"] == 1 and warm.stats["extracted"] == 1


def test_changed_index_is_downloaded_again(server: ChartRepoServer, settings: Settings) -> None:
    HttpSource(server.url, settings).versions("demo")
    make_repo(server.root, {"demo": ["0.3.0"]})
    src = HttpSource(server.url, settings)
    assert str(src.versions("demo").releases[0].version) == "0.3.0"
    assert src.stats["downloaded"] == 1 and server.not_modified == 0


def test_one_download_per_source_instance(server: ChartRepoServer, settings: Settings) -> None:
    src = open_source(server.url, settings)
    src.versions("demo")
    src.versions("demo-operator")
    assert server.paths_requested().count("/index.yaml") == 1


def test_offline_uses_the_cache_only(server: ChartRepoServer, settings: Settings) -> None:
    from dataclasses import replace

    HttpSource(server.url, settings).versions("demo")
    n = len(server.requests)
    listing = HttpSource(server.url, replace(settings, offline=True)).versions("demo")
    assert len(listing.releases) == 2 and len(server.requests) == n


# --- retries, timeouts -------------------------------------------------------------------


def test_5xx_is_retried_then_succeeds(server: ChartRepoServer, settings: Settings) -> None:
    server.faults["/index.yaml"] = _status(503, times=2)
    assert len(open_source(server.url, settings).versions("demo").releases) == 2
    assert server.paths_requested().count("/index.yaml") == 3


def test_5xx_gives_up_after_the_retries(server: ChartRepoServer, settings: Settings) -> None:
    server.faults["/index.yaml"] = _status(500)
    src = HttpSource(server.url, settings)
    src.transport.sleep = lambda s: None  # keep the test quick; backoff values are tested below
    with pytest.raises(SourceError, match=r"HTTP 500 .*after 3 attempts"):
        src.versions("demo")
    assert server.paths_requested().count("/index.yaml") == 3


def test_429_honours_retry_after(server: ChartRepoServer, settings: Settings) -> None:
    server.faults["/index.yaml"] = _status(429, {"Retry-After": "3"}, times=1)
    src = HttpSource(server.url, settings)
    waits: list[float] = []
    src.transport.sleep = waits.append
    src.versions("demo")
    assert waits == [3.0]


def test_4xx_is_not_retried(server: ChartRepoServer, settings: Settings) -> None:
    server.faults["/index.yaml"] = _status(403)
    with pytest.raises(SourceError, match="HTTP 403"):
        open_source(server.url, settings).versions("demo")
    assert server.paths_requested().count("/index.yaml") == 1


def test_connection_reset_is_retried(server: ChartRepoServer, settings: Settings) -> None:
    calls = [0]

    def flaky(handler) -> bool:
        calls[0] += 1
        return _hang_up(handler) if calls[0] == 1 else False

    server.faults["/index.yaml"] = flaky
    assert len(open_source(server.url, settings).versions("demo").releases) == 2
    assert calls[0] == 2


def test_read_timeout(server: ChartRepoServer, tmp_path: Path) -> None:
    def slow(handler) -> bool:
        time.sleep(1.5)
        return _status(200)(handler)

    server.faults["/index.yaml"] = slow
    settings = Settings(root=tmp_path, cache_dir=tmp_path / "c", timeout=0.3, retries=0)
    started = time.monotonic()
    with pytest.raises(SourceError, match="timed out after 0.3s"):
        open_source(server.url, settings).versions("demo")
    assert time.monotonic() - started < 1.4


def test_connection_refused_is_a_source_error(settings: Settings) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceError, match="connection refused"):
        open_source(f"http://127.0.0.1:{port}", settings).versions("demo")


# --- credentials -------------------------------------------------------------------------

USER, PASSWORD, TOKEN = "robot", "pa55-Word-x9", "tok-0123456789abcdef"


def test_basic_auth_from_environment(server: ChartRepoServer, settings: Settings, monkeypatch) -> None:
    server.require_auth = (USER, PASSWORD)
    with pytest.raises(SourceError, match="HTTP 401") as err:
        open_source(server.url, settings).versions("demo")
    assert err.value.hint and "Credentials" in err.value.hint
    key = env_key(server.url)
    monkeypatch.setenv(key + "_USERNAME", USER)
    monkeypatch.setenv(key + "_PASSWORD", PASSWORD)
    src = open_source(server.url, settings)
    release = src.versions("demo").releases[0]
    src.fetch(release, settings.root / "x.tgz")  # the archive on the same origin gets the credentials too
    assert redact(f"failed with {PASSWORD}") == "failed with ***"


def test_bearer_token_from_environment(server: ChartRepoServer, settings: Settings, monkeypatch) -> None:
    server.require_token = TOKEN
    monkeypatch.setenv(env_key(server.url) + "_TOKEN", TOKEN)
    assert len(open_source(server.url, settings).versions("demo").releases) == 2
    assert server.requests[-1][2]["Authorization"] == f"Bearer {TOKEN}"


def test_basic_auth_from_helm_repositories_yaml(server: ChartRepoServer, settings: Settings, tmp_path: Path, monkeypatch) -> None:
    server.require_auth = (USER, PASSWORD)
    cfg = tmp_path / "helm" / "repositories.yaml"
    cfg.parent.mkdir()
    cfg.write_text(
        "apiVersion: v1\nrepositories:\n"
        f"- name: other\n  url: http://other.invalid/charts\n  username: nobody\n  password: nothing\n"
        f"- name: demo\n  url: {server.url}/\n  username: {USER}\n  password: {PASSWORD}\n"
    )
    monkeypatch.setenv("HELM_REPOSITORY_CONFIG", str(cfg))
    assert len(open_source(server.url, settings).versions("demo").releases) == 2


def test_helm_default_location_is_used(server: ChartRepoServer, settings: Settings, monkeypatch, tmp_path: Path) -> None:
    server.require_auth = (USER, PASSWORD)
    home_cfg = tmp_path / "xdg"
    (home_cfg / "helm").mkdir(parents=True)
    (home_cfg / "helm" / "repositories.yaml").write_text(
        f"repositories:\n- name: demo\n  url: {server.url}\n  username: {USER}\n  password: {PASSWORD}\n"
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home_cfg))
    assert len(open_source(server.url, settings).versions("demo").releases) == 2


def test_credentials_in_a_mirror_url_never_reach_messages_or_cache(server: ChartRepoServer, tmp_path: Path) -> None:
    server.require_auth = (USER, PASSWORD)
    host = server.url.split("://", 1)[1]
    upstream = "https://charts.example.invalid/stable"
    settings = Settings(root=tmp_path, cache_dir=tmp_path / "cache", retries=0,
                        mirrors=((upstream, f"http://{USER}:{PASSWORD}@{host}"),))
    src = open_source(upstream, settings)
    assert src.display_url == upstream
    assert len(src.versions("demo").releases) == 2
    with pytest.raises(SourceError) as err:
        src.versions("nope")
    assert PASSWORD not in str(err.value) and USER + ":" not in str(err.value)
    for f in (tmp_path / "cache").rglob("*"):
        if f.is_file():
            assert PASSWORD.encode() not in f.read_bytes()


def test_redirect_to_another_host_drops_credentials(repo_server: ChartRepoServer, settings: Settings, tmp_path: Path, monkeypatch) -> None:
    with ChartRepoServer(tmp_path / "cdn") as cdn:
        make_repo(cdn.root, {"demo": ["1.0.0"]})
        (repo_server.root / "index.yaml").write_bytes((cdn.root / "index.yaml").read_bytes())
        repo_server.require_auth = (USER, PASSWORD)
        repo_server.faults["/demo-1.0.0.tgz"] = _status(302, {"Location": f"{cdn.url}/demo-1.0.0.tgz"})
        monkeypatch.setenv(env_key(repo_server.url) + "_USERNAME", USER)
        monkeypatch.setenv(env_key(repo_server.url) + "_PASSWORD", PASSWORD)
        src = open_source(repo_server.url, settings)
        digest = src.fetch(src.versions("demo").releases[0], tmp_path / "demo.tgz")
        assert digest == sha256_file(cdn.root / "demo-1.0.0.tgz")
        archive_hits = [h for _, p, h in cdn.requests if p == "/demo-1.0.0.tgz"]
        assert archive_hits and all("Authorization" not in h for h in archive_hits)
        assert any("Authorization" in h for _, p, h in repo_server.requests if p == "/demo-1.0.0.tgz")


def test_redirect_loop_is_bounded(server: ChartRepoServer, settings: Settings) -> None:
    server.faults["/index.yaml"] = _status(302, {"Location": "/index.yaml"})
    with pytest.raises(SourceError, match="more than 5 redirects"):
        open_source(server.url, settings).versions("demo")


# --- mirrors -----------------------------------------------------------------------------


def test_mirror_serves_the_upstream_repository(server: ChartRepoServer, tmp_path: Path) -> None:
    upstream = "https://charts.example.invalid/stable"
    settings = Settings(root=tmp_path, cache_dir=tmp_path / "c", mirrors=((upstream, server.url),))
    src = open_source(upstream + "/", settings)
    listing = src.versions("demo")
    assert [str(r.version) for r in listing.releases] == ["0.2.0", "0.1.0"]
    assert src.fetch(listing.releases[0], tmp_path / "d.tgz") == listing.releases[0].digest


def test_mirror_rewrites_absolute_upstream_archive_urls(repo_server: ChartRepoServer, tmp_path: Path) -> None:
    upstream = "https://charts.example.invalid/stable"
    make_repo(repo_server.root, {"demo": ["1.0.0"]}, base_url=upstream)
    settings = Settings(root=tmp_path, cache_dir=tmp_path / "c", retries=0, mirrors=((upstream, repo_server.url),))
    src = open_source(upstream, settings)
    release = src.versions("demo").releases[0]
    assert release.urls == (f"{upstream}/demo-1.0.0.tgz",)
    src.fetch(release, tmp_path / "d.tgz")
    assert "/demo-1.0.0.tgz" in repo_server.paths_requested()


def test_gzip_encoded_index(server: ChartRepoServer, settings: Settings) -> None:
    import gzip

    body = (server.root / "index.yaml").read_bytes()

    def gz(handler) -> bool:
        assert "gzip" in handler.headers.get("Accept-Encoding", "")
        data = gzip.compress(body)
        handler.send_response(200)
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
        return True

    server.faults["/index.yaml"] = gz
    assert len(open_source(server.url, settings).versions("demo").releases) == 2


# --- TLS with an internal CA ------------------------------------------------------------------


def test_https_with_an_internal_ca_bundle(tmp_path: Path) -> None:
    from tests.support.tls import make_pki, server_context

    pki = make_pki(tmp_path / "pki")
    with ChartRepoServer(tmp_path / "tls-repo", ssl_context=server_context(pki)) as server:
        make_repo(server.root, {"demo": ["1.0.0"]})
        base = Settings(root=tmp_path, cache_dir=tmp_path / "c", retries=0, timeout=5)
        with pytest.raises(SourceError, match="not trusted") as err:
            open_source(server.url, base).versions("demo")
        assert err.value.hint and "caBundle" in err.value.hint
        from dataclasses import replace

        wrong = replace(base, ca_bundle=str(pki.other_ca_pem))
        with pytest.raises(SourceError, match="not trusted"):
            open_source(server.url, wrong).versions("demo")
        good = replace(base, ca_bundle=str(pki.ca_pem))
        src = open_source(server.url, good)
        release = src.versions("demo").releases[0]
        assert src.fetch(release, tmp_path / "d.tgz") == release.digest


def test_https_redirect_to_plain_http_is_refused(tmp_path: Path, repo_server: ChartRepoServer) -> None:
    from tests.support.tls import make_pki, server_context

    pki = make_pki(tmp_path / "pki")
    make_repo(repo_server.root, {"demo": ["1.0.0"]})
    with ChartRepoServer(tmp_path / "tls-repo", ssl_context=server_context(pki)) as server:
        server.faults["/index.yaml"] = _status(302, {"Location": f"{repo_server.url}/index.yaml"})
        settings = Settings(root=tmp_path, cache_dir=tmp_path / "c", retries=0, ca_bundle=str(pki.ca_pem))
        with pytest.raises(SourceError, match="refusing a redirect from HTTPS"):
            open_source(server.url, settings).versions("demo")
