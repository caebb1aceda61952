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

Nothing the old records claim is adopted unchecked: the folder's Chart.yaml is what gets pinned,
and every way the records disagree with it (or with each other, or with the repository) is a
*disagreement* on that chart. An old-lock checksum becomes `digest:` only when it is the sha256
the repository publishes for that version; when the repository cannot be asked, it is reported
as unverified and left out of the lock (`sync` records the published digest when it fetches).
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
from chartkeeper.errors import ChartkeeperError, InputError
from chartkeeper.lockfile import Lock, LockEntry, Subchart, is_chart_name
from chartkeeper.vendoring import treesum
from chartkeeper.vendoring.offline import read_dependencies
from chartkeeper.vendoring.stage import SourcePool, find_release
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
    notes: tuple[str, ...] = ()  # information: not vendored yet, a checksum that could not be checked
    rewritten: tuple[str, ...] = ()  # "file:line: chart: old -> new" of release `chart:` lines rewritten
    disagreements: tuple[str, ...] = ()  # where the old records and the folder (or repository) disagree
    unverified_digest: str | None = None  # the old lock's checksum, when the repository could not confirm it


@dataclass
class AdoptResult:
    lock: Lock
    adopted: list[Adopted] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "name: why"

    @property
    def disagreements(self) -> int:
        return sum(len(a.disagreements) for a in self.adopted)

    @property
    def unverified(self) -> int:
        return sum(1 for a in self.adopted if a.unverified_digest)


@dataclass(frozen=True)
class Legacy:
    """What the previous tool recorded, per source: its chart map and its CSV lock (either may be absent)."""

    charts_json: dict[str, LegacyChart] = field(default_factory=dict)
    csv_lock: dict[str, LegacyChart] = field(default_factory=dict)
    csv_name: str | None = None  # the CSV lock's file name, when one was given

    def names(self) -> set[str]:
        return set(self.charts_json) | set(self.csv_lock)

    def repository(self, name: str) -> tuple[str, str] | None:
        """(repository URL, chart name in it): charts.json names repositories; the CSV lock may resolve one too."""
        j, c = self.charts_json.get(name), self.csv_lock.get(name)
        repo = (j.repository if j else None) or (c.repository if c else None)
        if not repo:
            return None
        return repo, (j.chart if j else c.chart if c else name)


@dataclass(frozen=True)
class DigestCheck:
    state: str  # "verified" | "differs" | "unverified"
    published: str | None = None
    why: str = ""


class DigestChecker:
    """Ask each repository (once per run, mirrors applied) what digest it publishes for a chart version."""

    def __init__(self, pool: SourcePool | None) -> None:
        self.pool = pool  # None: never contact a repository (every claim stays unverified)
        self._failed: dict[str, str] = {}  # repository -> why it could not be read (asked once)

    def check(self, repository: str, chart: str, version: str, claimed: str) -> DigestCheck:
        if self.pool is None:
            return DigestCheck("unverified", why="repositories not contacted")
        if repository in self._failed:
            return DigestCheck("unverified", why=self._failed[repository])
        try:
            release = find_release(self.pool.get(repository), chart, version)
        except ChartkeeperError as exc:
            if "is not published" not in exc.message:
                self._failed[repository] = exc.message
            return DigestCheck("unverified", why=exc.message)
        if not release.digest:
            return DigestCheck("unverified", why=f"{repository} publishes no digest for {chart} {version}")
        if release.digest.lower() == claimed.lower():
            return DigestCheck("verified", release.digest)
        return DigestCheck("differs", release.digest)


def _shown_name(value: object) -> str:
    return repr(value)[1:-1][:80] if isinstance(value, str) else str(value)[:80]


def read_charts_json(path: Path) -> tuple[dict[str, str], dict[str, LegacyChart]]:
    label = path.name
    try:
        data = json.loads(yamlio.decode(path.read_bytes(), label))
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
        for field_, value in (("", name), (".chart", chart)):  # names become folders: checked before any write
            if not isinstance(value, str) or not is_chart_name(value):
                raise InputError(f"{label}: charts.{_shown_name(name)}{field_}: \"{_shown_name(value)}\" is not a valid chart name "
                                 "(lowercase letters, digits, - _ .)")
        if version is not None and ChartVersion.try_parse(version) is None:
            raise InputError(f"{where}.version: \"{_shown_name(version)}\" is not a valid chart version")
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
        text = yamlio.decode(path.read_bytes(), path.name)
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
        if not is_chart_name(chart):
            raise InputError(f"{where}: \"{_shown_name(chart)}\" is not a valid chart name (lowercase letters, digits, - _ .)")
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


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and ChartVersion.try_parse(a) == ChartVersion.try_parse(b)


def _folder_version(folder: str, name: str) -> str | None:
    """The version a folder named `<name>-<version>` claims, if it claims one."""
    rest = folder[len(name) + 1:] if folder.startswith(f"{name}-") else None
    return rest if rest and ChartVersion.try_parse(rest) is not None else None


