"""One bump from start to finish, and `--all`.

The order matters for the guarantees: everything that can refuse (git state, target,
drift) runs before anything is written; writes go to a worktree on a new branch (or, with
`--in-place`, through a staged journal); the commit is the single point where the result
appears; checks after the commit only report.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

from chartkeeper import helmfile, runlock
from chartkeeper.bump import git as gitops
from chartkeeper.bump import merge_request as mr
from chartkeeper.bump import journal, pause, preflight, workspace
from chartkeeper.bump.apply import apply_bump
from chartkeeper.bump.ready import check_ready
from chartkeeper.bump.summary import Analysis, analyze
from chartkeeper.upgrade.fetch import Upgrade, resolve_upgrade
from chartkeeper.upgrade.target import Target
from chartkeeper.vendoring.stage import SourcePool
from chartkeeper.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, ChartkeeperError, InputError, about, disk_full, is_disk_full
from chartkeeper.lockfile import Lock, load_lock, parse_lock
from chartkeeper.output import Output
from chartkeeper.settings import Settings


@dataclass(frozen=True)
class BumpOptions:
    pre: bool = False
    allow_downgrade: bool = False
    base: str | None = None
    push: str | None = None  # remote name
    merge_request: bool = False  # with push: GitLab push options that create the merge request
    fail_on: str | None = None  # "breaking" or "review"
    include_existing: bool = False  # --fail-on counts findings already true with OLD too
    dry_run: bool = False
    in_place: bool = False
    allow_dirty: bool = False
    envs: tuple[str, ...] = ()
    allow_unchecked: bool = False  # a check that could not run does not make the exit code 2


@dataclass
class BumpResult:
    name: str
    old: str | None = None
    new: str | None = None
    kind: str | None = None
    status: str = "failed"  # bumped, exists, up-to-date, dry-run, in-place, failed
    branch: str | None = None
    commit: str | None = None
    report: str | None = None  # Markdown report, relative to the repository
    verdict: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    ready: bool | None = None
    checks: list[str] = field(default_factory=list)  # what the readiness checks proved
    problems: list[str] = field(default_factory=list)  # what they found wrong
    notes: list[str] = field(default_factory=list)
    pushed: str | None = None
    merge_request: str | None = None  # where to open it (GitHub compare URL, GitLab form) or how it was requested
    next_steps: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)  # checks that could not run ("what [env]: why")
    error: str | None = None
    exit_code: int = EXIT_OK
    analysis: Analysis | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """camelCase keys, like the other commands' JSON."""
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if k == "analysis":
                continue
            head, *rest = k.split("_")
            out[head + "".join(w.capitalize() for w in rest)] = v
        return out


# --- helpers ---------------------------------------------------------------------------------


def _rebased(settings: Settings, old_root: Path, new_root: Path) -> Settings:
    """`settings` for a copy of the deployment at `new_root` (paths given absolute are moved too)."""
    changes: dict[str, Any] = {"root": new_root}
    for name in ("lock_path", "helmfile_path", "patches_dir", "reports_dir"):
        p: Path = getattr(settings, name)
        if p.is_absolute():
            try:
                changes[name] = new_root / p.resolve().relative_to(old_root)
            except ValueError:
                pass  # outside the repository: shared by both trees
    return replace(settings, **changes)


@contextlib.contextmanager
def _run_lock(settings: Settings, repo: Path | None) -> Iterator[None]:
    """Hold the run lock. A bump on a branch writes only inside the git folder (worktree, refs),
    so its lock lives there too and even a killed run leaves no file in the checkout; with
    `--in-place` it is the deployment's lock that `sync` and `add` hold."""
    if repo is not None:
        with runlock.hold(gitops.common_dir(repo) / "chartkeeper.lock", what="chartkeeper bump"):
            yield
    else:
        with runlock.run_lock(settings):
            yield


