"""Settings: where things are, how to reach upstreams, and the target cluster.

Read from `chartkeeper.yaml` at the repository root when present (all keys optional):

    lock: helmfile/charts/external/versions.lock
    helmfile: helmfile/helmfile.yaml
    patches: patches
    reports: reports
    kubeVersion: v1.31.0            # the clusters this deployment targets
    apiVersions:                    # extra API versions those clusters serve (CRDs of operators
      - monitoring.coreos.com/v1/ServiceMonitor   # installed outside the deployment), as
                                    # `helm template --api-versions` takes them
    timeout: 30                     # seconds, connect and each read
    deadline: 120                   # seconds for one request, retries included (default 4 x timeout)
    minSpeed: 10240                 # bytes/s: a body slower than this after `timeout` seconds fails
    retries: 3
    caBundle: /etc/ssl/internal-ca.pem
    plainHttp: [127.0.0.1:5000]     # OCI registries reached without TLS
    extractLimits: {maxBytes: 536870912, maxFiles: 20000, maxRatio: 200}   # per chart archive
    keyring: ~/.gnupg/pubring.gpg   # verify .prov signatures when a repository publishes them
    mirrors:                        # upstream -> mirror; the lock keeps the upstream
      https://helm.ngc.nvidia.com/nvidia: https://harbor.example.internal/chartrepo/nvidia
      oci://registry-1.docker.io/bitnamicharts: file:///media/bundle
    images:                         # where each container image lives on the site (docs/images.md)
      mirror: harbor.example.internal/mirror          # <mirror>/<source registry>/<path>:<tag>
      rewrite:                                        # longest prefix wins over `mirror`
        nvcr.io/nvidia: harbor.example.internal/nvidia
      driverOsSuffixes: [ubuntu22.04]                 # GPU Operator driver tags are pulled as <tag>-<os>
      pullFrom:                                       # the connected side reads these registries through a cache
        nvcr.io: harbor.corp/nvcr-proxy               # (`bundle --images`); images keep their upstream names
    limits:                         # budgets against huge or hostile input (chartkeeper/limits.py)
      renderSeconds: 300            # one chart render; templateSeconds: 60 for one values template
      yamlBytes: 67108864           # also yamlNodes, depth, indexBytes, indexChartBytes, schemaBytes, outputBytes

Commands run anywhere inside the repository: the root is the nearest folder, the current one or
above, holding `chartkeeper.yaml` or `helmfile/charts/external/versions.lock` (see `find_root`).

Environment variables win over the file: CHARTKEEPER_CACHE_DIR, CHARTKEEPER_CA_BUNDLE,
CHARTKEEPER_TIMEOUT, CHARTKEEPER_DEADLINE, CHARTKEEPER_KUBE_VERSION.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chartkeeper import limits, yamlio
from chartkeeper.errors import InputError
from chartkeeper.fsutil import default_cache_dir

CONFIG_NAME = "chartkeeper.yaml"


@dataclass(frozen=True)
class Settings:
    root: Path = Path(".")
    lock_path: Path = Path("helmfile/charts/external/versions.lock")
    helmfile_path: Path = Path("helmfile/helmfile.yaml")
    patches_dir: Path = Path("patches")
    reports_dir: Path = Path("reports")
    kube_version: str = "v1.31.0"
    api_versions: tuple[str, ...] = ()  # `.Capabilities.APIVersions` beyond Helm's built-in set
    timeout: float = 30.0
    deadline: float | None = None  # None: 4 x timeout (see `request_deadline`)
    min_speed: float = 10240.0
    retries: int = 3
    ca_bundle: str | None = None
    plain_http: tuple[str, ...] = ()
    mirrors: tuple[tuple[str, str], ...] = ()
    cache_dir: Path = field(default_factory=default_cache_dir)
    offline: bool = False
    # safe-extraction limits for chart archives (see chartkeeper.vendoring.unpack.ExtractLimits)
    extract_limits: tuple[tuple[str, Any], ...] = ()
    keyring: str | None = None  # PGP public keyring: verify `.prov` files when published
    # `images:` -- where the site keeps each container image (see `image_mirror_of`)
    image_mirror: str | None = None
    image_rewrite: tuple[tuple[str, str], ...] = ()
    driver_os_suffixes: tuple[str, ...] = ()
    image_pull_from: tuple[tuple[str, str], ...] = ()  # upstream registry host -> cache/mirror host/path to read from
    check_images: bool = False  # `--check-images` of diff/bump: check new images even without `images:` mapping
    # `renderer: helmfile` (or `--allow-exec`): a helmfile binary may evaluate the templates the
    # embedded renderer cannot, running the repository's code (`exec`); `embedded` never runs it
    renderer: str = "embedded"

    @property
    def images_mapped(self) -> bool:
        """Does chartkeeper.yaml say where images live on the site (so reports can check them)?"""
        return bool(self.image_mirror or self.image_rewrite)

    @property
    def image_site_hosts(self) -> frozenset[str]:
        """The registry hosts of the site (of `mirror` and of the `rewrite` targets)."""
        return frozenset(t.split("/", 1)[0] for t in [self.image_mirror or "", *(t for _, t in self.image_rewrite)] if t)

    def image_mirror_of(self, image: str) -> str:
        """Where the site keeps `image` (a normalised reference): the longest `rewrite` prefix, else
        `<mirror>/<image>`, else the image itself. An image already on the site's registry stays put."""
        if image.split("/", 1)[0] in self.image_site_hosts:
            return image
        best: tuple[str, str] | None = None
        for prefix, target in self.image_rewrite:
            p = prefix.rstrip("/")
            if image == p or (image.startswith(p) and image[len(p)] in "/:@"):
                if best is None or len(p) > len(best[0]):
                    best = (p, target.rstrip("/"))
        if best is not None:
            return best[1] + image[len(best[0]):]
        if self.image_mirror:
            return f"{self.image_mirror.rstrip('/')}/{image}"
        return image

    def image_pull_source(self, image: str) -> str:
        """Where the connected side reads `image` (a normalised reference) from: through the `pullFrom`
        cache of its registry host (`nvcr.io/nvidia/x:1` -> `harbor.corp/nvcr-proxy/nvidia/x:1`), else itself."""
        host, _, rest = image.partition("/")
        for upstream, cache in self.image_pull_from:
            if host == upstream:
                return f"{cache}/{rest}"
        return image

    def path(self, p: Path) -> Path:
        return p if p.is_absolute() else self.root / p

    @property
    def lock_file(self) -> Path:
        return self.path(self.lock_path)

    @property
    def helmfile_file(self) -> Path:
        return self.path(self.helmfile_path)

    @property
    def request_deadline(self) -> float:
        """Seconds one request may take, retries included, before the size of a body extends it."""
        return self.deadline if self.deadline is not None else 4 * self.timeout

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


