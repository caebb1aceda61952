"""Stage a chart in a temp folder next to its final place, then swap it in with renames.

`stage_chart` does all the slow and fallible work — resolve the exact version, download,
verify the digest, unpack safely, make subcharts offline, checksum the tree — inside
`<staging_parent>/.chartkeeper-staging-<random>/`, where nothing anyone reads can see it.
`swap_in` then replaces the vendored folder with two renames on the same filesystem: the old
folder is moved aside, the new one moved in, the old one removed. A run killed at any point
leaves either the old folder or the new one in place, plus at most a `.chartkeeper-staging-*`
folder that `clean_leftovers` (called by every writing command) removes.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from chartkeeper import yamlio
from chartkeeper.errors import InputError, IntegrityError, SourceError
from chartkeeper.fsutil import resolves_inside, sweep_temp_files
from chartkeeper.lockfile import LockEntry, Subchart
from chartkeeper.sources.base import ChartRelease, Source
from chartkeeper.sources.factory import open_source
from chartkeeper.vendoring import treesum
from chartkeeper.vendoring.offline import Dependency, Fetched, make_offline
from chartkeeper.vendoring.provenance import fetch_provenance, keyring_of, verify_provenance
from chartkeeper.vendoring.unpack import STAGING_PREFIX, ExtractLimits, safe_extract
from chartkeeper.versions import ChartVersion, Constraint, newest

if TYPE_CHECKING:
    from chartkeeper.output import Output
    from chartkeeper.settings import Settings


class SourcePool:
    """One Source per repository URL for a whole run: an index is read (or revalidated) once,
    not once per chart. Close it at the end of the run."""

    def __init__(self, settings: "Settings", labels: dict[str, str] | None = None) -> None:
        self.settings = settings
        self._open: dict[str, Source] = {}
        # what to call a source in messages when its URL is ours, not the user's (a bundle unpacked
        # into a staging folder is named after the bundle the user gave)
        self._labels = labels or {}

    def get(self, url: str) -> Source:
        if url not in self._open:
            self._open[url] = open_source(url, self.settings)
            if url in self._labels:
                self._open[url].label = self._labels[url]
        return self._open[url]

    def close(self) -> None:
        for s in self._open.values():
            s.close()
        self._open.clear()

    def __enter__(self) -> "SourcePool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class StagedChart:
    folder: Path  # the prepared chart folder, inside work_dir
    entry: LockEntry  # what the lock should say once it is swapped in
    release: ChartRelease
    manifest: Mapping[str, treesum.FileSum] = field(repr=False, compare=False)
    work_dir: Path = Path()

    def discard(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def find_release(source: Source, chart: str, version: str) -> ChartRelease:
    """The release of `chart` published as `version` (any `v` spelling of it)."""
    listing = source.versions(chart)
    want = ChartVersion.try_parse(version)
    if want is None:
        raise InputError(f'"{version}" is not a valid chart version')
    exact = [r for r in listing.releases if r.version.text == version]
    same = exact or [r for r in listing.releases if r.version == want]
    if not same:
        near = sorted((r.version for r in listing.releases), reverse=True)[:5]
        shown = ", ".join(v.text for v in near) or "none"
        raise SourceError(f"{source.display_url}: {chart} {version} is not published (newest: {shown})")
    return source.describe(same[0])  # OCI listings carry no digest until described


def _dependency_fetcher(
    settings: "Settings",
    work: Path,
    out: "Output | None",
    pinned: Mapping[str, Subchart] | None = None,
    sources: "SourcePool | None" = None,
) -> Callable[[Dependency, str], Fetched]:
    """Fetch a dependency missing from the archive. `pinned` maps "<chart>/charts/<name>" to the
    subchart the lock recorded, whose version (and digest) then win over Chart.lock and ranges,
    so re-vendoring from the lock gives the same tree after upstream published newer subcharts."""

    def fetch(dep: Dependency, where: str) -> Fetched:
        recorded = (pinned or {}).get(where)
        if recorded is not None:
            dep = Dependency(dep.name, dep.version, dep.repository, dep.alias, recorded.version)
        repo = dep.repository
        if not repo.startswith(("http://", "https://", "oci://")):
            why = "it names no repository" if not repo else f"its repository {repo!r} is not an HTTP(S) or OCI URL"
            raise IntegrityError(f"{where}: missing from the archive and cannot be fetched: {why}")
        if out is not None:
            out.info(f"  fetching subchart {dep.name} {dep.locked_version or dep.version} from {repo}")
        pool = sources if sources is not None else SourcePool(settings)
        source = pool.get(repo)
        try:
            listing = source.versions(dep.name)
            versions = [r.version for r in listing.releases]
            target: ChartVersion | None = None
            if dep.locked_version:
                lv = ChartVersion.try_parse(dep.locked_version)
                target = next((v for v in versions if lv is not None and v == lv), None)
            if target is None:
                constraint = Constraint.parse(dep.version) if dep.version else None
                pre = bool(dep.version) and "-" in dep.version
                target = newest(versions, constraint, pre=pre)
            if target is None:
                raise SourceError(f"{where}: no version of {dep.name} in {repo} matches {dep.version!r}")
            release = next(r for r in listing.releases if r.version == target and r.version.text == target.text)
            release = source.describe(release)
            if recorded is not None and ChartVersion.try_parse(recorded.version) != release.version:
                raise SourceError(f"{where}: {dep.name} {recorded.version}, pinned in the lock, is not in {repo} any more")
            dest = work / f"dep-{uuid.uuid4().hex}.tgz"
            digest = source.fetch(release, dest)
            if recorded is not None and recorded.digest and digest != recorded.digest:
                dest.unlink(missing_ok=True)
                raise IntegrityError(
                    f"{where}: {dep.name} {release.version.text} archive digest {digest} does not match the pinned {recorded.digest}"
                )
        finally:
            if sources is None:
                pool.close()
        return Fetched(dest, release.version.text, digest, repo)

    return fetch


def _app_version(folder: Path, release: ChartRelease) -> str | None:
    meta = yamlio.load_file(folder / "Chart.yaml") or {}
    v = meta.get("appVersion") if isinstance(meta, dict) else None
    if v is None:
        return release.app_version
    return str(v)


def stage_chart(
    settings: "Settings",
    *,
    name: str,
    chart: str,
    repository: str,
    version: str,
    staging_parent: Path,
    out: "Output | None" = None,
    constraint: str | None = None,
    path: str | None = None,
    expected_digest: str | None = None,
    expected_tree: str | None = None,
    source_url: str | None = None,
    limits: ExtractLimits | None = None,
    pinned_subcharts: tuple[Subchart, ...] = (),
    sources: "SourcePool | None" = None,
    release: ChartRelease | None = None,
) -> StagedChart:
    """Fetch `chart` `version` from `repository` and prepare it for vendoring (see module doc).

    `release` is the published release when the caller has listed the versions already (an
    upgrade resolves its target from one listing): the index is then not read again.

    `expected_digest` (the lock's archive digest) must equal the fetched archive's, unless the
    archive comes from a bundle (`source_url`) whose repackaged tree checksums to `expected_tree`.
    `pinned_subcharts` (the lock's `subcharts`) fix the versions of dependencies that must be fetched.
    Nothing outside the returned `work_dir` is written; on failure nothing at all is left.
    """
    limits = limits or ExtractLimits.from_settings(settings)
    staging_parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=staging_parent))
    try:
        pool = sources if sources is not None else SourcePool(settings)
        source = pool.get(source_url or repository)
        try:
            if release is None:
                release = find_release(source, chart, version)
            else:
                release = source.describe(release)  # OCI listings carry no digest until described
            # Helm's provenance names the archive file: keep the name it was published under.
            archive = work / f"{chart}-{release.version.text}.tgz"
            if out is not None:
                out.info(f"fetching {chart} {release.version.text} from {source.label}")
            digest = source.fetch(release, archive)
            keyring = keyring_of(settings)
            if keyring is not None:
                prov = work / (archive.name + ".prov")
                if fetch_provenance(source, release, prov):
                    signers = verify_provenance(archive, prov, keyring, f"{name}: {chart} {release.version.text}")
                    if out is not None:
                        out.detail(f"  signed by {', '.join(signers) or 'a key in the keyring'}")
                    prov.unlink()
                elif out is not None:
                    out.warn(f"{name}: {chart} {release.version.text} has no .prov file; provenance not checked")
        finally:
            if sources is None:
                pool.close()
        if expected_digest is not None and digest != expected_digest and source_url is None:
            raise _digest_mismatch(name, chart, release, digest, expected_digest)
        folder = safe_extract(archive, work / chart, chart, limits)
        archive.unlink()
        pinned = {f"{chart}/charts/{s.name}": s for s in pinned_subcharts if s.version}
        fetcher = _dependency_fetcher(settings, work, out, pinned, sources)
        subcharts = make_offline(folder, fetch_missing=fetcher, limits=limits, label=chart)
        for leftover in work.glob("dep-*.tgz"):
            leftover.unlink()
        manifest = treesum.tree_manifest(folder)
        tree = treesum.checksum_of_manifest(manifest)
        if expected_digest is not None and digest != expected_digest:
            if not (expected_tree is not None and tree == expected_tree):
                raise _digest_mismatch(name, chart, release, digest, expected_digest)
            digest = expected_digest  # a bundle's repackaged archive: the tree is what was pinned
        if expected_tree is not None and tree != expected_tree:
            raise IntegrityError(
                f"{name}: vendored tree of {chart} {release.version.text} checksums to {tree}, the lock pins {expected_tree}"
            )
        entry = LockEntry(
            name=name,
            chart=chart,
            repository=repository,
            version=release.version.text,
            constraint=constraint,
            digest=digest,
            path=path or f"{name}-{release.version.text}",
            app_version=_app_version(folder, release),
            fetched=utc_now(),
            tree_checksum=tree,
            subcharts=subcharts,
        )
        return StagedChart(folder=folder, entry=entry, release=release, manifest=manifest, work_dir=work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _digest_mismatch(name: str, chart: str, release: ChartRelease, got: str, pinned: str) -> IntegrityError:
    return IntegrityError(
        f"{name}: {chart} {release.version.text} archive digest {got} does not match the pinned {pinned}",
        hint="the archive changed since it was pinned: find out why; if the lock's version was edited by hand, "
        "delete its digest and treeChecksum lines so sync pins the new archive",
    )


def swap_in(staged_folder: Path, final_folder: Path) -> None:
    """Put `staged_folder` at `final_folder` (same filesystem) with renames; the old one goes only after."""
    final_folder.parent.mkdir(parents=True, exist_ok=True)
    if final_folder.exists() or final_folder.is_symlink():
        aside = final_folder.parent / f"{STAGING_PREFIX}old-{final_folder.name}-{uuid.uuid4().hex[:8]}"
        os.rename(final_folder, aside)
        try:
            os.rename(staged_folder, final_folder)
        except BaseException:
            os.rename(aside, final_folder)
            raise
        _remove(aside)
    else:
        os.rename(staged_folder, final_folder)
    _fsync_dir(final_folder.parent)


def vendored_folder(lock_root: Path, entry: LockEntry, repo_root: Path | None = None) -> Path:
    """Where `entry` is vendored under `lock_root`, refusing a place where writing it would reach
    past its own folder: a parent that a symlink takes out of the lock's folder (or the lock's
    folder out of the repository), or a parent that is itself a chart (pinned or not)."""
    final = lock_root / entry.folder
    where = f"versions.lock: {entry.name}: path {entry.folder}"
    real_root = lock_root.resolve()
    if repo_root is not None and not real_root.is_relative_to(repo_root.resolve()):
        raise InputError(f"{where}: the lock's folder leads outside the repository ({real_root})",
                         hint="vendored charts live in the repository; replace the symlink by a folder")
    for place, what in ((final.parent, "its folder"), (lock_root / treesum.MANIFEST_DIR / entry.name, treesum.MANIFEST_DIR)):
        if not resolves_inside(place, real_root):
            raise InputError(f"{where}: {what} leads outside the lock's folder through a symlink ({place.resolve()})",
                             hint="vendored folders and their checksums live in the lock's folder; replace the symlink")
    parent = final.parent
    while parent != lock_root and parent.is_relative_to(lock_root):
        if (parent / "Chart.yaml").exists():
            raise InputError(f"{where}: lies inside the chart folder {parent.relative_to(lock_root).as_posix()}",
                             hint="a vendored chart's folder is its own; fix the entry's `path:`")
        parent = parent.parent
    return final


def install(staged: StagedChart, lock_root: Path) -> Path:
    """Swap `staged` in at its lock path under `lock_root` and store its per-file manifest."""
    final = vendored_folder(lock_root, staged.entry)
    swap_in(staged.folder, final)
    treesum.write_manifest(lock_root, staged.entry.name, staged.manifest)
    staged.discard()
    return final


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def clean_leftovers(parent: Path) -> list[Path]:
    """Remove what an interrupted run left in the lock's folder `parent` (hold the run lock):
    `.chartkeeper-staging-*` folders, and the temp files of atomic writes (`fsutil`) of the lock
    and of the per-file manifests in `.treesums/`."""
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for folder in (parent, parent / treesum.MANIFEST_DIR):
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if p.name.startswith(STAGING_PREFIX):
                _remove(p)
                removed.append(p)
        removed += sweep_temp_files(folder, all_writers=True)  # the run lock keeps other writers out
    return sorted(removed)