def finish_interrupted(settings: Settings, out: Output) -> list[str]:
    """Finish (or discard, when it never got to its journal) what a killed `--in-place` bump left."""
    if not journal.leftovers(settings.lock_file.parent):
        return []  # the common case: no lock taken, nothing created
    with runlock.run_lock(settings):
        return journal.finish_interrupted_bump(settings, out)


def _lock_at(repo: Path, commit: str, settings: Settings) -> Lock:
    rel = os.path.relpath(settings.lock_file.resolve(), repo).replace(os.sep, "/")
    text = gitops.file_at(repo, commit, rel)
    if text is None:
        raise InputError(f"{rel}: lock file not found at {commit[:12]}", hint="run `chartkeeper add` or `import` first")
    return parse_lock(text.rstrip("\n") + "\n", settings.lock_file)


def commit_message(target: Target, analysis: Analysis, report_rel: str) -> str:
    c = analysis.counts
    name, old, new = target.entry.name, target.entry.version, str(target.version)
    lines = [
        f"chore(charts): bump {name} {old} → {new}",
        "",
        f"Verdict: {analysis.verdict}",
        f"Findings: {c.get('breaking', 0)} breaking, {c.get('review', 0)} review, {c.get('info', 0)} info",
        f"Report: {report_rel}",
    ]
    if analysis.images:
        lines.append(f"New images to mirror: {len(analysis.images)}")
    if analysis.crd_steps:
        lines.append("CRDs change: apply them before `helmfile apply` (see the report)")
    lines += ["", f"{gitops.TRAILER}: {workspace.trailer_value(name, old, new)}", ""]
    return "\n".join(lines)


def _recorded(res: BumpResult, message: str) -> None:
    """Verdict, counts and report of a bump an earlier run committed, read back from its commit message."""
    for line in message.splitlines():
        key, _, value = line.partition(": ")
        if key == "Verdict":
            res.verdict = value.strip()
        elif key == "Report":
            res.report = value.strip()
        elif key == "Findings":
            for part in value.split(","):
                count, _, severity = part.strip().partition(" ")
                if count.isdigit():
                    res.counts[severity] = int(count)


def _push(repo: Path, res: BumpResult, opts: BumpOptions, actions: list[str]) -> None:
    """Push the branch; say where the merge request opens, or have GitLab create it (`--merge-request`).

    When the push fails the branch stays: the error says how to finish the job."""
    assert opts.push is not None and res.branch is not None
    into = gitops.branch_name(repo, opts.base) if opts.base else gitops.branch_name(repo)
    forge = mr.hosting(gitops.remote_url(repo, opts.push))
    options: list[str] = []
    if opts.merge_request:
        title = f"chore(charts): bump {res.name} {res.old} → {res.new}"
        summary = mr.summary_line(title, res.verdict or "unknown", res.counts, actions, res.report)
        options = mr.push_options(title, summary, into)
    try:
        gitops.push(repo, opts.push, res.branch, options)
    except gitops.GitError as exc:
        again = f"chartkeeper bump {res.name} {res.new} --push --remote {opts.push}"
        if opts.merge_request:
            again += " --merge-request"
        raise gitops.GitError(
            exc.message,
            hint=(f"branch {res.branch} holds the bump (commit {str(res.commit)[:12]}); once fixed, finish with "
                  f"`{again}` (it pushes the branch it finds) or `git push {opts.push} {res.branch}`"),
            output=exc.output,
        ) from None
    res.pushed = opts.push
    if opts.merge_request:
        res.merge_request = f"requested from {opts.push} with push options" + (f" (into {into})" if into else "")
    elif forge.kind == "github" and into:
        res.merge_request = mr.compare_url(forge.web, into, res.branch)
    elif forge.kind == "gitlab":
        res.merge_request = mr.new_merge_request_url(forge.web, res.branch, into)


def _fill_from_analysis(res: BumpResult, analysis: Analysis) -> None:
    res.verdict = analysis.verdict
    res.counts = dict(analysis.counts)
    res.not_checked = list(analysis.not_checked)
    res.analysis = analysis


