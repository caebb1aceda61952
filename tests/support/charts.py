"""Build real chart folders, real `.tgz` archives and real `index.yaml` files for tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

FIXED_MTIME = 1_700_000_000


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write `{relative path: content}` under `root` (copier's build_file_tree)."""
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return root


def write_chart(
    parent: Path,
    name: str,
    version: str,
    *,
    values: Mapping[str, Any] | str | None = None,
    templates: Mapping[str, str] | None = None,
    app_version: str | None = None,
    dependencies: Iterable[Mapping[str, Any]] = (),
    subcharts: Iterable[Path] = (),
    crds: Mapping[str, str] | None = None,
    files: Mapping[str, str | bytes] | None = None,
    chart_extra: Mapping[str, Any] | None = None,
    folder: str | None = None,
) -> Path:
    """Write a chart folder `parent/<folder or name>/`; subcharts are copied under charts/."""
    import shutil

    root = parent / (folder or name)
    root.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"apiVersion": "v2", "name": name, "version": version, "type": "application"}
    if app_version is not None:
        meta["appVersion"] = app_version
    deps = [dict(d) for d in dependencies]
    if deps:
        meta["dependencies"] = deps
    meta.update(chart_extra or {})
    (root / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    if isinstance(values, str):
        (root / "values.yaml").write_text(values)
    else:
        (root / "values.yaml").write_text(yaml.safe_dump(dict(values or {}), sort_keys=False))
    tdir = root / "templates"
    tdir.mkdir(exist_ok=True)
    for rel, text in (templates or {}).items():
        (tdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (tdir / rel).write_text(text)
    for rel, text in (crds or {}).items():
        (root / "crds" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "crds" / rel).write_text(text)
    for sub in subcharts:
        (root / "charts").mkdir(exist_ok=True)
        shutil.copytree(sub, root / "charts" / sub.name)
    write_tree(root, files or {})
    return root


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = FIXED_MTIME
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def package_chart(chart_dir: Path, out_dir: Path, *, archive_name: str | None = None) -> Path:
    """`helm package`: a gzip tarball whose single top folder is the chart name. Deterministic."""
    meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    name, version = meta["name"], meta["version"]
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / (archive_name or f"{name}-{version}.tgz")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=FIXED_MTIME) as gz:
        with tarfile.open(fileobj=gz, mode="w") as tar:
            for p in sorted(chart_dir.rglob("*")):
                if p.is_file():
                    _add(tar, f"{name}/{p.relative_to(chart_dir).as_posix()}", p.read_bytes())
    out.write_bytes(buf.getvalue())
    return out


def raw_archive(members: Iterable[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    """A .tgz with exactly these members (for hostile-archive tests)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=FIXED_MTIME) as gz:
        with tarfile.open(fileobj=gz, mode="w") as tar:
            for m in members:
                if isinstance(m, tarfile.TarInfo):
                    tar.addfile(m)
                else:
                    _add(tar, m[0], m[1])
    return buf.getvalue()


def sha256_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def build_index(repo_dir: Path, *, base_url: str | None = None, created: str = "2025-09-03T10:00:00Z",
                extra: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write `index.yaml` for every `*.tgz` in `repo_dir` (like `helm repo index`).

    `extra` maps "<name>-<version>" to fields merged into that entry (annotations, created…).
    URLs are relative unless `base_url` is given.
    """
    entries: dict[str, list[dict[str, Any]]] = {}
    for tgz in sorted(repo_dir.glob("*.tgz")):
        with tarfile.open(tgz) as tar:
            chart_yaml = next(m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml"))
            meta = yaml.safe_load(tar.extractfile(chart_yaml).read())  # type: ignore[union-attr]
        digest = hashlib.sha256(tgz.read_bytes()).hexdigest()
        entry = dict(meta)
        entry.update({"created": created, "digest": digest, "urls": [f"{base_url.rstrip('/')}/{tgz.name}" if base_url else tgz.name]})
        entry.update((extra or {}).get(f"{meta['name']}-{meta['version']}", {}))
        entries.setdefault(meta["name"], []).append(entry)
    index = {"apiVersion": "v1", "entries": entries, "generated": created}
    path = repo_dir / "index.yaml"
    path.write_text(yaml.safe_dump(index, sort_keys=False))
    return path
