"""Shared fixtures: isolated git and caches, real chart repositories on loopback."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import settings as hypothesis_settings

from chartkeeper.helm import crd_cache
from tests.support.httpserver import ChartRepoServer

# Hypothesis keeps the examples it found in `.hypothesis/` of the current folder (the checkout); the
# suite writes nothing outside its temp folders, and every run draws its examples afresh.
hypothesis_settings.register_profile("chartkeeper-tests", database=None)
hypothesis_settings.load_profile("chartkeeper-tests")

pytest_plugins = [
    "tests.support.reliability",  # the reliability suite's figures (docs/reliability.md)
    "tests.support.session",  # the run leaves the real cache alone; how many slow tests were left out
]


def _isolate(mp: pytest.MonkeyPatch, home: Path) -> None:
    """Point HOME, the XDG folders and git at `home`: git gets its own identity and reads no user or
    system config, Helm and chartkeeper see no config or cache of the machine's user."""
    mp.setenv("HOME", str(home))
    mp.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    mp.delenv("CHARTKEEPER_CACHE_DIR", raising=False)
    mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
    mp.setenv("GIT_AUTHOR_NAME", "Test")
    mp.setenv("GIT_AUTHOR_EMAIL", "test@example.invalid")
    mp.setenv("GIT_COMMITTER_NAME", "Test")
    mp.setenv("GIT_COMMITTER_EMAIL", "test@example.invalid")
    for var in ("HELM_REPOSITORY_CONFIG", "HELM_REGISTRY_CONFIG", "HELM_CONFIG_HOME", "DOCKER_CONFIG"):
        mp.delenv(var, raising=False)


@pytest.fixture(scope="session", autouse=True)
def _isolated_session_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The same isolation for the whole session: session- and module-scoped fixtures (which commit to
    git and fill caches) are set up before any function-scoped fixture, so `_isolated_env` alone
    comes too late for them."""
    with pytest.MonkeyPatch.context() as mp:
        _isolate(mp, tmp_path_factory.mktemp("session-home"))
        os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
        yield


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's git config, Helm config or chartkeeper cache, nor another test's cache."""
    _isolate(monkeypatch, tmp_path_factory.mktemp("home"))
    monkeypatch.setattr(crd_cache, "_folder", None)  # a command run in-process installs its run's cache folder
    monkeypatch.setattr(crd_cache, "_ahead", {})  # and may start parses ahead that no render of this test takes


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