def _next_steps(settings: Settings, res: BumpResult, analysis: Analysis | None, in_place: bool,
                since: str = "HEAD", envs: tuple[str, ...] = ()) -> list[str]:
    """What to run next, from the deployment root: switch, the bundle to carry across the air gap (the
    charts and only the images the upgrade adds), CRDs first (Helm never upgrades them), diff."""
    steps = []
    if res.branch and not in_place:
        steps.append(f"git switch {res.branch}")
    if analysis is not None:
        only = "".join(f" -e {shlex.quote(e)}" for e in envs)
        steps.append(f"chartkeeper bundle {shlex.quote(f'{res.name}-{res.new}.tgz')} --images --since {shlex.quote(since)}{only}")
        steps += list(analysis.crd_steps)
        state = _state_file(settings)
        if state is not None:
            hf, defined = state
            # only environments the state defines (the analysis says "default" when no release uses the chart)
            for env in [e for e in analysis.envs if not defined or e in defined] or defined[:1]:
                steps.append(f"helmfile --file {hf} --environment {env} diff")
    return steps


def _state_file(settings: Settings) -> tuple[str, list[str]] | None:
    """The state file as it exists (`helmfile.yaml.gotmpl`, say, or the `helmfile:` setting), relative to
    the root, and the environments it defines; None when there is none."""
    try:
        entry = helmfile.entry_file(settings)
        envs = list(helmfile.list_environments(settings))
    except ChartkeeperError:
        return None
    try:
        shown = entry.resolve().relative_to(settings.root.resolve()).as_posix()
    except ValueError:
        shown = entry.as_posix()
    return shown, envs


def _finish_exit(res: BumpResult, opts: BumpOptions) -> None:
    if res.ready is False:
        res.exit_code = EXIT_FINDINGS
    if res.analysis is not None and res.analysis.reaches(opts.fail_on, include_existing=opts.include_existing):
        res.exit_code = EXIT_FINDINGS
    if res.not_checked and not opts.allow_unchecked:
        # the branch (or dry-run report) is there, but its verdict cannot speak for what was not looked at
        res.exit_code = EXIT_ERROR


# --- one bump ----------------------------------------------------------------------------------


def bump_one(
    settings: Settings, out: Output, name: str, spec: str | None, opts: BumpOptions, pool: SourcePool | None = None
) -> BumpResult:
    """Bump `name`; `pool` shares the repositories' sources (and their indexes) across `--all`."""
    if opts.allow_dirty and not opts.in_place:
        raise InputError("--allow-dirty works only with --in-place (a branch is made from committed files)")
    try:
        with contextlib.ExitStack() as stack:
            # One listing and one download of NEW for the whole bump: analysis and vendoring
            # share the chart `chartkeeper.upgrade` staged (the stack removes it at the end).
            if pool is None:
                pool = stack.enter_context(SourcePool(settings))
            flow = _dry_run if opts.dry_run else _in_place if opts.in_place else _on_branch
            return flow(settings, out, name, spec, opts, _Resolver(pool, stack))
    except OSError as exc:  # a full disk, a permission problem: say which file, and what state we left
        hint = ("run the same command again once fixed: it finishes or discards the interrupted swap"
                if opts.in_place else "your checkout was not touched; the temporary worktree and branch were removed")
        if is_disk_full(exc):
            raise disk_full(exc.filename, f"bumping {name}", hint=f"free space on that file system; {hint}") from exc
        where = f"{exc.filename}: " if exc.filename else ""
        raise ChartkeeperError(f"{name}: cannot write {where}{exc.strerror or exc}", hint=hint) from exc


@dataclass(frozen=True)
class _Resolver:
    """Where a bump resolves its upgrade: the run's sources, and the stack that cleans up NEW."""

    pool: SourcePool
    stack: contextlib.ExitStack


