"""`chartkeeper add NAME --repo URL --version V`: start tracking a chart (fetch, verify, vendor, lock)."""

from __future__ import annotations


from chartkeeper.bump.journal import finish_interrupted_bump
from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_OK, InputError, RefusedError
from chartkeeper.lockfile import LockEntry, is_chart_name, load_lock, write_lock
from chartkeeper.runlock import run_lock
from chartkeeper.sources.factory import check_repository
from chartkeeper.vendoring.report import entry_json
from chartkeeper.vendoring.stage import clean_leftovers, install, stage_chart, vendored_folder
from chartkeeper.versions import ChartVersion, Constraint

def run(
    ctx: AppContext,
    name: str,
    repo: str,
    version: str,
    chart: str | None = None,
    constraint: str | None = None,
    path: str | None = None,
) -> int:
    settings, out = ctx.settings, ctx.out
    chart = chart or name
    for label, value in (("NAME", name), ("--chart", chart)):
        if not is_chart_name(value):
            raise InputError(f'{label}: "{value}" is not a valid chart name (lowercase letters, digits, - _ .)')
    check_repository(repo, "--repo")
    if ChartVersion.try_parse(version) is None:
        raise InputError(f'--version: "{version}" is not a valid chart version (an exact version such as 1.2.3 or v25.3.2)')
    if constraint is not None:
        parsed = Constraint.parse(constraint)
        if not parsed.allows(ChartVersion.parse(version), pre=True):
            out.warn(f"{version} does not satisfy --constraint {constraint}; `check` will offer versions the constraint allows")
    with run_lock(settings):
        finish_interrupted_bump(settings, out)
        lock = load_lock(settings.lock_file, missing_ok=True)
        clean_leftovers(lock.root)
        if lock.get(name) is not None:
            pinned = lock.require(name)
            raise RefusedError(
                f"{name} is already pinned ({pinned.chart} {pinned.version} from {pinned.repository})",
                hint="use `chartkeeper bump` to move it, or `chartkeeper sync` to vendor it again",
            )
        # a lock folder (or a folder on the way) that a symlink takes out of the repository: refused before the fetch
        target = vendored_folder(lock.root, LockEntry(name=name, chart=chart, repository=repo, version=version, path=path),
                                 settings.root)
        if target.exists():
            raise RefusedError(
                f"{target} already exists and no lock entry owns it",
                hint="adopt it with `chartkeeper import`, or move it away first",
            )
        staged = stage_chart(settings, name=name, chart=chart, repository=repo, version=version,
                             staging_parent=lock.root, out=out, constraint=constraint, path=path)
        try:
            if (lock.root / staged.entry.folder).exists():
                raise RefusedError(f"{lock.root / staged.entry.folder} already exists and no lock entry owns it",
                                   hint="adopt it with `chartkeeper import`, or move it away first")
            new_lock = lock.upsert(staged.entry)
            install(staged, lock.root)
        finally:
            staged.discard()
        write_lock(new_lock, settings.lock_file)
    e = staged.entry
    if out.json_mode:
        out.emit_json(entry_json(e))
    else:
        subs = f", {len(e.subcharts)} subchart(s)" if e.subcharts else ""
        out.text(f"added {e.name}: {e.chart} {e.version} ({e.digest}{subs}) -> {e.folder}")
    return EXIT_OK
