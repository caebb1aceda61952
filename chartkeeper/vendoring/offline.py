"""Make a vendored chart deployable with no network: every dependency unpacked under charts/.

For each dependency the chart declares (Chart.yaml, or requirements.yaml for apiVersion v1):

1. `charts/<name>/` already there (a folder whose Chart.yaml names the chart): kept;
   a folder of that chart under another name is renamed to `charts/<name>`;
2. an archive `charts/<name>-<version>.tgz` (what `helm package` embeds): safely unpacked
   to `charts/<name>/` and removed, so there is one copy and the tree checksum covers it;
3. neither: fetched from the dependency's own repository (HTTP or OCI) through
   `fetch_missing`, at the version Chart.lock pins, else the newest one its constraint allows.

Then each dependency's `repository:` becomes `file://charts/<name>` (line edits, see
chartyaml), Chart.lock / requirements.lock get the same repositories and Helm's digest over
them, so `helm dependency build` and helmfile stay offline and in sync. Subcharts are made
offline recursively; only the chart's own dependencies are returned for the lock.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from chartkeeper import yamlio
from chartkeeper.errors import InputError, IntegrityError
from chartkeeper.lockfile import Subchart
from chartkeeper.vendoring import chartyaml
from chartkeeper.vendoring.unpack import ExtractLimits, safe_extract
from chartkeeper.versions import ChartVersion, Constraint

MAX_DEPTH = 5
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Dependency:
    name: str
    version: str  # a constraint as Chart.yaml writes it
    repository: str  # as the chart's author wrote it ("" when none)
    alias: str | None
    locked_version: str | None  # from Chart.lock / requirements.lock


@dataclass(frozen=True)
class Fetched:
    archive: Path
    version: str
    digest: str
    repository: str


#: fetch_missing(dependency, where) -> the archive of the dependency, already digest-verified
FetchMissing = Callable[[Dependency, str], Fetched]


def _deps_files(chart_dir: Path) -> tuple[Path | None, Path | None]:
    meta = yamlio.load_file(chart_dir / "Chart.yaml") or {}
    if isinstance(meta, dict) and meta.get("dependencies"):
        return chart_dir / "Chart.yaml", chart_dir / "Chart.lock"
    req = chart_dir / "requirements.yaml"
    if req.is_file():
        return req, chart_dir / "requirements.lock"
    return None, None


def read_dependencies(chart_dir: Path, label: str) -> list[Dependency]:
    deps_file, lock_file = _deps_files(chart_dir)
    if deps_file is None:
        return []
    data = yamlio.load_file(deps_file) or {}
    raw = data.get("dependencies") if isinstance(data, dict) else None
    if not raw:
        return []
    if not isinstance(raw, list):
        raise InputError(f"{label}/{deps_file.name}: dependencies: must be a list")
    locked: dict[str, str] = {}
    if lock_file is not None and lock_file.is_file():
        ldata = yamlio.load_file(lock_file) or {}
        for d in (ldata.get("dependencies") or []) if isinstance(ldata, dict) else []:
            if isinstance(d, dict) and d.get("name") and d.get("version"):
                locked[str(d["name"])] = str(d["version"])
    result = []
    for i, d in enumerate(raw):
        if not isinstance(d, dict) or not isinstance(d.get("name"), str) or not _NAME_OK.match(d["name"]):
            raise InputError(f"{label}/{deps_file.name}: dependencies[{i}].name: missing or not a chart name")
        result.append(
            Dependency(
                name=d["name"],
                version=str(d.get("version") or ""),
                repository=str(d.get("repository") or ""),
                alias=str(d["alias"]) if d.get("alias") else None,
                locked_version=locked.get(d["name"]),
            )
        )
    return result


def _chart_name_version(folder: Path) -> tuple[str, str] | None:
    try:
        meta = yamlio.load_file(folder / "Chart.yaml")
    except InputError:
        return None
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        return meta["name"], str(meta.get("version") or "")
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _allows(dep: Dependency, version: str) -> bool:
    v = ChartVersion.try_parse(version)
    if v is None or not dep.version:
        return True
    try:
        return Constraint.parse(dep.version).allows(v, pre=True)
    except InputError:
        return True


def _embedded_archive(charts_dir: Path, dep: Dependency) -> Path | None:
    """The best `charts/<name>-<version>.tgz` for `dep`: the locked version, else the newest allowed."""
    candidates: list[tuple[ChartVersion, Path]] = []
    prefix = dep.name + "-"
    for p in charts_dir.glob("*.tgz"):
        if not p.name.startswith(prefix) or p.is_symlink():
            continue
        v = ChartVersion.try_parse(p.name[len(prefix) : -len(".tgz")])
        if v is not None:
            candidates.append((v, p))
    if not candidates:
        return None
    if dep.locked_version:
        lv = ChartVersion.try_parse(dep.locked_version)
        for v, p in candidates:
            if lv is not None and v == lv:
                return p
    allowed = [(v, p) for v, p in candidates if _allows(dep, v.text)]
    return max(allowed or candidates, key=lambda vp: vp[0])[1]


def make_offline(
    chart_dir: Path,
    *,
    fetch_missing: FetchMissing,
    limits: ExtractLimits | None = None,
    label: str | None = None,
    depth: int = 0,
) -> tuple[Subchart, ...]:
    """Unpack or fetch every dependency of `chart_dir` under charts/<name>/ and rewrite repositories."""
    label = label or chart_dir.name
    if depth > MAX_DEPTH:
        raise InputError(f"{label}: subcharts nest deeper than {MAX_DEPTH} levels")
    deps = read_dependencies(chart_dir, label)
    if not deps:
        return ()
    charts_dir = chart_dir / "charts"
    if charts_dir.is_symlink():
        raise IntegrityError(f"{label}: charts/ is a symlink")
    charts_dir.mkdir(mode=0o755, exist_ok=True)
    recorded: dict[str, Subchart] = {}
    for dep in deps:
        folder = charts_dir / dep.name
        where = f"{label}/charts/{dep.name}"
        origin = dep.repository or None
        digest: str | None = None
        if dep.name in recorded:  # the same chart under another alias shares the folder
            prev = recorded[dep.name]
            if not _allows(dep, prev.version):
                raise InputError(f"{label}: dependency {dep.alias or dep.name} wants {dep.name} {dep.version}, "
                                 f"but charts/{dep.name} is {prev.version} (needed by another alias)")
            recorded[f"{dep.name}\0{dep.alias}"] = Subchart(dep.name, prev.version, prev.digest, prev.repository, dep.alias)
            continue
        present = _chart_name_version(folder) if folder.is_dir() and not folder.is_symlink() else None
        if present is not None and present[0] != dep.name:
            raise IntegrityError(f"{where}: holds the chart {present[0]!r}, not {dep.name!r}")
        if present is None:
            # A folder of this chart under another name (e.g. charts/redis-17.1.0/)?
            for other in sorted(charts_dir.iterdir()):
                if other.is_dir() and not other.is_symlink() and other.name != dep.name:
                    nv = _chart_name_version(other)
                    if nv is not None and nv[0] == dep.name and _allows(dep, nv[1]):
                        other.rename(folder)
                        present = nv
                        break
        if present is None:
            embedded = _embedded_archive(charts_dir, dep)
            if embedded is not None:
                digest = _sha256(embedded)
                safe_extract(embedded, folder, dep.name, limits)
                embedded.unlink()
            else:
                fetched = fetch_missing(dep, where)
                digest = fetched.digest
                origin = fetched.repository
                safe_extract(fetched.archive, folder, dep.name, limits)
            present = _chart_name_version(folder)
            assert present is not None
        # Any other archive of the same chart would load as a second copy: drop it.
        for stale in charts_dir.glob(f"{dep.name}-*.tgz"):
            v = ChartVersion.try_parse(stale.name[len(dep.name) + 1 : -4])
            if v is not None:
                stale.unlink()
        make_offline(folder, fetch_missing=fetch_missing, limits=limits, label=where, depth=depth + 1)
        recorded[dep.name] = Subchart(dep.name, present[1], digest, origin, dep.alias)
    _rewrite(chart_dir, label)
    return tuple(sorted(recorded.values(), key=lambda s: (s.alias or s.name, s.name)))


def offline_repository(name: str) -> str:
    return f"file://charts/{name}"


def _rewrite(chart_dir: Path, label: str) -> None:
    deps_file, lock_file = _deps_files(chart_dir)
    assert deps_file is not None
    text = deps_file.read_text(encoding="utf-8")
    new = chartyaml.rewrite_repositories(text, lambda i, d: offline_repository(str(d["name"])), f"{label}/{deps_file.name}")
    if new != text:
        deps_file.write_text(new, encoding="utf-8")
    if lock_file is None or not lock_file.is_file():
        return
    ltext = lock_file.read_text(encoding="utf-8")
    lwhere = f"{label}/{lock_file.name}"
    lnew = chartyaml.rewrite_repositories(ltext, lambda i, d: offline_repository(str(d["name"])), lwhere)
    requested = (yamlio.loads(new, deps_file.name) or {}).get("dependencies") or []
    locked_data: Any = yamlio.loads(lnew, lwhere) or {}
    locked = locked_data.get("dependencies") or [] if isinstance(locked_data, dict) else []
    if isinstance(locked_data, dict) and "digest" in locked_data:
        lnew = chartyaml.set_lock_digest(lnew, chartyaml.helm_lock_digest(requested, locked), lwhere)
    if lnew != ltext:
        lock_file.write_text(lnew, encoding="utf-8")