def _image_prefix(text: str) -> str:
    """A `rewrite` key as the normalised references it must match (`bitnami` -> `docker.io/bitnami`)."""
    text = text.strip().rstrip("/")
    first = text.split("/", 1)[0]
    if "." in first or ":" in first or first == "localhost":
        return text
    return "docker.io/" + text


def _image_settings(raw: Any) -> dict[str, Any]:
    images = _mapping(raw, "images")
    unknown = sorted(str(k) for k in images if k not in ("mirror", "rewrite", "driverOsSuffixes", "pullFrom"))
    if unknown:
        raise InputError(f"{CONFIG_NAME}: images: unknown key(s) {', '.join(unknown)}",
                         hint="known: mirror, rewrite, driverOsSuffixes, pullFrom")
    mirror = images.get("mirror")
    if mirror is not None and (not isinstance(mirror, str) or not mirror.strip() or "://" in mirror):
        raise InputError(f"{CONFIG_NAME}: images.mirror: must be a registry host and path, e.g. harbor.example.internal/mirror")
    rewrite = _mapping(images.get("rewrite"), "images.rewrite")
    if not all(isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip() and "://" not in v
               for k, v in rewrite.items()):
        raise InputError(f"{CONFIG_NAME}: images.rewrite: must map image prefixes to registry host/path prefixes")
    suffixes = images.get("driverOsSuffixes") or []
    if not isinstance(suffixes, list) or not all(isinstance(x, str) and re.fullmatch(r"[\w.-]+", x) for x in suffixes):
        raise InputError(f"{CONFIG_NAME}: images.driverOsSuffixes: must be a list of OS tags such as ubuntu22.04")
    pull_from = _mapping(images.get("pullFrom"), "images.pullFrom")
    if not all(isinstance(k, str) and re.fullmatch(r"[\w.-]+(:\d+)?", k.strip()) and isinstance(v, str) and v.strip()
               and "://" not in v for k, v in pull_from.items()):
        raise InputError(f"{CONFIG_NAME}: images.pullFrom: must map registry hosts to cache host/path, "
                         "e.g. nvcr.io: harbor.corp/nvcr-proxy")
    return {
        "image_pull_from": tuple(sorted(("docker.io" if k.strip() in ("index.docker.io", "registry-1.docker.io")
                                         else k.strip(), v.strip().rstrip("/")) for k, v in pull_from.items())),
        "image_mirror": mirror.strip().rstrip("/") if mirror else None,
        "image_rewrite": tuple(sorted((_image_prefix(k), v.strip().rstrip("/")) for k, v in rewrite.items())),
        "driver_os_suffixes": tuple(suffixes),
    }


# What marks a deployment repository's root, as `.git` marks a git checkout's.
ROOT_MARKERS = (CONFIG_NAME, "helmfile/charts/external/versions.lock")