def _resolve(
    settings: Settings, lock: Lock, name: str, spec: str | None, opts: BumpOptions, via: _Resolver, out: Output
) -> tuple[BumpResult, Upgrade]:
    entry = lock.require(name)
    res = BumpResult(name=name, old=entry.version)
    up = via.stack.enter_context(resolve_upgrade(
        settings, entry, spec, pool=via.pool, pre=opts.pre, allow_downgrade=opts.allow_downgrade, out=out))
    target = up.target
    res.new, res.kind = str(target.version), target.kind
    if target.up_to_date:
        res.status = "up-to-date"
        if spec:
            why = f"{name} is already at {entry.version} ({spec!r} resolves to it)" if spec != entry.version else f"{name} is already at {entry.version}"
        elif entry.constraint:
            why = f"{name} is already at {entry.version}, the newest its constraint {entry.constraint!r} allows"
        else:
            why = f"{name} is already at {entry.version}, the newest published version"
        res.notes.append(why + "; nothing to do")
    return res, up


def _dry_run(settings: Settings, out: Output, name: str, spec: str | None, opts: BumpOptions, via: _Resolver) -> BumpResult:
    lock = load_lock(settings.lock_file)
    res, up = _resolve(settings, lock, name, spec, opts, via, out)
    target = up.target
    if target.up_to_date:
        return res
    out.info(f"{name}: analysing {target.entry.version} → {target.version} (dry run: nothing is written)")
    analysis = analyze(settings, lock, target, up, opts.envs, out=out)
    _fill_from_analysis(res, analysis)
    res.status = "dry-run"
    _finish_exit(res, opts)
    return res


def _on_branch(settings: Settings, out: Output, name: str, spec: str | None, opts: BumpOptions, via: _Resolver) -> BumpResult:
    repo = gitops.repo_root(settings.root)
    if opts.push:
        gitops.require_remote(repo, opts.push)
    root = settings.root.resolve()
    rel_root = root.relative_to(repo)
    head = gitops.head_commit(repo)
    base = gitops.head_commit(repo, opts.base) if opts.base else head
    finish_interrupted(settings, out)  # its dirt is the journal's own: finish it before judging the tree
    preflight.require_clean(repo)
    lock = _lock_at(repo, base, settings)
    res, up = _resolve(settings, lock, name, spec, opts, via, out)
    target = up.target
    if target.up_to_date:
        return res
    new = str(target.version)
    pause("resolved")
    with _run_lock(settings, repo):
        for left in workspace.clean_leftovers(repo):
            out.info(f"cleaned up after an interrupted run: {left.what} {left.name} {left.action}")
        res.branch = workspace.branch_for(name, new)
        existing = workspace.prepare_branch(repo, res.branch, base, name, new)
        if existing is not None:
            res.status, res.commit = "exists", existing.commit
            _recorded(res, gitops.commit_message(repo, existing.commit))
            res.notes.append(
                f"branch {res.branch} already holds this bump (from an earlier run); kept as it is "
                f"(delete it with `git branch -D {res.branch}` to redo it from the current base)"
            )
            if opts.push:  # what the earlier run was asked and may not have done (its push failed)
                _push(repo, res, opts, [])
            res.next_steps = [f"git switch {res.branch}"]
            return res
        ws = workspace.create(repo, res.branch, base)
        committed = False
        try:
            pause("worktree")
            wt_settings = _rebased(settings, root, ws.path / rel_root)
            wt_lock = load_lock(wt_settings.lock_file)
            # Drift is checked on the base commit's files, which are what the bump replaces: a
            # concurrent `sync` in the checkout cannot race it, and untracked files do not count.
            warn = preflight.require_no_drift(wt_lock, wt_lock.require(name), ws.path)
            # announced only once nothing can refuse it any more
            out.info(f"{name}: {target.entry.version} → {new} on branch {res.branch}")
            if warn:
                out.warn(warn)
            analysis = analyze(wt_settings, wt_lock, replace(target, entry=wt_lock.require(name)), up, opts.envs, out=out)
            _fill_from_analysis(res, analysis)
            applied = apply_bump(wt_settings, target, analysis, up.new_chart(), pause=pause)
            res.report = os.path.relpath(applied.report_md, ws.path).replace(os.sep, "/")
            res.commit = gitops.commit_all(ws.path, commit_message(target, analysis, res.report))
            committed = True
            res.status = "bumped"
            pause("committed")
            _readiness(wt_settings, applied, analysis, res, out)
            pause("verified")
        finally:
            workspace.dispose(ws)
            if not committed and gitops.branch_exists(repo, res.branch):
                gitops.delete_branch(repo, res.branch)  # it points at the base: nothing of value on it
        if opts.push:
            _push(repo, res, opts, list(analysis.actions))
    # the bundle leaves out what the base already pulled: the branch it started from, by name when it has one
    since = opts.base or gitops.current_branch(repo) or head[:12]
    res.next_steps = _next_steps(settings, res, analysis, False, since, opts.envs)
    _finish_exit(res, opts)
    return res


