"""Apply one chart upgrade to a deployment tree: new vendored folder, lock, helmfile paths, report, changelog.

Runs the same way in a temporary git worktree (the default) and in the user's working tree
(`--in-place`): everything is staged first and swapped in through a journal
(`chartkeeper.bump.journal`), so the tree ends fully old or fully new.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from chartkeeper.bump import changelog
from chartkeeper.helmfile import rewrite
from chartkeeper.bump.journal import Staging
from chartkeeper.bump.summary import Analysis
from chartkeeper.upgrade.target import Target
from chartkeeper.vendoring.stage import StagedChart
from chartkeeper.errors import RefusedError
from chartkeeper.fsutil import copy_tree
from chartkeeper.lockfile import LockEntry, load_lock, parse_lock, render_lock
from chartkeeper.settings import Settings
from chartkeeper.vendoring import treesum

Pause = Callable[[str], None]


def _noop(stage: str) -> None:
    pass


def new_path_for(entry: LockEntry, new_version: str) -> str | None:
    """The lock `path:` of the upgraded chart: the version in the folder name follows the bump.

    None keeps the lock's default (`<name>-<version>`). A path without the old version in its
    last component (`gpu-operator`) stays as it is: the folder is refilled in place.
    """
    if entry.path is None:
        return None
    head, sep, last = entry.path.rstrip("/").rpartition("/")
    if entry.version in last:
        i = last.rfind(entry.version)
        last = last[:i] + new_version + last[i + len(entry.version) :]
    return head + sep + last


def report_paths(settings: Settings, entry: LockEntry, new_version: str) -> tuple[Path, Path, Path]:
    d = settings.path(settings.reports_dir) / entry.name
    stem = f"{entry.version}-to-{new_version}"
    return d / f"{stem}.md", d / f"{stem}.json", d / f"{stem}.images.txt"


@dataclass(frozen=True)
class Applied:
    entry: LockEntry  # the new lock entry
    old_folder: Path
    new_folder: Path
    chart_lines: tuple[rewrite.ChartLineChange, ...]
    report_md: Path
    report_json: Path
    images_txt: Path
    changelog: Path


def changelog_entry(entry: LockEntry, new_version: str, analysis: Analysis, report_rel: str) -> str:
    c = analysis.counts
    return (
        f"Bump `{entry.name}` {entry.version} → {new_version} "
        f"(verdict: {analysis.verdict}; {c.get('breaking', 0)} breaking, {c.get('review', 0)} review, "
        f"{c.get('info', 0)} info): [upgrade report]({report_rel})"
    )


def apply_bump(
    settings: Settings,
    target: Target,
    analysis: Analysis,
    new_chart: StagedChart,
    *,
    pause: Pause = _noop,
) -> Applied:
    """Upgrade `target.entry` to `target.version` in the tree at `settings.root`, vendoring
    `new_chart` (NEW as `chartkeeper.upgrade` fetched and staged it for the analysis)."""
    root = settings.root
    lock = load_lock(settings.lock_file)
    entry = lock.require(target.entry.name)
    new_version = str(target.version)
    old_folder = lock.folder_of(entry)
    new_rel = new_path_for(entry, new_version)
    probe = entry.with_changes(version=new_version, path=new_rel)
    new_folder = lock.folder_of(probe)
    if new_folder != old_folder and new_folder.exists():
        raise RefusedError(
            f"{entry.name}: {os.path.relpath(new_folder, root)} already exists; it is not the vendored folder of {entry.name}",
            hint="remove or rename that folder first",
        )

    staging = Staging.open(lock.root, root, f"{entry.name}-{new_version}")
    try:
        # A copy, not a second download: the analysed tree is the vendored tree. Copied into the
        # staging folder so the journal's swap is a rename on the deployment's filesystem.
        folder = staging.dir / "chart" / new_chart.folder.name
        copy_tree(new_chart.folder, folder)  # a failure names its file (a full disk, say)
        pause("chart-staged")
        new_entry = new_chart.entry.with_changes(
            name=entry.name,
            chart=entry.chart,
            repository=entry.repository,
            constraint=entry.constraint,
            path=new_rel,
        )
        staging.stage_folder_swap(folder, old_folder, new_folder)

        new_lock = lock.upsert(new_entry)
        lock_text = render_lock(new_lock)
        parse_lock(lock_text, settings.lock_file)  # never swap in a lock we could not read back
        staging.stage_text(settings.lock_file, lock_text)
        manifest = new_chart.manifest or treesum.tree_manifest(folder)
        staging.stage_text(treesum.manifest_path(lock.root, entry.name), treesum.render_manifest(manifest))

        changes: list[rewrite.ChartLineChange] = []
        if new_folder != old_folder:
            for f in rewrite.state_files(settings.helmfile_file.parent):
                text = f.read_text(encoding="utf-8")
                new_text, ch = rewrite.rewrite_text(text, f, old_folder, new_folder)
                if ch:
                    staging.stage_text(f, new_text)
                    changes.extend(ch)

        md, js, images = report_paths(settings, entry, new_version)
        staging.stage_text(md, analysis.markdown)
        staging.stage_text(js, analysis.json_text)
        staging.stage_text(images, "".join(f"{i}\n" for i in analysis.images))
        if analysis.diff_text:  # the full manifest diff the report links to, under the same stem
            staging.stage_text(md.with_suffix(".diff"), analysis.diff_text)
        cl = root / "CHANGELOG.md"
        cl_text = cl.read_text(encoding="utf-8") if cl.exists() else ""
        rel_md = os.path.relpath(md, root).replace(os.sep, "/")
        staging.stage_text(cl, changelog.insert_entry(cl_text, changelog_entry(entry, new_version, analysis, rel_md)))
        pause("staged")
        staging.commit(pause)
    except BaseException:
        if staging.dir.exists() and not (staging.dir / "journal.json").exists():
            shutil.rmtree(staging.dir, ignore_errors=True)
        raise
    return Applied(new_entry, old_folder, new_folder, tuple(changes), md, js, images, cl)