def find_root(start: Path) -> Path:
    """The deployment root for a command run in `start`: the nearest folder, `start` or above, holding
    `chartkeeper.yaml` or `helmfile/charts/external/versions.lock`; `start` itself when none does
    (a repository whose first chart is yet to be added, or a helmfile tree with no chart vendored)."""
    start = start.resolve()
    if not start.is_dir():
        raise InputError(f"{start}: no such folder (the deployment repository)")
    for folder in (start, *start.parents):
        if marks_root(folder):
            return folder
    return start


def marks_root(folder: Path) -> bool:
    return any((folder / m).is_file() for m in ROOT_MARKERS)


def no_deployment(start: Path) -> InputError:
    """The one error every command gives where there is no deployment."""
    return InputError(
        f"no deployment found in {start.resolve()} or above (looked for {' or '.join(ROOT_MARKERS)}); "
        "use -C DIR or run chartkeeper add/import"
    )


def load_settings(root: Path, overrides: dict[str, Any] | None = None) -> Settings:
    root = find_root(root)
    cfg_file = root / CONFIG_NAME
    raw: dict[str, Any] = {}
    if cfg_file.exists():
        data = yamlio.loads_strict(yamlio.read_text(cfg_file), CONFIG_NAME)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InputError(f"{CONFIG_NAME}: must be a mapping")
        raw = data
    known = {"lock", "helmfile", "patches", "reports", "kubeVersion", "apiVersions", "timeout", "deadline", "minSpeed", "retries", "caBundle", "plainHttp", "mirrors",
             "extractLimits", "keyring", "images", "renderer", "limits"}
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise InputError(f"{CONFIG_NAME}: unknown key(s) {', '.join(unknown)}")
    mirrors = raw.get("mirrors") or {}
    if not isinstance(mirrors, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mirrors.items()):
        raise InputError(f"{CONFIG_NAME}: mirrors: must map upstream URLs to mirror URLs")
    plain = raw.get("plainHttp") or []
    if not isinstance(plain, list):
        raise InputError(f"{CONFIG_NAME}: plainHttp: must be a list of host[:port]")
    apis = raw.get("apiVersions") or []
    if not isinstance(apis, list) or not all(isinstance(a, str) and a.strip() for a in apis):
        raise InputError(f"{CONFIG_NAME}: apiVersions: must be a list of API versions (group/version or group/version/Kind)")
    try:
        timeout = float(os.environ.get("CHARTKEEPER_TIMEOUT") or raw.get("timeout", 30))
        retries = int(raw.get("retries", 3))
        deadline_raw = os.environ.get("CHARTKEEPER_DEADLINE") or raw.get("deadline")
        deadline = float(deadline_raw) if deadline_raw not in (None, "") else None
        min_speed = float(raw.get("minSpeed", 10240))
    except (TypeError, ValueError):
        raise InputError(f"{CONFIG_NAME}: timeout, deadline, minSpeed and retries must be numbers") from None
    if timeout <= 0 or (deadline is not None and deadline <= 0) or min_speed < 0:
        raise InputError(f"{CONFIG_NAME}: timeout and deadline must be positive, minSpeed not negative")
    renderer = raw.get("renderer", "embedded")
    if renderer not in ("embedded", "helmfile"):
        raise InputError(f"{CONFIG_NAME}: renderer: expected embedded or helmfile, not {renderer!r}")
    budget, problems = limits.parse(_mapping(raw.get("limits"), "limits"))
    if problems:
        raise InputError(f"{CONFIG_NAME}: limits: {'; '.join(problems)}", hint=f"known: {', '.join(limits.CONFIG_KEYS)}")
    limits.configure(budget)  # for the readers below the settings (yamlio, index, render engines)
    kw: dict[str, Any] = dict(
        root=root,
        renderer=renderer,
        lock_path=Path(raw.get("lock", "helmfile/charts/external/versions.lock")),
        helmfile_path=Path(raw.get("helmfile", "helmfile/helmfile.yaml")),
        patches_dir=Path(raw.get("patches", "patches")),
        reports_dir=Path(raw.get("reports", "reports")),
        kube_version=str(os.environ.get("CHARTKEEPER_KUBE_VERSION") or raw.get("kubeVersion", "v1.31.0")),
        api_versions=tuple(a.strip() for a in apis),
        timeout=timeout,
        deadline=deadline,
        min_speed=min_speed,
        retries=retries,
        ca_bundle=os.environ.get("CHARTKEEPER_CA_BUNDLE") or raw.get("caBundle"),
        plain_http=tuple(str(p) for p in plain),
        mirrors=tuple(sorted(mirrors.items())),
        extract_limits=tuple(sorted(_mapping(raw.get("extractLimits"), "extractLimits").items())),
        keyring=str(raw["keyring"]) if raw.get("keyring") else None,
        **_image_settings(raw.get("images")),
    )
    for k, v in (overrides or {}).items():
        if v is not None:
            kw[k] = v
    return Settings(**kw)
