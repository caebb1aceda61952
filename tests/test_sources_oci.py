"""OciSource against a real docker-registry (distribution 2.8) on 127.0.0.1."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from chartkeeper.errors import IntegrityError, SourceError
from chartkeeper.settings import Settings
from chartkeeper.sources import open_source
from chartkeeper.sources.credentials import env_key
from chartkeeper.sources.oci import OciSource, next_link, parse_challenge, tag_of
from tests.support.charts import package_chart, sha256_file, write_chart
from tests.support.oci import Registry, RegistryFront

pytestmark = pytest.mark.oci


def _push(registry: Registry, tmp_path: Path, name: str, versions: list[str], namespace: str) -> dict[str, dict]:
    out = {}
    for v in versions:
        chart = write_chart(tmp_path / "src" / f"{name}-{v}", name, v, app_version=f"app-{v}",
                            chart_extra={"kubeVersion": ">=1.25.0-0"})
        out[v] = registry.push_chart(package_chart(chart, tmp_path / "pkg"), namespace)
        out[v]["archive"] = tmp_path / "pkg" / f"{name}-{v}.tgz"
    return out


@pytest.fixture
def ns() -> str:
    return "t" + uuid.uuid4().hex[:10]  # the registry is shared by the session: one namespace per test


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(root=tmp_path, cache_dir=tmp_path / "cache", timeout=10, retries=1)


def test_versions_map_tags_and_skip_non_versions(oci_registry: Registry, tmp_path: Path, ns: str, settings: Settings) -> None:
    pushed = _push(oci_registry, tmp_path, "demo", ["1.0.0", "v1.1.0", "1.2.0+build.7", "2.0.0-rc.1"], ns)
    oci_registry.tag(f"{ns}/demo", "1.0.0", "latest")
    src = open_source(f"oci://{oci_registry.host}/{ns}", settings)
    assert isinstance(src, OciSource) and src.base.startswith("http://")  # loopback: plain HTTP
    listing = src.versions("demo")
    assert [str(r.version) for r in listing.releases] == ["2.0.0-rc.1", "1.2.0+build.7", "v1.1.0", "1.0.0"]
    assert listing.skipped_invalid == ("latest",)
    assert pushed["1.2.0+build.7"]["tag"] == "1.2.0_build.7" == tag_of(listing.releases[1].version)


def test_describe_and_fetch(oci_registry: Registry, tmp_path: Path, ns: str, settings: Settings) -> None:
    pushed = _push(oci_registry, tmp_path, "demo", ["1.2.0+build.7"], ns)["1.2.0+build.7"]
    src = open_source(f"oci://{oci_registry.host}/{ns}", settings)
    release = src.describe(src.versions("demo").releases[0])
    assert release.digest == pushed["layer"] == sha256_file(pushed["archive"])
    assert release.created == "2025-09-03T10:00:00Z"
    assert release.app_version == "app-1.2.0+build.7" and release.kube_version == ">=1.25.0-0"
    dest = tmp_path / "out" / "demo.tgz"
    assert src.fetch(release, dest) == pushed["layer"]
    assert dest.read_bytes() == pushed["archive"].read_bytes()


def test_fetch_refuses_a_digest_other_than_the_pinned_one(oci_registry: Registry, tmp_path: Path, ns: str, settings: Settings) -> None:
    from dataclasses import replace

    _push(oci_registry, tmp_path, "demo", ["1.0.0"], ns)
    src = open_source(f"oci://{oci_registry.host}/{ns}", settings)
    release = replace(src.versions("demo").releases[0], digest="sha256:" + "0" * 64)
    (tmp_path / "out").mkdir()
    with pytest.raises(IntegrityError, match="sha256:0000.*sha256:[0-9a-f]{64}"):
        src.fetch(release, tmp_path / "out" / "d.tgz")
    assert list((tmp_path / "out").iterdir()) == []


def test_unknown_chart(oci_registry: Registry, settings: Settings, ns: str) -> None:
    with pytest.raises(SourceError, match="no chart named 'ghost'"):
        open_source(f"oci://{oci_registry.host}/{ns}", settings).versions("ghost")


def test_plain_http_only_where_allowed() -> None:
    assert OciSource("oci://registry.example.invalid/x", Settings()).base == "https://registry.example.invalid"
    allowed = Settings(plain_http=("mirror.example.invalid:5000",))
    assert OciSource("oci://mirror.example.invalid:5000/x", allowed).base == "http://mirror.example.invalid:5000"
    assert OciSource("oci://localhost:5000/x", Settings()).base == "http://localhost:5000"


def test_basic_auth_registry(oci_registry_auth: Registry, tmp_path: Path, ns: str, settings: Settings, monkeypatch) -> None:
    pushed = _push(oci_registry_auth, tmp_path, "secure", ["0.1.0"], ns)["0.1.0"]
    url = f"oci://{oci_registry_auth.host}/{ns}"
    with pytest.raises(SourceError, match="wants credentials"):
        open_source(url, settings).versions("secure")
    user, password = oci_registry_auth.auth  # type: ignore[misc]
    key = env_key(oci_registry_auth.url)
    monkeypatch.setenv(key + "_USERNAME", user)
    monkeypatch.setenv(key + "_PASSWORD", "wrong-password")
    with pytest.raises(SourceError, match="refused the credentials") as err:
        open_source(url, settings).versions("secure")
    assert "wrong-password" not in str(err.value)
    monkeypatch.setenv(key + "_PASSWORD", password)
    src = open_source(url, settings)
    release = src.versions("secure").releases[0]
    assert src.fetch(release, tmp_path / "s.tgz") == pushed["layer"]


def test_basic_auth_from_helm_registry_config(oci_registry_auth: Registry, tmp_path: Path, ns: str, settings: Settings, monkeypatch) -> None:
    import base64
    import json

    _push(oci_registry_auth, tmp_path, "secure", ["0.2.0"], ns)
    user, password = oci_registry_auth.auth  # type: ignore[misc]
    cfg = tmp_path / "registry.json"
    cfg.write_text(json.dumps({"auths": {oci_registry_auth.host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}))
    monkeypatch.setenv("HELM_REGISTRY_CONFIG", str(cfg))
    assert [str(r.version) for r in open_source(f"oci://{oci_registry_auth.host}/{ns}", settings).versions("secure").releases] == ["0.2.0"]


def test_anonymous_bearer_token_flow(oci_registry: Registry, tmp_path: Path, ns: str, settings: Settings) -> None:
    pushed = _push(oci_registry, tmp_path, "public", ["1.0.0"], ns)["1.0.0"]
    with RegistryFront(oci_registry) as front:
        src = open_source(f"oci://{front.host}/{ns}", settings)
        release = src.versions("public").releases[0]
        assert src.fetch(src.describe(release), tmp_path / "p.tgz") == pushed["layer"]
        token_calls = [p for _, p, _ in front.requests if p.startswith("/token")]
        assert len(token_calls) == 1 and f"scope=repository%3A{ns}%2Fpublic%3Apull" in token_calls[0]


def test_bearer_token_needs_credentials(oci_registry: Registry, tmp_path: Path, ns: str, settings: Settings, monkeypatch) -> None:
    _push(oci_registry, tmp_path, "private", ["1.0.0"], ns)
    with RegistryFront(oci_registry, require_basic=("reader", "r3ader-Pass")) as front:
        url = f"oci://{front.host}/{ns}"
        with pytest.raises(SourceError, match="token server refused access"):
            open_source(url, settings).versions("private")
        monkeypatch.setenv(env_key(front.url) + "_USERNAME", "reader")
        monkeypatch.setenv(env_key(front.url) + "_PASSWORD", "r3ader-Pass")
        assert len(open_source(url, settings).versions("private").releases) == 1


def test_many_tags_are_paginated(oci_registry: Registry, tmp_path: Path, ns: str, settings: Settings) -> None:
    _push(oci_registry, tmp_path, "busy", ["1.0.0"], ns)
    tags = [f"1.{minor}.{patch}" for minor in range(12) for patch in range(10)]  # 120 tags
    for t in tags:
        if t != "1.0.0":
            oci_registry.tag(f"{ns}/busy", "1.0.0", t)
    with RegistryFront(oci_registry, tokens=False, page_size=25) as front:
        listing = open_source(f"oci://{front.host}/{ns}", settings).versions("busy")
        assert len(listing.releases) == 120 and str(listing.releases[0].version) == "1.11.9"
        assert front.pages_served == 5


def test_link_and_challenge_parsing() -> None:
    assert next_link('</v2/a/tags/list?n=2&last=b>; rel="next"') == "/v2/a/tags/list?n=2&last=b"
    assert next_link('<https://x/y>; rel="prev", <https://x/z>; rel=next') == "https://x/z"
    assert next_link(None) is None
    scheme, params = parse_challenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"')
    assert scheme == "bearer" and params == {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull"}