def _in_place(settings: Settings, out: Output, name: str, spec: str | None, opts: BumpOptions, via: _Resolver) -> BumpResult:
    repo: Path | None = None
    with contextlib.suppress(ChartkeeperError):
        repo = gitops.repo_root(settings.root)
    with _run_lock(settings, None):
        # A pending journal is finished first: the tree it leaves half-swapped is its own dirt,
        # and refusing for it would send the user to `git stash`, which brings the old folder back.
        finished = journal.finish_interrupted_bump(settings, out)
        # After a finished swap the tree holds that bump's uncommitted result: the killed run
        # already passed the dirty-tree check (or was told --allow-dirty), so it is not refused now.
        if repo is not None and not opts.allow_dirty and not finished:
            preflight.require_clean(repo)
        lock = load_lock(settings.lock_file)
        res, up = _resolve(settings, lock, name, spec, opts, via, out)
        target = up.target
        if target.up_to_date:
            return res
        warn = preflight.require_no_drift(lock, target.entry, settings.root)
        if warn:
            out.warn(warn)
        pause("resolved")
        analysis = analyze(settings, lock, target, up, opts.envs, out=out)
        _fill_from_analysis(res, analysis)
        applied = apply_bump(settings, target, analysis, up.new_chart(), pause=pause)
        res.report = os.path.relpath(applied.report_md, repo or settings.root).replace(os.sep, "/")
        res.status = "in-place"
        _readiness(settings, applied, analysis, res, out)
    res.next_steps = _next_steps(settings, res, analysis, True, "HEAD", opts.envs)
    _finish_exit(res, opts)
    return res


def _readiness(settings: Settings, applied: Any, analysis: Analysis, res: BumpResult, out: Output) -> None:
    out.info(f"{res.name}: checking the result (verify, render every environment)")
    try:
        checks, problems = check_ready(settings, applied, analysis)
    except ChartkeeperError as exc:
        checks, problems = [], [exc.message]
    res.checks, res.problems = checks, problems
    res.ready = not problems


# --- --all -------------------------------------------------------------------------------------


def bump_all(settings: Settings, out: Output, opts: BumpOptions) -> list[BumpResult]:
    """Bump every chart with an update inside its constraint; one failure does not stop the rest."""
    if opts.in_place or opts.dry_run:
        lock = load_lock(settings.lock_file)
    else:
        repo = gitops.repo_root(settings.root)
        if opts.push:
            gitops.require_remote(repo, opts.push)
        base = gitops.head_commit(repo, opts.base) if opts.base else gitops.head_commit(repo)
        lock = _lock_at(repo, base, settings)
    results: list[BumpResult] = []
    with SourcePool(settings) as pool:  # each repository's index read once for the whole run
        for entry in sorted(lock.entries, key=lambda e: e.name):
            try:
                results.append(bump_one(settings, out, entry.name, None, opts, pool))
            except ChartkeeperError as exc:
                msg = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
                out.warn(about(entry.name, msg))
                results.append(BumpResult(name=entry.name, old=entry.version, error=exc.message, exit_code=EXIT_ERROR))
    return results
