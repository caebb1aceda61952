"""Where credentials for a repository come from. They never come from (or go into) the lock.

In order of precedence, for the URL actually contacted (after mirrors):

1. Environment variables named after the host (and port, when not the default):
   `CHARTKEEPER_AUTH_<HOST>_USERNAME` / `_PASSWORD`, or `CHARTKEEPER_AUTH_<HOST>_TOKEN` for a
   bearer token. `<HOST>` is the host upper-cased with every other character than A-Z and 0-9
   replaced by `_`: `harbor.example.internal:8443` -> `CHARTKEEPER_AUTH_HARBOR_EXAMPLE_INTERNAL_8443_TOKEN`.
2. `user:password@` in a mirror URL (chartkeeper.yaml), never recommended, but Helm users do it.
3. Helm's own files: `repositories.yaml` for HTTP repositories (matched by URL; also gives
   `caFile`, `certFile`, `keyFile`, `insecure_skip_tls_verify`) and the registry `config.json`
   (`auths.<host>.auth`) for OCI registries. Located like Helm does: `HELM_REPOSITORY_CONFIG`,
   `HELM_REGISTRY_CONFIG`, else under `HELM_CONFIG_HOME` / `$XDG_CONFIG_HOME/helm` / `~/.config/helm`.
4. For OCI registries, Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`),
   the same `auths` format: what `docker login` / `podman login` leave for pulling images.
   Credential helpers (`credsStore`) are not run.

Every secret found is registered with `masking.register_secret`, so `redact` masks it anywhere;
`register_environment_secrets` registers every one this process could read when a command starts,
whether the run uses it or not (also `~/.netrc`).
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chartkeeper import yamlio
from chartkeeper.errors import ChartkeeperError
from chartkeeper.masking import register_secret


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = None
    token: str | None = None
    # TLS settings Helm keeps next to the credentials in repositories.yaml
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Credentials(username={self.username!r}, password={'***' if self.password else None}, token={'***' if self.token else None})"

    @property
    def present(self) -> bool:
        return bool(self.token or self.username is not None)

    def header(self) -> dict[str, str]:
        """The Authorization header these credentials give, or nothing."""
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.username is not None:
            raw = f"{self.username}:{self.password or ''}".encode()
            value = "Basic " + base64.b64encode(raw).decode()
            register_secret(value.split(" ", 1)[1])
            return {"Authorization": value}
        return {}


def env_key(url: str) -> str:
    """`CHARTKEEPER_AUTH_<HOST>` for a URL (see the module docstring)."""
    parts = urlsplit(url if "://" in url else "x://" + url)
    host = (parts.hostname or "").upper()
    if parts.port:
        host += f"_{parts.port}"
    return "CHARTKEEPER_AUTH_" + re.sub(r"[^A-Z0-9]", "_", host)


def _from_env(url: str) -> Credentials | None:
    key = env_key(url)
    token = os.environ.get(key + "_TOKEN")
    user = os.environ.get(key + "_USERNAME")
    pw = os.environ.get(key + "_PASSWORD")
    if not token and user is None:
        return None
    register_secret(token)
    register_secret(pw)
    return Credentials(username=user, password=pw, token=token or None)


def helm_config_home() -> Path:
    if os.environ.get("HELM_CONFIG_HOME"):
        return Path(os.environ["HELM_CONFIG_HOME"])
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Preferences" / "helm"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "helm"


def helm_repositories_file() -> Path:
    return Path(os.environ.get("HELM_REPOSITORY_CONFIG") or helm_config_home() / "repositories.yaml")


def helm_registry_file() -> Path:
    return Path(os.environ.get("HELM_REGISTRY_CONFIG") or helm_config_home() / "registry" / "config.json")


def _norm(url: str) -> str:
    return url.rstrip("/")


def _from_helm_repositories(url: str) -> Credentials | None:
    path = helm_repositories_file()
    if not path.is_file():
        return None
    try:
        data = yamlio.load_file(path)
    except ChartkeeperError:
        return None  # Helm's file is not ours to validate; a broken one just gives no credentials
    repos = data.get("repositories") if isinstance(data, dict) else None
    if not isinstance(repos, list):
        return None
    want = _norm(url)
    best: dict | None = None
    for repo in repos:
        if not isinstance(repo, dict) or not isinstance(repo.get("url"), str):
            continue
        have = _norm(repo["url"])
        if (want == have or want.startswith(have + "/")) and (best is None or len(have) > len(_norm(best["url"]))):
            best = repo
    if best is None:
        return None
    user = best.get("username") or None
    pw = best.get("password") or None
    register_secret(pw)
    return Credentials(
        username=str(user) if user is not None else None,
        password=str(pw) if pw is not None else None,
        ca_file=best.get("caFile") or None,
        cert_file=best.get("certFile") or None,
        key_file=best.get("keyFile") or None,
        insecure=bool(best.get("insecure_skip_tls_verify")),
    )


def docker_config_file() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


# Docker Hub's credentials are filed under the old index URL by `docker login`
_DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")


def _read_auths(path: Path) -> dict[str, Any] | None:
    """The `auths` of a registry `config.json` (Helm's or Docker's); None when it has none we can read
    (not ours to validate: an unreadable file holds nothing we could use or leak)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    auths = data.get("auths") if isinstance(data, dict) else None
    return auths if isinstance(auths, dict) else None


