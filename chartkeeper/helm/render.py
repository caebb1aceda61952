"""Render a chart offline to Kubernetes manifests, for the cluster version the deployment targets.

Two engines:

- `embedded` (default): Helm v4's own engine inside the `helm-python-sdk` package; no binary needed.
  helm-python-sdk 0.2.2 fixes `.Capabilities.KubeVersion` at v1.36.0 with no option to change it, so a
  chart that branches on the cluster version would render for the wrong cluster. We render a temporary
  copy of the chart in which every `.Capabilities.KubeVersion[.Version|.GitVersion|.Major|.Minor]`
  reference (templates, values.yaml, and the override values fed to `tpl`) is replaced by the configured
  version as a constant. When a reference survives that rewrite (the object stored in a variable and read
  later), the embedded engine cannot be trusted: `auto` switches to a `helm` binary and says so in the
  result, `embedded` refuses. Never a silent render for the wrong version.
- `helm`: a `helm` binary (`$CHARTKEEPER_HELM` or `helm` on PATH) with `helm template --kube-version`.

`render_chart` is the one-shot entry point; `prepare_chart` keeps a loaded chart for several renders
(one per environment) so the copy and load happen once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from chartkeeper import yamlio
from chartkeeper.errors import ChartkeeperError, InputError

ENGINES = ("auto", "embedded", "helm")

# `.Capabilities.KubeVersion.<field>` reached from `.`, `$` or a variable (`$root.Capabilities…`).
# The bare object is left alone on purpose: Helm prints it as "v1.31.0" in `{{ }}` but as a struct
# when piped to a function, so no constant can stand in for it; it makes the chart unpinnable.
_KV_RE = re.compile(
    r"(?:\$[A-Za-z0-9_]*)?(?:\.[A-Za-z_][A-Za-z0-9_]*)*?\.Capabilities\.KubeVersion\.(Version|GitVersion|Major|Minor)\b"
)
_KV_ANY_RE = re.compile(r"\bKubeVersion\b")
_KV_FAST = "KubeVersion"
_SOURCE_RE = re.compile(r"^# Source: (.+)$", re.M)


class RenderError(ChartkeeperError):
    """The chart does not render (template error, invalid values, schema violation)."""


@dataclass(frozen=True)
class RenderedManifest:
    source: str  # template that produced it, as Helm names it: `<chart>/templates/x.yaml`, `<chart>/crds/y.yaml`
    obj: dict[str, Any]

    @property
    def is_crd_file(self) -> bool:
        """From a `crds/` folder (installed once by Helm, never upgraded)."""
        return "/crds/" in f"/{self.source}"


@dataclass(frozen=True)
class RenderResult:
    manifests: tuple[RenderedManifest, ...]
    engine: str  # "embedded" or "helm"
    engine_version: str  # e.g. "helm-python-sdk 0.2.2 (Helm v4.2.3)"
    kube_version: str  # the cluster version the chart saw
    notes: tuple[str, ...] = ()  # what the engine did on our behalf (rewrites, fallbacks)
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

    def field(self, name: str | None) -> str:
        return {"Major": self.major, "Minor": self.minor}.get(name or "", self.version)


def _rewrite_text(text: str, kv: KubeVersion) -> tuple[str, int]:
    count = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return json.dumps(kv.field(m.group(1)))

    return _KV_RE.sub(sub, text), count


def rewrite_values(values: Any, kv: KubeVersion) -> tuple[Any, int]:
    """Rewrite KubeVersion references inside string values (charts `tpl` them)."""
    if isinstance(values, dict):
        total = 0
        out = {}
        for k, v in values.items():
            out[k], n = rewrite_values(v, kv)
            total += n
        return out, total
    if isinstance(values, list):
        total = 0
        items = []
        for v in values:
            nv, n = rewrite_values(v, kv)
            items.append(nv)
            total += n
        return items, total
    if isinstance(values, str) and _KV_FAST in values:
        return _rewrite_text(values, kv)
    return values, 0


def _chart_files(root: Path) -> Iterator[Path]:
    """Files Helm treats as templates or default values, in the chart and its unpacked subcharts."""
    for p in root.rglob("*"):
        if not p.is_file():
            continue
        rel = p.relative_to(root).parts
        if "templates" in rel or p.name == "values.yaml":
            yield p


def _unpack_subchart_archives(root: Path) -> None:
    """Expand `charts/*.tgz` in the temp copy so their templates can be rewritten too."""
    for tgz in list(root.rglob("charts/*.tgz")):
        dest = tgz.parent / f".{tgz.stem}-unpacked"
        dest.mkdir()
        with tarfile.open(tgz) as tar:
            tar.extractall(dest, filter="data")
        tops = [p for p in dest.iterdir() if p.is_dir()]
        if len(tops) != 1:
            raise InputError(f"{tgz.name}: subchart archive must hold one chart folder")
        target = tgz.parent / tops[0].name
        if target.exists():  # Helm would load both; the unpacked folder wins here as it does in our tree
            shutil.rmtree(dest)
        else:
            tops[0].rename(target)
            shutil.rmtree(dest)
        tgz.unlink()
        _unpack_subchart_archives(target)


def chart_reads_kube_version(chart_dir: Path) -> bool:
    for p in _chart_files(chart_dir):
        try:
            if _KV_FAST in p.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return any(chart_dir.rglob("charts/*.tgz"))  # unknown without unpacking: treat as maybe


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


def _split_documents(text: str, source: str) -> list[dict[str, Any]]:
    docs = yamlio.loads_all(text, source)
    out = []
    for d in docs:
        if d is None:
            continue
        if not isinstance(d, dict):
            raise RenderError(f"{source}: rendered a YAML document that is not a mapping")
        out.append(d)
    return out


def _json_values(values: dict[str, Any]) -> dict[str, Any]:
    # YAML may have produced dates or other non-JSON scalars: hand Helm the strings it would see.
    return json.loads(json.dumps(values, default=str))


class PreparedChart:
    """A chart ready to render several times (one per environment) for one cluster version."""

    def __init__(self, chart_dir: Path, *, kube_version: str, engine: str = "auto", include_crds: bool = True) -> None:
        if engine not in ENGINES:
            raise InputError(f"unknown render engine {engine!r} (expected {', '.join(ENGINES)})")
        self.chart_dir = Path(chart_dir)
        if not (self.chart_dir / "Chart.yaml").is_file():
            raise InputError(f"{self.chart_dir}: not a chart folder (no Chart.yaml)")
        self.kv = KubeVersion.parse(kube_version)
        self.include_crds = include_crds
        self.notes: list[str] = []
        self._chart: Any = None
        self._helm: str | None = None
        # Rendered text -> parsed documents. Most templates render the same for every environment;
        # parsing YAML costs more than rendering it, so each distinct text is parsed once. The
        # parsed objects are shared between results: treat manifests as read-only.
        self._parsed: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._crds: list[tuple[str, str]] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if engine == "helm":
            self._helm = self._require_helm("--engine helm")
        else:
            self._prepare_embedded(engine)

    # -- set-up -----------------------------------------------------------------------------

    def _require_helm(self, why: str) -> str:
        binary = find_helm_binary()
        if binary is None:
            raise RenderError(
                f"{self.chart_dir.name}: {why} needs a `helm` binary and none is on PATH",
                hint="install helm (v3.13+ or v4) or set CHARTKEEPER_HELM to its path",
            )
        return binary

    def _prepare_embedded(self, engine: str) -> None:
        if not chart_reads_kube_version(self.chart_dir):
            self._chart = self._load(self.chart_dir)
            return
        self._tmp = tempfile.TemporaryDirectory(prefix="chartkeeper-render-")
        copy = Path(self._tmp.name) / self.chart_dir.name
        shutil.copytree(self.chart_dir, copy, symlinks=False)
        _unpack_subchart_archives(copy)
        rewritten = 0
        leftovers: list[str] = []
        for p in _chart_files(copy):
            text = p.read_text(encoding="utf-8", errors="surrogateescape")
            if _KV_FAST not in text:
                continue
            new, n = _rewrite_text(text, self.kv)
            rewritten += n
            if _KV_ANY_RE.search(new):
                leftovers.append(p.relative_to(copy).as_posix())
            if n:
                p.write_text(new, encoding="utf-8", errors="surrogateescape")
        if leftovers:
            why = f"reads .Capabilities.KubeVersion in a form the embedded engine cannot pin ({', '.join(sorted(leftovers)[:3])})"
            if engine == "embedded":
                self.close()
                raise RenderError(
                    f"{self.chart_dir.name}: {why}; the embedded engine would render it for Kubernetes v1.36.0",
                    hint="re-run with --engine helm (needs a helm binary)",
                )
            self._helm = self._require_helm(f"{why}; rendering it for {self.kv.version}")
            self.notes.append(f"{why}: rendered with the helm binary for {self.kv.version} instead of the embedded engine")
            self.close()
            return
        if rewritten:
            self.notes.append(
                f"pinned {rewritten} .Capabilities.KubeVersion reference(s) to {self.kv.version} for the embedded engine"
            )
        self._chart = self._load(copy)

    def _load(self, path: Path) -> Any:
        import helm_python  # lazy: helm-python-sdk loads a large native library; only commands that render need it

        try:
            return helm_python.Chart.load(path)
        except helm_python.HelmError as exc:
            raise RenderError(f"{self.chart_dir.name}: cannot load chart: {exc}") from None

    def close(self) -> None:
        if self._chart is not None:
            self._chart.close()
            self._chart = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

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
        notes = list(self.notes)
        if self._helm:
            manifests, chart_notes = self._render_binary(values, release, namespace)
        else:
            rewritten, n = rewrite_values(values, self.kv)
            if n:
                values = rewritten
                notes.append(f"pinned {n} .Capabilities.KubeVersion reference(s) in override values to {self.kv.version}")
            manifests, chart_notes = self._render_embedded(values, release, namespace)
        return RenderResult(tuple(manifests), self.engine, self.engine_version, self.kv.version, tuple(notes), chart_notes)

    def _render_embedded(self, values: dict[str, Any], release: str, namespace: str) -> tuple[list[RenderedManifest], str]:
        import helm_python  # lazy: helm-python-sdk loads a large native library; only commands that render need it

        try:
            rendered = self._chart.render(values, name=release, namespace=namespace, is_install=True)
        except helm_python.HelmError as exc:
            raise RenderError(f"{self.chart_dir.name}: render failed: {exc}") from None
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
        if self.include_crds:
            if self._crds is None:
                self._crds = [(crd["filename"], crd["data"]) for crd in self._chart.crds]
            for filename, data in self._crds:
                for obj in self._parse(data, filename):
                    out.append(RenderedManifest(filename, obj))
        return out, chart_notes

    def _parse(self, text: str, source: str) -> list[dict[str, Any]]:
        key = (source, text)
        docs = self._parsed.get(key)
        if docs is None:
            docs = self._parsed[key] = _split_documents(text, source)
        return docs

    def _render_binary(self, values: dict[str, Any], release: str, namespace: str) -> tuple[list[RenderedManifest], str]:
        assert self._helm
        with tempfile.TemporaryDirectory(prefix="chartkeeper-helm-") as tmp:
            vfile = Path(tmp) / "values.json"
            vfile.write_text(json.dumps(values))
            cmd = [self._helm, "template", release, str(self.chart_dir), "--namespace", namespace,
                   "--kube-version", self.kv.version, "-f", str(vfile)]
            if self.include_crds:
                cmd.append("--include-crds")
            env = dict(os.environ, HELM_CACHE_HOME=f"{tmp}/cache", HELM_CONFIG_HOME=f"{tmp}/config",
                       HELM_DATA_HOME=f"{tmp}/data")
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
            except (OSError, subprocess.SubprocessError) as exc:
                raise RenderError(f"{self.chart_dir.name}: cannot run helm: {exc}") from None
        if proc.returncode != 0:
            msg = proc.stderr.strip().splitlines()
            raise RenderError(f"{self.chart_dir.name}: helm template failed: {' '.join(msg[-3:]) or proc.returncode}")
        return _parse_helm_stream(proc.stdout), ""


def _parse_helm_stream(text: str) -> list[RenderedManifest]:
    """Split `helm template` output into documents, each tagged with its `# Source:` template."""
    out: list[RenderedManifest] = []
    chunks = re.split(r"^---[ \t]*$", text, flags=re.M)
    for chunk in chunks:
        m = _SOURCE_RE.search(chunk)
        source = m.group(1).strip() if m else "unknown"
        for obj in _split_documents(chunk, source):
            out.append(RenderedManifest(source, obj))
    return out


def prepare_chart(chart_dir: Path, *, kube_version: str, engine: str = "auto", include_crds: bool = True) -> PreparedChart:
    return PreparedChart(chart_dir, kube_version=kube_version, engine=engine, include_crds=include_crds)


def render_chart(
    chart_dir: Path,
    values: dict[str, Any],
    *,
    release: str,
    namespace: str,
    kube_version: str,
    engine: str = "auto",
    include_crds: bool = True,
) -> RenderResult:
    """Render `chart_dir` with `values` (overrides; the chart's defaults apply underneath)."""
    with prepare_chart(chart_dir, kube_version=kube_version, engine=engine, include_crds=include_crds) as chart:
        return chart.render(values, release=release, namespace=namespace)