def _version_disagreements(legacy: Legacy, name: str, version: str, folder: str) -> list[str]:
    """How the records' versions differ from the folder's Chart.yaml (which is what gets pinned)."""
    out: list[str] = []
    j, c = legacy.charts_json.get(name), legacy.csv_lock.get(name)
    json_off = j is not None and j.version and not _same(j.version, version)
    csv_off = c is not None and c.version and not _same(c.version, version)
    if json_off and csv_off and _same(j.version, c.version):  # one claim, made twice: one disagreement
        out.append(f"charts.json and the old lock ({legacy.csv_name}) say {c.version}; the folder holds {version} "
                   f"(pinned {version}, as vendored; the old lock's checksum, for {c.version}, is not used)")
        json_off = csv_off = False
    if json_off:
        out.append(f"charts.json pins {j.version}; the folder holds {version} (pinned {version}, as vendored)")
    if csv_off:
        out.append(f"the old lock ({legacy.csv_name}) says {c.version}; the folder holds {version} "
                   f"(pinned {version}, as vendored; its checksum, for {c.version}, is not used)")
    if legacy.csv_name is not None and c is None:
        out.append(f"vendored, but absent from the old lock ({legacy.csv_name})")
    named = _folder_version(folder, name)
    if named is not None and not _same(named, version):
        out.append(f"the folder name says {named}; its Chart.yaml says {version} (pinned {version})")
    return out


def _digest(checker: DigestChecker, legacy: Legacy, name: str, repository: str, chart: str, version: str,
            disagreements: list[str], notes: list[str]) -> tuple[str | None, str | None]:
    """(digest for the lock, unverified claim): the old lock's checksum only once the repository confirms it."""
    c = legacy.csv_lock.get(name)
    if c is None or not c.digest or not _same(c.version, version):
        return None, None
    result = checker.check(repository, chart, version, c.digest)
    if result.state == "verified":
        return result.published, None
    if result.state == "differs":
        disagreements.append(
            f"the old lock's checksum {c.digest} is not the sha256 of the archive {repository} publishes for "
            f"{chart} {version} ({result.published}); pinned the published digest"
        )
        return result.published, None
    notes.append(f"the old lock's checksum {c.digest} is unverified ({result.why}); not recorded as the digest")
    return None, c.digest


def adopt(lock: Lock, legacy: Legacy, helmfile_root: Path, checker: DigestChecker | None = None) -> AdoptResult:
    """Turn the folders under `lock.root` and the legacy records into lock entries (writes folders' renames and manifests)."""
    checker = checker or DigestChecker(None)
    root = lock.root
    result = AdoptResult(lock)
    owned = {Path(e.folder).parts[0] for e in lock.entries}
    seen: set[str] = set()
    # Every Chart.yaml is read and checked before the first folder is renamed: a broken one refuses
    # the import with the tree as it was, never half-adopted.
    candidates: list[tuple[Path, dict]] = []
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
        if not is_chart_name(meta["name"]) or ChartVersion.try_parse(str(meta["version"])) is None:
            # `<name>-<version>` becomes its folder: nothing but a plain name and version may go there
            result.skipped.append(f"{folder.name}: Chart.yaml's name {_shown_name(meta['name'])!r} or version "
                                  f"{_shown_name(str(meta['version']))!r} is not valid; not adopted")
            continue
        candidates.append((folder, meta))
    for folder, meta in candidates:
        name, version = meta["name"], str(meta["version"])
        if result.lock.get(name) is not None:
            result.skipped.append(f"{folder.name}: {name} is already pinned")
            continue
        where = legacy.repository(name)
        if where is None:
            result.skipped.append(f"{folder.name}: no repository known for {name} (give --charts-json, or use `chartkeeper add`)")
            continue
        repository, chart = where
        seen.add(name)
        disagreements = _version_disagreements(legacy, name, version, folder.name)
        notes: list[str] = []
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
        digest, unverified = _digest(checker, legacy, name, repository, chart, version, disagreements, notes)
        manifest = treesum.tree_manifest(folder)
        csv = legacy.csv_lock.get(name)
        entry = LockEntry(
            name=name, chart=chart, repository=repository, version=version, digest=digest, path=target,
            app_version=str(meta["appVersion"]) if meta.get("appVersion") is not None else None,
            fetched=csv.fetched if csv is not None and _same(csv.version, version) else None,
            tree_checksum=treesum.checksum_of_manifest(manifest),
            subcharts=_subcharts(folder, folder.name),
        )
        treesum.write_manifest(root, name, manifest)
        result.lock = result.lock.upsert(entry)
        result.adopted.append(Adopted(entry, renamed_from, refs, tuple(notes), rewritten, tuple(disagreements), unverified))
    for name in sorted(legacy.names()):
        if name in seen or result.lock.get(name) is not None:
            continue
        j, c = legacy.charts_json.get(name), legacy.csv_lock.get(name)
        where = legacy.repository(name)
        version = (j.version if j else None) or (c.version if c else None)
        if where is None or not version:
            result.skipped.append(f"{name}: the legacy records lack its repository or version")
            continue
        if ChartVersion.try_parse(version) is None:
            result.skipped.append(f"{name}: \"{version}\" is not a valid chart version")
            continue
        repository, chart = where
        disagreements = []
        notes = []
        if c is not None:
            disagreements.append(f"the old lock ({legacy.csv_name}) lists {c.version}, but no folder holds it; "
                                 "pinned, not vendored yet (`chartkeeper sync` vendors it)")
            if j is not None and j.version and c.version and not _same(j.version, c.version):
                disagreements.append(f"charts.json pins {j.version}, the old lock {c.version} (pinned {version}, as charts.json)")
        else:
            notes.append("no folder yet; `chartkeeper sync` vendors it")
        digest, unverified = _digest(checker, legacy, name, repository, chart, version, disagreements, notes)
        entry = LockEntry(name=name, chart=chart, repository=repository, version=version, digest=digest,
                          path=f"{name}-{version}",
                          fetched=c.fetched if c is not None and _same(c.version, version) else None)
        result.lock = result.lock.upsert(entry)
        result.adopted.append(Adopted(entry, notes=tuple(notes), disagreements=tuple(disagreements),
                                      unverified_digest=unverified))
    return result