def _decode_auth(auth: str) -> tuple[str, str] | None:
    """`auth` (base64 of `user:password`) as (user, password); None when it is not that."""
    try:
        user, _, pw = base64.b64decode(auth).decode().partition(":")
    except ValueError:
        return None
    return user, pw


def _from_registry_config(host: str, path: Path | None = None) -> Credentials | None:
    auths = _read_auths(path or helm_registry_file())
    if auths is None:
        return None
    keys = [host, f"https://{host}", f"http://{host}"]
    if host in ("registry-1.docker.io", "docker.io", "index.docker.io"):
        keys += _DOCKER_HUB_KEYS
    for key in keys:
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("identitytoken"):
            register_secret(entry["identitytoken"])
            return Credentials(token=str(entry["identitytoken"]))
        auth = entry.get("auth")
        if isinstance(auth, str) and auth:
            decoded = _decode_auth(auth)
            if decoded is None:
                continue
            user, pw = decoded
            register_secret(pw)
            register_secret(auth)
            return Credentials(username=user, password=pw)
        if entry.get("username"):
            register_secret(entry.get("password"))
            return Credentials(username=str(entry["username"]), password=str(entry.get("password") or ""))
    return None


def for_http(url: str, url_user: str | None = None, url_password: str | None = None) -> Credentials:
    """Credentials for an HTTP(S) repository at `url` (already without userinfo)."""
    found = _from_env(url)
    if found is None and url_user is not None:
        register_secret(url_password)
        found = Credentials(username=url_user, password=url_password)
    helm = _from_helm_repositories(url)
    if found is None:
        return helm or Credentials()
    if helm is not None:  # keep Helm's TLS settings even when the secret comes from the environment
        return Credentials(found.username, found.password, found.token, helm.ca_file, helm.cert_file, helm.key_file, helm.insecure)
    return found


def for_registry(host_port: str, url_user: str | None = None, url_password: str | None = None) -> Credentials:
    """Credentials for an OCI registry `host[:port]`."""
    found = _from_env("x://" + host_port)
    if found is not None:
        return found
    if url_user is not None:
        register_secret(url_password)
        return Credentials(username=url_user, password=url_password)
    return _from_registry_config(host_port) or _from_registry_config(host_port, docker_config_file()) or Credentials()


def _netrc_file() -> Path:
    return Path(os.environ.get("NETRC") or Path.home() / ".netrc")


def _register_auths(path: Path) -> None:
    """Every secret of a registry `config.json` (Helm's or Docker's): `auth`, `password`, tokens."""
    for entry in (_read_auths(path) or {}).values():
        if not isinstance(entry, dict):
            continue
        for key in ("auth", "password", "identitytoken", "registrytoken"):
            register_secret(entry.get(key))
        decoded = _decode_auth(entry["auth"]) if isinstance(entry.get("auth"), str) else None
        if decoded is not None:
            register_secret(decoded[1])


def _register_netrc(path: Path) -> None:
    # netrc is whitespace-separated tokens; every value after `password` (or `account`) is a secret
    try:
        words = path.read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return
    for key, value in zip(words, words[1:]):
        if key in ("password", "account"):
            register_secret(value)


def register_environment_secrets() -> None:
    """Register every credential this process could read, used or not, before a command runs.

    A template can copy any of them into a rendered value (`{{ env "CHARTKEEPER_AUTH_…_TOKEN" }}`),
    so masking only the credentials a run happened to send would let the others reach a report or
    a commit. Sources: `CHARTKEEPER_AUTH_*` (all but `_USERNAME`), Helm's `repositories.yaml` and
    registry `config.json`, Docker's `config.json`, and `~/.netrc`."""
    for name, value in os.environ.items():
        if name.startswith("CHARTKEEPER_AUTH_") and not name.endswith("_USERNAME"):
            register_secret(value)
    repos = helm_repositories_file()
    if repos.is_file():
        try:
            data = yamlio.load_file(repos)
        except ChartkeeperError:
            data = None
        for repo in (data.get("repositories") or []) if isinstance(data, dict) else []:
            if isinstance(repo, dict):
                register_secret(repo.get("password"))
    _register_auths(helm_registry_file())
    _register_auths(docker_config_file())
    _register_netrc(_netrc_file())
