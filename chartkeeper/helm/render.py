"""Render a chart offline to Kubernetes manifests, for the cluster the deployment targets.

Two engines:

- `embedded` (default): Helm v4's own engine inside the `helm-python-sdk` package; no binary needed.
  The SDK's Python signature has no cluster-version parameter, but the options JSON its native
  render call hands to Helm takes `kube_version` and `api_versions` (what `helm template
  --kube-version/--api-versions` set): `.Capabilities.KubeVersion` and `.Capabilities.APIVersions`
  are the configured cluster's, however a chart reads them (a variable, `default … .Values.x`, a
  subchart archive). An unknown option is refused by name, so an SDK that stops taking them fails
  loudly, never renders for its built-in v1.36.0; pyproject pins the SDK versions this was tested
  with, and tests/test_render.py checks the option is honoured.
- `helm`: a `helm` binary (`$CHARTKEEPER_HELM` or `helm` on PATH) with `helm template --kube-version`.

`render_chart` is the one-shot entry point; `prepare_chart` keeps a loaded chart for several renders
(one per environment) so the load happens once.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from chartkeeper import limits, yamlio
from chartkeeper.masking.redactor import note_public_chart, seen_before
from chartkeeper.errors import ChartkeeperError, InputError
from chartkeeper.fsutil import scratch_env, temp_folder
from chartkeeper.helm import crd_cache
from chartkeeper.helm.engine import EngineTimeout, bounded, output_too_big, over_limit
from chartkeeper.helm.schemas import chart_outside_refs, neutralised_copy

ENGINES = ("auto", "embedded", "helm")

_SOURCE_RE = re.compile(r"^# Source: (.+)$", re.M)
# `group/version` or `group/version/Kind`, as `helm template --api-versions` takes them.
_API_VERSION_RE = re.compile(r"^(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?v[0-9]+(?:(?:alpha|beta)[0-9]+)?(?:/[A-Za-z][A-Za-z0-9]*)?$")


class RenderError(ChartkeeperError):
    """The chart does not render (template error, invalid values, schema violation)."""


class RenderTimeout(RenderError):
    """A render took longer than `limits.renderSeconds`."""


@dataclass(frozen=True)
class RenderedManifest:
    source: str  # template that produced it, as Helm names it: `<chart>/templates/x.yaml`, `<chart>/crds/y.yaml`
    obj: dict[str, Any]

    @property
    def is_crd_file(self) -> bool:
        """From a `crds/` folder (installed once by Helm, never upgraded)."""
        return is_crd_source(self.source)


def is_crd_source(source: str) -> bool:
    """Does Helm name a file of a `crds/` folder so (`<chart>/crds/x.yaml`, `<chart>/charts/<sub>/crds/y.yaml`)?"""
    return "/crds/" in f"/{source}"


@dataclass(frozen=True)
class RenderResult:
    manifests: tuple[RenderedManifest, ...]
    engine: str  # "embedded" or "helm"
    engine_version: str  # e.g. "helm-python-sdk 0.2.2 (Helm v4.2.3)"
    kube_version: str  # the cluster version the chart saw
    notes: tuple[str, ...] = ()  # what the engine did on our behalf
    chart_notes: str = ""  # the chart's rendered NOTES.txt

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [m.obj for m in self.manifests]


@dataclass(frozen=True)
class KubeVersion:
    version: str  # "v1.31.0"
    major: str
    minor: str

    @classmethod
    def parse(cls, text: str) -> "KubeVersion":
        m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?([-+][0-9A-Za-z.+-]*)?", text.strip())
        if not m:
            raise InputError(f"kubeVersion: {text!r} is not a Kubernetes version (expected e.g. v1.31.0)")
        major, minor, patch, rest = m.group(1), m.group(2), m.group(3) or "0", m.group(4) or ""
        return cls(f"v{major}.{minor}.{patch}{rest}", major, minor)


def check_api_versions(values: Sequence[str], where: str = "apiVersions") -> tuple[str, ...]:
    """`apiVersions:` entries as Helm takes them (`group/version` or `group/version/Kind`)."""
    out = []
    for v in values:
        if not isinstance(v, str) or not _API_VERSION_RE.match(v.strip()):
            raise InputError(f"{where}: {v!r} is not an API version (expected group/version or group/version/Kind, "
                             "e.g. monitoring.coreos.com/v1)")
        out.append(v.strip())
    return tuple(out)


def find_helm_binary() -> str | None:
    explicit = os.environ.get("CHARTKEEPER_HELM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("helm")


_HELM_VERSION_CACHE: dict[str, str] = {}


def helm_binary_version(binary: str) -> str:
    if binary not in _HELM_VERSION_CACHE:
        try:
            out = subprocess.run([binary, "version", "--short"], capture_output=True, text=True, timeout=30)
            _HELM_VERSION_CACHE[binary] = out.stdout.strip().split("+")[0] or "unknown"
        except (OSError, subprocess.SubprocessError):
            _HELM_VERSION_CACHE[binary] = "unknown"
    return _HELM_VERSION_CACHE[binary]


def embedded_version() -> str:
    import helm_python  # lazy: helm-python-sdk loads a large native library; only commands that render need it

    return f"helm-python-sdk {helm_python.__version__} (Helm {helm_python.helm_sdk_version()})"


def _split_documents(text: str, source: str, *, crd_file: bool = False) -> list[dict[str, Any]]:
    return _mappings(crd_cache.loads_all(text, source) if crd_file else yamlio.loads_all(text, source), source)


def _mappings(docs: list[Any], source: str) -> list[dict[str, Any]]:
    out = []
    for d in docs:
        if d is None:
            continue
        if not isinstance(d, dict):
            raise RenderError(f"{source}: rendered a YAML document that is not a mapping")
        out.append(d)
    return out


def _parse_in_background(crd_files: list[tuple[str, str]]) -> Future[list[tuple[str, list[dict[str, Any]]]]]:
    """A chart's CRD files, read from `crd_cache` or parsed, on a thread of their own. No template touches
    them, so they can be read before the first render, while the analysis goes on (a parse runs in a worker
    process; reading the cache and building what it holds is Python, and takes turns with the analysis,
    except while Helm's Go code renders, which lets go of the GIL). Any error is raised where the render
    reads the result."""
    done: Future[list[tuple[str, list[dict[str, Any]]]]] = Future()

    def parse() -> None:
        try:
            parsed = crd_cache.load_files(crd_files)
            done.set_result([(name, _mappings(docs, name)) for (name, _), docs in zip(crd_files, parsed)])
        except BaseException as exc:  # handed to the render that reads it
            done.set_exception(exc)

    if crd_files:
        threading.Thread(target=parse, name="crd-parse", daemon=True).start()
    else:
        done.set_result([])
    return done


def parse_crds_ahead(chart_dir: Path) -> None:
    """Start parsing the CRD files of a chart folder (its own and its subchart folders') now, in a worker
    process (`crd_cache.parse_ahead`), for the PreparedChart that renders the chart later. A file Helm
    would not read as it is (a link, one past the YAML limit) is left to the render."""
    texts: list[str] = []
    for folder, dirs, names in os.walk(chart_dir):
        dirs.sort()
        if "crds" not in Path(folder).relative_to(chart_dir).parts:
            continue
        for name in sorted(n for n in names if n.endswith((".yaml", ".yml", ".json"))):
            path = os.path.join(folder, name)
            try:
                if not os.path.islink(path) and os.path.getsize(path) <= limits.current().yaml_bytes:
                    texts.append(Path(path).read_text(encoding="utf-8"))
            except (OSError, UnicodeError):
                continue
    crd_cache.parse_ahead(texts)


def _note_public(chart_dir: Path) -> None:
    """Tell the redactor what this chart and its subcharts (folders or archives under `charts/`) make
    public: their names and defaults are no secret, whatever a release sets
    (`masking.redactor.note_public_chart`)."""
    try:
        key = ("chart-folder", str(chart_dir.resolve()), (chart_dir / "Chart.yaml").stat().st_mtime_ns)
    except OSError:
        return
    if seen_before(key):
        return
    for folder in [chart_dir, *sorted(p for p in chart_dir.glob("charts/*") if p.is_dir())]:
        _note_chart(lambda rel, folder=folder: _read_small(folder / rel),
                    lambda folder=folder: (_read_small(f) for f in sorted((folder / "templates").rglob("*")) if f.is_file()))
    for archive in sorted(chart_dir.glob("charts/*.tgz")):
        with contextlib.suppress(OSError, tarfile.TarError):
            with tarfile.open(archive) as tar:
                files: dict[str, str] = {}
                for m in tar.getmembers():
                    rel = m.name.split("/", 1)[1] if "/" in m.name else m.name
                    if m.isfile() and m.size < _PUBLIC_MAX and rel.startswith(_PUBLIC_PARTS) and not rel.startswith("charts/"):
                        data = tar.extractfile(m)
                        if data is not None:
                            files[rel] = data.read().decode("utf-8", errors="replace")
            _note_chart(lambda rel, files=files: files.get(rel, ""),
                        lambda files=files: (v for k, v in files.items() if k.startswith("templates/")))


def _note_chart(read: Callable[[str], str], templates: Callable[[], Iterable[str]]) -> None:
    chart_yaml = read("Chart.yaml")
    try:
        meta = yamlio.loads(chart_yaml, "Chart.yaml") if chart_yaml else None
    except ChartkeeperError:
        meta = None
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        note_public_chart(meta["name"], chart_yaml, read("values.yaml"), templates)


def _read_small(path: Path) -> str:
    with contextlib.suppress(OSError):
        if path.stat().st_size < _PUBLIC_MAX:
            return path.read_text(encoding="utf-8", errors="replace")
    return ""


_PUBLIC_PARTS = ("Chart.yaml", "values.yaml", "templates/")
_PUBLIC_MAX = 4 << 20


def _json_values(values: dict[str, Any]) -> dict[str, Any]:
    # YAML may have produced dates or other non-JSON scalars: hand Helm the strings it would see.
    return json.loads(json.dumps(values, default=str))


class PreparedChart:
    """A chart ready to render several times (one per environment) for one cluster."""

    def __init__(self, chart_dir: Path, *, kube_version: str, engine: str = "auto", include_crds: bool = True,
                 api_versions: Sequence[str] = ()) -> None:
        if engine not in ENGINES:
            raise InputError(f"unknown render engine {engine!r} (expected {', '.join(ENGINES)})")
        self.chart_dir = Path(chart_dir)
        if not (self.chart_dir / "Chart.yaml").is_file():
            raise InputError(f"{self.chart_dir}: not a chart folder (no Chart.yaml)")
        self.kv = KubeVersion.parse(kube_version)
        self.api_versions = check_api_versions(api_versions)
        self.include_crds = include_crds
        self.notes: list[str] = []
        self._chart: Any = None
        self._helm: str | None = None
        # Rendered text -> parsed documents. Most templates render the same for every environment;
        # parsing YAML costs more than rendering it, so each distinct text is parsed once. The
        # parsed objects are shared between results: treat manifests as read-only.
        self._parsed: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._crds: Future[list[tuple[str, list[dict[str, Any]]]]] | None = None  # parsed CRD files (embedded engine)
        self._timed_out: str | None = None  # why a render of this chart gave up: the next ones do at once
        # schemas with references outside themselves: Helm would fetch (or read) them on every render
        self._outside_refs = chart_outside_refs(self.chart_dir)
        for file, refs in self._outside_refs.items():
            self.notes.append(f"{file}: $ref {', '.join(refs)} left out of Helm's schema check (never fetched)")
        if engine == "helm":
            self._helm = self._require_helm("--engine helm")
        else:
            self._chart = self._load(self.chart_dir)
            if include_crds:
                self._crds = _parse_in_background([(crd["filename"], crd["data"]) for crd in self._chart.crds])
        _note_public(self.chart_dir)

    # -- set-up -----------------------------------------------------------------------------

    def _require_helm(self, why: str) -> str:
        binary = find_helm_binary()
        if binary is None:
            raise RenderError(
                f"{self.chart_dir.name}: {why} needs a `helm` binary and none is on PATH",
                hint="install helm (v3.13+ or v4) or set CHARTKEEPER_HELM to its path",
            )
        return binary

    def _load(self, path: Path) -> Any:
        import helm_python  # lazy: helm-python-sdk loads a large native library; only commands that render need it

        try:
            if not self._outside_refs:
                return helm_python.Chart.load(path)
            with temp_folder("schema-") as tmp:  # the engine holds the chart in memory once loaded
                return helm_python.Chart.load(neutralised_copy(path, tmp))
        except helm_python.HelmError as exc:
            raise RenderError(f"{self.chart_dir.name}: cannot load chart: {exc}") from None

    def close(self) -> None:
        if self._chart is not None:
            self._chart.close()
            self._chart = None

    def __enter__(self) -> "PreparedChart":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def engine(self) -> str:
        return "helm" if self._helm else "embedded"

    @property
    def engine_version(self) -> str:
        return f"helm {helm_binary_version(self._helm)}" if self._helm else embedded_version()

    # -- rendering --------------------------------------------------------------------------

    def render(self, values: dict[str, Any], *, release: str, namespace: str) -> RenderResult:
        values = _json_values(values or {})
        if self._timed_out is not None:  # its abandoned render still runs: another would only pile up on it
            raise RenderError(f"{self._timed_out} (not tried again for release {release})")
        try:
            if self._helm:
                manifests, chart_notes = self._render_binary(values, release, namespace)
            else:
                manifests, chart_notes = self._render_embedded(values, release, namespace)
        except RenderTimeout as exc:
            self._timed_out = exc.message
            raise
        return RenderResult(tuple(manifests), self.engine, self.engine_version, self.kv.version, tuple(self.notes), chart_notes)

    def _render_embedded(self, values: dict[str, Any], release: str, namespace: str) -> tuple[list[RenderedManifest], str]:
        rendered = sdk_render(self._chart, values, name=release, namespace=namespace, is_install=True,
                              kube_version=self.kv.version, api_versions=self.api_versions, label=self.chart_dir.name)
        top = self._chart.name
        out: list[RenderedManifest] = []
        chart_notes = ""
        for source in sorted(rendered):
            text = rendered[source]
            if source.endswith("NOTES.txt"):
                if source == f"{top}/templates/NOTES.txt":
                    chart_notes = text
                continue
            if not source.endswith((".yaml", ".yml", ".tpl", ".json")) and not text.strip():
                continue
            for obj in self._parse(text, source):
                out.append(RenderedManifest(source, obj))
        if self._crds is not None:
            for filename, docs in self._crds.result():  # raises here what parsing a CRD file raised
                out.extend(RenderedManifest(filename, obj) for obj in docs)
        return out, chart_notes

    def _parse(self, text: str, source: str) -> list[dict[str, Any]]:
        key = (source, text)
        docs = self._parsed.get(key)
        if docs is None:
            docs = self._parsed[key] = _split_documents(text, source)
        return docs

    def _render_binary(self, values: dict[str, Any], release: str, namespace: str) -> tuple[list[RenderedManifest], str]:
        assert self._helm
        with temp_folder("helm-") as tmp:
            vfile = Path(tmp) / "values.json"
            vfile.write_text(json.dumps(values))
            chart = neutralised_copy(self.chart_dir, Path(tmp)) if self._outside_refs else self.chart_dir
            cmd = [self._helm, "template", release, str(chart), "--namespace", namespace,
                   "--kube-version", self.kv.version, "-f", str(vfile)]
            for api in self.api_versions:
                cmd += ["--api-versions", api]
            if self.include_crds:
                cmd.append("--include-crds")
            env = dict(scratch_env(), HELM_CACHE_HOME=f"{tmp}/cache", HELM_CONFIG_HOME=f"{tmp}/config",
                       HELM_DATA_HOME=f"{tmp}/data")
            seconds = limits.current().render_seconds
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds)
            except subprocess.TimeoutExpired:
                raise RenderTimeout(f"{self.chart_dir.name}: helm template took longer than {seconds:g} s "
                                  f"({limits.key_of('render_seconds')})") from None
            except (OSError, subprocess.SubprocessError) as exc:
                raise RenderError(f"{self.chart_dir.name}: cannot run helm: {exc}") from None
        total = output_too_big({"out": proc.stdout})
        if total is not None:
            raise RenderError(f"{self.chart_dir.name}: {over_limit('helm template', total)}")
        if proc.returncode != 0:
            msg = proc.stderr.strip().splitlines()
            raise RenderError(f"{self.chart_dir.name}: helm template failed: {' '.join(msg[-3:]) or proc.returncode}")
        return _parse_helm_stream(proc.stdout), ""


def sdk_render(chart: Any, values: dict[str, Any], *, name: str, namespace: str, is_install: bool,
               kube_version: str, api_versions: Sequence[str] = (), label: str = "") -> dict[str, str]:
    """The SDK's native render with the cluster's version and API versions in Helm's options JSON.

    `Chart.render` (helm-python-sdk 0.2.2) builds the same call without these two fields; they are
    Helm's `chartutil.Capabilities` as `helm template --kube-version/--api-versions` sets them.
    """
    import helm_python  # lazy: helm-python-sdk loads a large native library; only commands that render need it
    from helm_python import _native  # lazy: the same native library

    opts = {"name": name, "namespace": namespace, "is_install": is_install, "kube_version": kube_version}
    if api_versions:
        opts["api_versions"] = list(api_versions)
    seconds = limits.current().render_seconds
    args = (chart._raw(), json.dumps(values), json.dumps(opts))
    try:
        rendered = bounded(lambda: _native.call_string("helm_render", *args), seconds)
    except EngineTimeout:
        raise RenderTimeout(f"{label}: render took longer than {seconds:g} s ({limits.key_of('render_seconds')})") from None
    except helm_python.HelmError as exc:
        if "unknown field" in str(exc):  # a future SDK renamed the option: never render for the wrong cluster
            raise ChartkeeperError(
                f"{label}: helm-python-sdk {helm_python.__version__} does not take the cluster version "
                f"({exc}); chartkeeper is tested with the versions pinned in its pyproject.toml",
                hint="install the pinned helm-python-sdk, or re-run with --engine helm",
            ) from None
        raise RenderError(f"{label}: render failed: {exc}") from None
    manifests: dict[str, str] = json.loads(rendered)
    total = output_too_big(manifests)
    if total is not None:
        raise RenderError(f"{label}: {over_limit('the render', total)}")
    return manifests


def _parse_helm_stream(text: str) -> list[RenderedManifest]:
    """Split `helm template` output into documents, each tagged with its `# Source:` template."""
    out: list[RenderedManifest] = []
    chunks = re.split(r"^---[ \t]*$", text, flags=re.M)
    for chunk in chunks:
        m = _SOURCE_RE.search(chunk)
        source = m.group(1).strip() if m else "unknown"
        for obj in _split_documents(chunk, source, crd_file=is_crd_source(source)):
            out.append(RenderedManifest(source, obj))
    return out


def prepare_chart(chart_dir: Path, *, kube_version: str, engine: str = "auto", include_crds: bool = True,
                  api_versions: Sequence[str] = ()) -> PreparedChart:
    return PreparedChart(chart_dir, kube_version=kube_version, engine=engine, include_crds=include_crds,
                         api_versions=api_versions)


def render_chart(
    chart_dir: Path,
    values: dict[str, Any],
    *,
    release: str,
    namespace: str,
    kube_version: str,
    engine: str = "auto",
    include_crds: bool = True,
    api_versions: Sequence[str] = (),
) -> RenderResult:
    """Render `chart_dir` with `values` (overrides; the chart's defaults apply underneath)."""
    with prepare_chart(chart_dir, kube_version=kube_version, engine=engine, include_crds=include_crds,
                       api_versions=api_versions) as chart:
        return chart.render(values, release=release, namespace=namespace)

