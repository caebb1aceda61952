"""LocalSource: an offline bundle (folder or file:// URL with index.yaml and archives)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chartkeeper.errors import IntegrityError, SourceError
from chartkeeper.settings import Settings
from chartkeeper.sources import open_source
from chartkeeper.sources.local import LocalSource
from tests.support.charts import sha256_file
from tests.support.repo import make_repo


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    make_repo(tmp_path / "bundle", {"demo-web": ["1.0.0", "1.1.0", "2.0.0-beta.1"], "demo": ["v0.1.0"]})
    return tmp_path / "bundle"


@pytest.mark.parametrize("spelling", ["folder", "file-url", "relative"])
def test_versions_from_a_bundle(bundle: Path, tmp_path: Path, spelling: str) -> None:
    settings = Settings(root=tmp_path)
    url = {"folder": str(bundle), "file-url": bundle.as_uri(), "relative": "bundle"}[spelling]
    src = open_source(url, settings)
    assert isinstance(src, LocalSource)
    assert [str(r.version) for r in src.versions("demo-web").releases] == ["2.0.0-beta.1", "1.1.0", "1.0.0"]


def test_fetch_copies_and_verifies(bundle: Path, tmp_path: Path) -> None:
    src = open_source(str(bundle), Settings(root=tmp_path))
    release = src.versions("demo").releases[0]
    dest = tmp_path / "out" / "demo.tgz"
    assert src.fetch(release, dest) == sha256_file(bundle / "demo-v0.1.0.tgz") == sha256_file(dest)


def test_fetch_refuses_a_tampered_archive(bundle: Path, tmp_path: Path) -> None:
    src = open_source(str(bundle), Settings(root=tmp_path))
    release = next(r for r in src.versions("demo-web").releases if str(r.version) == "1.1.0")
    (bundle / "demo-web-1.1.0.tgz").write_bytes(b"tampered")
    (tmp_path / "out").mkdir()
    with pytest.raises(IntegrityError, match="digest mismatch"):
        src.fetch(release, tmp_path / "out" / "x.tgz")
    assert list((tmp_path / "out").iterdir()) == []


def test_bundle_copied_from_upstream_keeps_absolute_urls(tmp_path: Path) -> None:
    make_repo(tmp_path / "b", {"demo": ["1.0.0"]}, base_url="https://charts.example.invalid/stable")
    src = open_source(str(tmp_path / "b"), Settings(root=tmp_path))
    release = src.versions("demo").releases[0]
    assert src.fetch(release, tmp_path / "d.tgz") == release.digest


def test_mirror_to_a_file_share(bundle: Path, tmp_path: Path) -> None:
    upstream = "oci://registry.example.invalid/charts"
    settings = Settings(root=tmp_path, mirrors=((upstream, bundle.as_uri()),))
    src = open_source(upstream, settings)
    assert isinstance(src, LocalSource) and src.display_url == upstream
    assert len(src.versions("demo-web").releases) == 3


def test_missing_folder_index_and_chart(bundle: Path, tmp_path: Path) -> None:
    settings = Settings(root=tmp_path)
    with pytest.raises(SourceError, match="does not exist"):
        open_source(str(tmp_path / "nowhere"), settings).versions("demo")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no index.yaml"):
        open_source(str(empty), settings).versions("demo")
    with pytest.raises(SourceError, match="no chart named 'nope'"):
        open_source(str(bundle), settings).versions("nope")
    release = open_source(str(bundle), settings).versions("demo").releases[0]
    shutil.move(bundle / "demo-v0.1.0.tgz", tmp_path / "moved.tgz")
    with pytest.raises(SourceError, match="archive of demo v0.1.0 not found"):
        open_source(str(bundle), settings).fetch(release, tmp_path / "x.tgz")
