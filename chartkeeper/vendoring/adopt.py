"""Adopt an existing vendored layout: unpacked charts plus the previous tool's repository map and lock.

Inputs, all optional except the folders themselves:

* folders under the lock's folder, each an unpacked chart (its Chart.yaml gives name/version);
* `charts.json` of the previous tool:
  `{"repositories": {alias: url}, "charts": {name: {"repository": alias, "version": v}}}`;
* its CSV lock: `alias/chart,version,sha256,timestamp` lines after `#` comments.

A folder becomes a lock entry whose treeChecksum is the folder as it is now (adoption
accepts what is deployed); a folder not named `<name>-<version>` is renamed to that, the
releases' `chart:` lines that resolve to the old folder are rewritten on their own line
(chartkeeper.helmfile.rewrite, as `bump` does), and any other line still naming it is reported. Charts the map or CSV lock name but
that have no folder become entries that are "not vendored yet" (`sync` fetches them).
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from chartkeeper import yamlio
from chartkeeper.helmfile import rewrite
from chartkeeper.errors import InputError
from chartkeeper.lockfile import Lock, LockEntry, Subchart
from chartkeeper.vendoring import treesum
from chartkeeper.vendoring.offline import read_dependencies
from chartkeeper.vendoring.unpack import STAGING_PREFIX
from chartkeeper.versions import ChartVersion

_HEX_RE = re.compile(r"^(sha256:)?([0-9a-fA-F]{64})$")


@dataclass(frozen=True)
class LegacyChart:
    name: str
    chart: str
    repository: str | None
    version: str | None
    digest: str | None = None
    fetched: str | None = None


@dataclass(frozen=True)
class Adopted:
    entry: LockEntry
    renamed_from: str | None = None
    references: tuple[str, ...] = ()  # "file:line: text" of helmfile lines still naming the old folder
    notes: tuple[str, ...] = ()
    rewritten: tuple[str, ...] = ()  # "file:line: chart: old -> new" of release `chart:` lines rewritten


@dataclass
class AdoptResult:
    lock: Lock
    adopted: list[Adopted] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "name: why"


def read_charts_json(path: Path) -> tuple[dict[str, str], dict[str, LegacyChart]]:
    label = path.name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{label}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise InputError(f"{label}: must be an object with `repositories` and `charts`")
    repos = data.get("repositories") or {}
    charts = data.get("charts") or {}
    if not isinstance(repos, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in repos.items()):
        raise InputError(f"{label}: repositories: must map aliases to URLs")
    if not isinstance(charts, dict):
        raise InputError(f"{label}: charts: must be an object")
    result: dict[str, LegacyChart] = {}
    for name, spec in charts.items():
        where = f"{label}: charts.{name}"
        if not isinstance(spec, dict):
            raise InputError(f"{where}: must be an object")
        alias = spec.get("repository")
        if not isinstance(alias, str) or not alias:
            raise InputError(f"{where}.repository: is required")
        url = repos.get(alias) or (alias if "://" in alias else None)
        if url is None:
            raise InputError(f"{where}.repository: \"{alias}\" is not in repositories ({', '.join(sorted(repos)) or 'none'})")
        version = spec.get("version")
        if version is not None and not isinstance(version, str):
            raise InputError(f"{where}.version: {version!r} must be a string")
        chart = spec.get("chart") or name
        result[name] = LegacyChart(name, str(chart), url, version)
    return repos, result


def _timestamp(text: str, where: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    try:
        if re.fullmatch(r"\d{9,11}", text):
            t = _dt.datetime.fromtimestamp(int(text), _dt.timezone.utc)
        else:
            t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if t.tzinfo is None:
                t = t.replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        raise InputError(f"{where}: timestamp \"{text}\" is neither ISO 8601 nor Unix seconds") from None
    return t.astimezone(_dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_csv_lock(path: Path, repos: dict[str, str]) -> dict[str, LegacyChart]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    result: dict[str, LegacyChart] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path.name}: line {n}"
        row = next(csv.reader([line]))
        if len(row) != 4 or "/" not in row[0]:
            raise InputError(f"{where}: expected alias/chart,version,sha256,timestamp")
        ref, version, sha, stamp = (c.strip() for c in row)
        alias, chart = ref.split("/", 1)
        if ChartVersion.try_parse(version) is None:
            raise InputError(f"{where}: \"{version}\" is not a valid chart version")
        m = _HEX_RE.match(sha)
        if sha and not m:
            raise InputError(f"{where}: \"{sha}\" is not a sha256 digest")
        result[chart] = LegacyChart(chart, chart, repos.get(alias), version,
                                    f"sha256:{m.group(2).lower()}" if m else None, _timestamp(stamp, where))
    return result


def helmfile_references(search_root: Path, lock_dir_name: str, folder: str) -> list[str]:
    """Lines of helmfile files under `search_root` that name `<lock dir>/<folder>` as a path."""
    pattern = re.compile(re.escape(f"{lock_dir_name}/{folder}") + r"(?![\w.-])")
    found: list[str] = []
    if not search_root.is_dir():
        return found
    for p in sorted(search_root.rglob("*")):
        if not p.is_file() or not (p.suffix in (".yaml", ".yml", ".gotmpl", ".tpl") or p.name.endswith(".yaml.gotmpl")):
            continue
        if lock_dir_name in p.parts:
            continue  # the vendored charts themselves
        try:
            lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for i, line in enumerate(lines, start=1):
            if pattern.search(line):
                found.append(f"{_shown(p, search_root)}:{i}: {line.strip()}")
    return found


def _shown(path: Path, helmfile_root: Path) -> str:
    """`path` relative to the deployment root (the helmfile folder's parent) when it is inside it."""
    try:
        return path.relative_to(helmfile_root.parent).as_posix()
    except ValueError:
        return str(path)


def _subcharts(folder: Path, label: str) -> tuple[Subchart, ...]:
    subs = []
    for dep in read_dependencies(folder, label):
        sub = folder / "charts" / dep.name
        version = dep.locked_version or dep.version
        meta = yamlio.load_file(sub / "Chart.yaml") if (sub / "Chart.yaml").is_file() else None
        if isinstance(meta, dict) and meta.get("version"):
            version = str(meta["version"])
        repo = dep.repository if dep.repository and not dep.repository.startswith("file://") else None
        subs.append(Subchart(dep.name, version, None, repo, dep.alias))
    return tuple(sorted(subs, key=lambda s: (s.alias or s.name, s.name)))


def adopt(lock: Lock, legacy: dict[str, LegacyChart], helmfile_root: Path) -> AdoptResult:
    """Turn the folders under `lock.root` and the legacy records into lock entries (writes folders' renames and manifests)."""
    root = lock.root
    result = AdoptResult(lock)
    owned = {Path(e.folder).parts[0] for e in lock.entries}
    seen: set[str] = set()
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if folder.name.startswith(".") or folder.name.startswith(STAGING_PREFIX) or folder.name in owned:
            continue
        if not (folder / "Chart.yaml").is_file():
            result.skipped.append(f"{folder.name}: no Chart.yaml; not a chart folder")
            continue
        meta = yamlio.load_file(folder / "Chart.yaml")
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or meta.get("version") is None:
            result.skipped.append(f"{folder.name}: Chart.yaml has no name/version")
            continue
        name, version = meta["name"], str(meta["version"])
        if result.lock.get(name) is not None:
            result.skipped.append(f"{folder.name}: {name} is already pinned")
            continue
        old = legacy.get(name)
        notes: list[str] = []
        if old is None or not old.repository:
            result.skipped.append(f"{folder.name}: no repository known for {name} (give --charts-json, or use `chartkeeper add`)")
            continue
        seen.add(name)
        if old.version and ChartVersion.try_parse(old.version) != ChartVersion.try_parse(version):
            notes.append(f"the legacy records say {old.version}; the folder holds {version} (the folder wins)")
        target = f"{name}-{version}"
        renamed_from = None
        refs: tuple[str, ...] = ()
        rewritten: tuple[str, ...] = ()
        if folder.name != target:
            if (root / target).exists():
                result.skipped.append(f"{folder.name}: cannot rename to {target}, which exists")
                continue
            folder.rename(root / target)
            renamed_from = folder.name
            changes = rewrite.rewrite_chart_paths(rewrite.state_files(helmfile_root), folder, root / target)
            rewritten = tuple(
                f"{_shown(c.file, helmfile_root)}:{c.line}: chart: {c.old} -> {c.new}" + (" (templated: review)" if c.templated else "")
                for c in changes
            )
            # Whatever still names the old folder (postrenderer args, values paths) is for a person to fix.
            refs = tuple(helmfile_references(helmfile_root, root.name, renamed_from))
            folder = root / target
        manifest = treesum.tree_manifest(folder)
        digest = old.digest if old.version and ChartVersion.try_parse(old.version) == ChartVersion.try_parse(version) else None
        entry = LockEntry(
            name=name, chart=old.chart, repository=old.repository, version=version, digest=digest, path=target,
            app_version=str(meta["appVersion"]) if meta.get("appVersion") is not None else None,
            fetched=old.fetched, tree_checksum=treesum.checksum_of_manifest(manifest),
            subcharts=_subcharts(folder, folder.name),
        )
        treesum.write_manifest(root, name, manifest)
        result.lock = result.lock.upsert(entry)
        result.adopted.append(Adopted(entry, renamed_from, refs, tuple(notes), rewritten))
    for name, old in sorted(legacy.items()):
        if name in seen or result.lock.get(name) is not None:
            continue
        if not old.repository or not old.version:
            result.skipped.append(f"{name}: the legacy records lack its repository or version")
            continue
        if ChartVersion.try_parse(old.version) is None:
            result.skipped.append(f"{name}: \"{old.version}\" is not a valid chart version")
            continue
        entry = LockEntry(name=name, chart=old.chart, repository=old.repository, version=old.version,
                          digest=old.digest, path=f"{name}-{old.version}", fetched=old.fetched)
        result.lock = result.lock.upsert(entry)
        result.adopted.append(Adopted(entry, notes=("no folder yet; `chartkeeper sync` vendors it",)))
    return result


def merge_legacy(json_charts: dict[str, LegacyChart], csv_charts: dict[str, LegacyChart]) -> dict[str, LegacyChart]:
    """charts.json names repositories; the CSV lock adds digests and times (and repositories it can resolve)."""
    merged = dict(json_charts)
    for name, c in csv_charts.items():
        base = merged.get(name)
        if base is None:
            merged[name] = c
        else:
            same = c.version is None or base.version is None or ChartVersion.try_parse(c.version) == ChartVersion.try_parse(base.version)
            merged[name] = LegacyChart(name, base.chart, base.repository or c.repository, base.version or c.version,
                                       c.digest if same else None, c.fetched if same else None)
    return merged
