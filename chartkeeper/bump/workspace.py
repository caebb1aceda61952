"""The temporary git worktree a bump writes into, and recovery from runs that died half-way.

A bump never writes to the user's checkout. It creates the branch `chartkeeper/<chart>-<version>`
at the base commit and checks it out in a worktree under `.git/chartkeeper-worktrees/`, which
git itself knows about (`git worktree list`) and which never appears as an untracked file.
When a run is killed, what can be left is exactly: that worktree folder (with or without its
git registration) and that branch, pointing either at the base commit (nothing was committed)
or at our finished commit. The next run, holding the run lock, removes leftover worktrees,
deletes leftover branches that hold nothing of their own, and reuses a finished branch.
A branch that holds commits we did not make is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chartkeeper.bump import git as gitops
from chartkeeper.errors import RefusedError


def branch_for(name: str, version: str) -> str:
    return f"{gitops.BRANCH_PREFIX}{name}-{version}"


def trailer_value(name: str, old: str, new: str) -> str:
    return f"{name} {old} -> {new}"


def _bump_trailers(repo: Path, commit: str) -> list[str]:
    return gitops.trailers(repo, commit, gitops.TRAILER)


def is_bump_commit_for(repo: Path, commit: str, name: str, new: str) -> bool:
    for value in _bump_trailers(repo, commit):
        parts = value.split()
        if len(parts) == 4 and parts[0] == name and parts[3] == new:
            return True
    return False


def _reachable_elsewhere(repo: Path, branch: str) -> bool:
    """True when every commit of `branch` is also reachable from another ref (nothing would be lost)."""
    out = gitops.git_cmd(
        repo, "rev-list", "--max-count=1", f"refs/heads/{branch}", "--not",
        f"--exclude=refs/heads/{branch}", "--all",
    )
    return not out.strip()


@dataclass(frozen=True)
class Leftover:
    what: str  # "worktree" or "branch"
    name: str
    action: str  # "removed", "kept"


def clean_leftovers(repo: Path) -> list[Leftover]:
    """Remove what earlier, interrupted runs left behind. Call only while holding the run lock."""
    done: list[Leftover] = []
    home = gitops.worktrees_home(repo)
    gitops.prune_worktrees(repo)
    registered = {wt.path.resolve(): wt for wt in gitops.list_worktrees(repo)}
    candidates = {p.resolve() for p in home.iterdir()} if home.is_dir() else set()
    candidates |= {p for p in registered if p.parent == home.resolve()}
    for path in sorted(candidates):
        wt = registered.get(path)
        gitops.remove_worktree(repo, path)
        done.append(Leftover("worktree", path.name, "removed"))
        branch = wt.branch if wt else None
        if branch and branch.startswith(gitops.BRANCH_PREFIX) and gitops.branch_exists(repo, branch):
            done.extend(_settle_branch(repo, branch))
    return done


def _settle_branch(repo: Path, branch: str) -> list[Leftover]:
    tip = gitops.head_commit(repo, f"refs/heads/{branch}")
    suffix = branch[len(gitops.BRANCH_PREFIX) :]
    for value in _bump_trailers(repo, tip):
        parts = value.split()
        if len(parts) == 4 and f"{parts[0]}-{parts[3]}" == suffix:
            return [Leftover("branch", branch, "kept")]  # a finished bump: the next run reuses it
    if _reachable_elsewhere(repo, branch):
        gitops.delete_branch(repo, branch)
        return [Leftover("branch", branch, "removed")]
    return [Leftover("branch", branch, "kept")]


@dataclass(frozen=True)
class Workspace:
    repo: Path  # the user's repository (top of the working tree)
    path: Path  # the worktree we write in
    branch: str
    base: str  # commit the branch starts from


@dataclass(frozen=True)
class Existing:
    """A branch for this very bump already exists and holds our finished commit."""

    branch: str
    commit: str


def prepare_branch(repo: Path, branch: str, base: str, name: str, new: str) -> Existing | None:
    """Make `branch` free to create, or report that it already holds this bump.

    Refuses when the branch holds work that is not ours (we never delete someone's commits).
    """
    if not gitops.branch_exists(repo, branch):
        return None
    tip = gitops.head_commit(repo, f"refs/heads/{branch}")
    if is_bump_commit_for(repo, tip, name, new):
        return Existing(branch, tip)
    if tip == base or _reachable_elsewhere(repo, branch):
        # Created by an interrupted run before it committed: it points at a commit other refs keep.
        for wt in gitops.list_worktrees(repo):
            if wt.branch == branch:
                if wt.path.parent.resolve() != gitops.worktrees_home(repo).resolve():
                    raise RefusedError(
                        f"branch {branch} is checked out in {wt.path}",
                        hint="switch that worktree to another branch, or delete the branch yourself",
                    )
                gitops.remove_worktree(repo, wt.path)
        if gitops.current_branch(repo) == branch:
            raise RefusedError(f"branch {branch} is the current branch", hint="switch to your base branch and re-run")
        gitops.delete_branch(repo, branch)
        return None
    raise RefusedError(
        f"branch {branch} already exists and holds commits chartkeeper did not make",
        hint=f"merge or rename it, or delete it with `git branch -D {branch}` to bump again",
    )


def create(repo: Path, branch: str, base: str) -> Workspace:
    path = gitops.worktrees_home(repo) / branch[len(gitops.BRANCH_PREFIX) :]
    if path.exists():  # not ours to keep: a leftover clean_leftovers did not see (no registration)
        gitops.remove_worktree(repo, path)
    try:
        gitops.add_worktree(repo, path, branch, base)
    except BaseException:
        gitops.remove_worktree(repo, path)
        if gitops.branch_exists(repo, branch) and gitops.head_commit(repo, f"refs/heads/{branch}") == base:
            gitops.delete_branch(repo, branch)
        raise
    return Workspace(repo, path, branch, base)


def dispose(ws: Workspace) -> None:
    """Remove the worktree; the branch stays (it is the result)."""
    gitops.remove_worktree(ws.repo, ws.path)
