"""Settings: where things are, how to reach upstreams, and the target cluster.

Read from `chartkeeper.yaml` at the repository root when present (all keys optional):

    lock: helmfile/charts/external/versions.lock
    helmfile: helmfile/helmfile.yaml
    patches: patches
    reports: reports
    kubeVersion: v1.31.0            # the clusters this deployment targets
    timeout: 30                     # seconds, connect and read
    retries: 3
    caBundle: /etc/ssl/internal-ca.pem
    plainHttp: [127.0.0.1:5000]     # OCI registries reached without TLS
    extractLimits: {maxBytes: 536870912, maxFiles: 20000, maxRatio: 200}   # per chart archive
    keyring: ~/.gnupg/pubring.gpg   # verify .prov signatures when a repository publishes them
    mirrors:                        # upstream -> mirror; the lock keeps the upstream
      https://helm.ngc.nvidia.com/nvidia: https://harbor.example.internal/chartrepo/nvidia
      oci://registry-1.docker.io/bitnamicharts: file:///media/bundle

Environment variables win over the file: CHARTKEEPER_CACHE_DIR, CHARTKEEPER_CA_BUNDLE,
CHARTKEEPER_TIMEOUT, CHARTKEEPER_KUBE_VERSION.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chartkeeper.errors import InputError

CONFIG_NAME = "chartkeeper.yaml"


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chartkeeper"


@dataclass(frozen=True)
class Settings:
    root: Path = Path(".")
    lock_path: Path = Path("helmfile/charts/external/versions.lock")
    helmfile_path: Path = Path("helmfile/helmfile.yaml")
    patches_dir: Path = Path("patches")
    reports_dir: Path = Path("reports")
    kube_version: str = "v1.31.0"
    timeout: float = 30.0
    retries: int = 3
    ca_bundle: str | None = None
    plain_http: tuple[str, ...] = ()
    mirrors: tuple[tuple[str, str], ...] = ()
    cache_dir: Path = field(default_factory=_default_cache)
    offline: bool = False
    # safe-extraction limits for chart archives (see chartkeeper.vendoring.unpack.ExtractLimits)
    extract_limits: tuple[tuple[str, Any], ...] = ()
    keyring: str | None = None  # PGP public keyring: verify `.prov` files when published

    def path(self, p: Path) -> Path:
        return p if p.is_absolute() else self.root / p

    @property
    def lock_file(self) -> Path:
        return self.path(self.lock_path)

    @property
    def helmfile_file(self) -> Path:
        return self.path(self.helmfile_path)

    def mirror_for(self, repository: str) -> str:
        """The URL to actually contact for `repository` (longest matching mirror prefix wins)."""
        norm = repository.rstrip("/")
        best: tuple[str, str] | None = None
        for upstream, mirror in self.mirrors:
            up = upstream.rstrip("/")
            if norm == up or norm.startswith(up + "/"):
                if best is None or len(up) > len(best[0]):
                    best = (up, mirror.rstrip("/"))
        if best is None:
            return repository
        return best[1] + norm[len(best[0]) :]


def _mapping(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{CONFIG_NAME}: {key}: must be a mapping")
    return value


def load_settings(root: Path, overrides: dict[str, Any] | None = None) -> Settings:
    from chartkeeper import yamlio

    root = root.resolve()
    cfg_file = root / CONFIG_NAME
    raw: dict[str, Any] = {}
    if cfg_file.exists():
        data = yamlio.load_file(cfg_file)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InputError(f"{CONFIG_NAME}: must be a mapping")
        raw = data
    known = {"lock", "helmfile", "patches", "reports", "kubeVersion", "timeout", "retries", "caBundle", "plainHttp", "mirrors", "extractLimits", "keyring"}
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise InputError(f"{CONFIG_NAME}: unknown key(s) {', '.join(unknown)}")
    mirrors = raw.get("mirrors") or {}
    if not isinstance(mirrors, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mirrors.items()):
        raise InputError(f"{CONFIG_NAME}: mirrors: must map upstream URLs to mirror URLs")
    plain = raw.get("plainHttp") or []
    if not isinstance(plain, list):
        raise InputError(f"{CONFIG_NAME}: plainHttp: must be a list of host[:port]")
    try:
        timeout = float(os.environ.get("CHARTKEEPER_TIMEOUT") or raw.get("timeout", 30))
        retries = int(raw.get("retries", 3))
    except (TypeError, ValueError):
        raise InputError(f"{CONFIG_NAME}: timeout and retries must be numbers") from None
    kw: dict[str, Any] = dict(
        root=root,
        lock_path=Path(raw.get("lock", "helmfile/charts/external/versions.lock")),
        helmfile_path=Path(raw.get("helmfile", "helmfile/helmfile.yaml")),
        patches_dir=Path(raw.get("patches", "patches")),
        reports_dir=Path(raw.get("reports", "reports")),
        kube_version=str(os.environ.get("CHARTKEEPER_KUBE_VERSION") or raw.get("kubeVersion", "v1.31.0")),
        timeout=timeout,
        retries=retries,
        ca_bundle=os.environ.get("CHARTKEEPER_CA_BUNDLE") or raw.get("caBundle"),
        plain_http=tuple(str(p) for p in plain),
        mirrors=tuple(sorted(mirrors.items())),
        extract_limits=tuple(sorted(_mapping(raw.get("extractLimits"), "extractLimits").items())),
        keyring=str(raw["keyring"]) if raw.get("keyring") else None,
    )
    if os.environ.get("CHARTKEEPER_CACHE_DIR"):
        kw["cache_dir"] = Path(os.environ["CHARTKEEPER_CACHE_DIR"])
    for k, v in (overrides or {}).items():
        if v is not None:
            kw[k] = v
    return Settings(**kw)
