"""Shared fixtures: isolated git and caches, real chart repositories on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.httpserver import ChartRepoServer

pytest_plugins = ["tests.support.reliability"]  # the reliability suite's figures (docs/reliability.md)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's git config, Helm config or chartkeeper cache."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("CHARTKEEPER_CACHE_DIR", raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.invalid")
    for var in ("HELM_REPOSITORY_CONFIG", "HELM_REGISTRY_CONFIG", "HELM_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def repo_server(tmp_path: Path):
    """An empty chart repository folder served over HTTP on 127.0.0.1."""
    root = tmp_path / "repo"
    root.mkdir()
    with ChartRepoServer(root) as server:
        yield server


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory):
    """Debian's docker-registry on a free 127.0.0.1 port, anonymous access (fails loudly when missing)."""
    from tests.support.oci import Registry

    with Registry(tmp_path_factory.mktemp("oci-registry")) as registry:
        yield registry


@pytest.fixture(scope="session")
def oci_registry_auth(tmp_path_factory: pytest.TempPathFactory):
    """docker-registry with htpasswd basic auth; credentials in `.auth`."""
    from tests.support.oci import Registry

    with Registry(tmp_path_factory.mktemp("oci-registry-auth"), auth=("chartbot", "oci-Secret-9f2")) as registry:
        yield registry
