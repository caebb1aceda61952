"""The bump's worktree and branch, and recovery from runs that died half-way (real git)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from chartkeeper.bump import git as gitops
from chartkeeper.bump import workspace
from chartkeeper.errors import RefusedError


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "deploy"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    (r / "a.txt").write_text("a\n")
    git(r, "add", ".")
    git(r, "commit", "-q", "-m", "init")
    return r


def test_dirty_files_and_not_a_repo(repo: Path, tmp_path: Path) -> None:
    assert gitops.dirty_files(repo) == []
    (repo / "a.txt").write_text("changed\n")
    (repo / "new.txt").write_text("untracked\n")
    assert [(d.status, d.path) for d in gitops.dirty_files(repo)] == [(" M", "a.txt")]
    assert {d.path for d in gitops.dirty_files(repo, untracked=True)} == {"a.txt", "new.txt"}
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(RefusedError, match="not inside a git repository"):
        gitops.repo_root(plain)


def test_leftover_worktree_and_empty_branch_are_removed(repo: Path) -> None:
    base = gitops.head_commit(repo)
    ws = workspace.create(repo, "chartkeeper/x-2.0.0", base)
    (ws.path / "half-written").write_text("...")
    assert ws.path.is_dir() and gitops.branch_exists(repo, ws.branch)
    left = workspace.clean_leftovers(repo)
    assert ("worktree", "removed") in {(x.what, x.action) for x in left}
    assert ("branch", "removed") in {(x.what, x.action) for x in left}
    assert not ws.path.exists() and not gitops.branch_exists(repo, ws.branch)
    assert git(repo, "worktree", "list").count("\n") == 0  # only the main checkout


def test_unregistered_worktree_folder_is_removed(repo: Path) -> None:
    home = gitops.worktrees_home(repo)
    (home / "x-9").mkdir(parents=True)
    (home / "x-9" / "junk").write_text("")
    workspace.clean_leftovers(repo)
    assert not (home / "x-9").exists()


def test_finished_bump_is_kept_and_reused(repo: Path) -> None:
    base = gitops.head_commit(repo)
    ws = workspace.create(repo, "chartkeeper/x-2.0.0", base)
    (ws.path / "b.txt").write_text("b\n")
    commit = gitops.commit_all(ws.path, f"chore: bump\n\n{gitops.TRAILER}: x 1.0.0 -> 2.0.0\n")
    left = workspace.clean_leftovers(repo)  # killed after the commit, before disposing the worktree
    assert ("branch", "kept") in {(x.what, x.action) for x in left}
    assert gitops.branch_exists(repo, ws.branch)
    existing = workspace.prepare_branch(repo, ws.branch, base, "x", "2.0.0")
    assert existing is not None and existing.commit == commit


def test_branch_with_foreign_commits_is_never_deleted(repo: Path) -> None:
    git(repo, "switch", "-q", "-c", "chartkeeper/x-2.0.0")
    (repo / "mine.txt").write_text("my work\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "my own work")
    git(repo, "switch", "-q", "main")
    base = gitops.head_commit(repo)
    with pytest.raises(RefusedError, match="did not make"):
        workspace.prepare_branch(repo, "chartkeeper/x-2.0.0", base, "x", "2.0.0")
    assert gitops.branch_exists(repo, "chartkeeper/x-2.0.0")


def test_stale_empty_branch_is_recreated(repo: Path) -> None:
    git(repo, "branch", "chartkeeper/x-2.0.0")
    base = gitops.head_commit(repo)
    assert workspace.prepare_branch(repo, "chartkeeper/x-2.0.0", base, "x", "2.0.0") is None
    assert not gitops.branch_exists(repo, "chartkeeper/x-2.0.0")


def test_repository_state_through_gitpython(repo: Path, tmp_path: Path) -> None:
    """What bump reads of a repository (bump/git.py: gitpython), checked against git's own answers."""
    sub = repo / "helmfile"
    sub.mkdir()
    (sub / "versions.lock").write_text("charts: []\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", f"lock\n\n{gitops.TRAILER}: demo 1.0.0 -> 1.1.0\nOther-Trailer: x\n")
    head = git(repo, "rev-parse", "HEAD")
    assert gitops.repo_root(sub) == repo.resolve()
    assert gitops.head_commit(repo) == head == gitops.head_commit(repo, "refs/heads/main")
    assert gitops.head_commit(repo, "HEAD~1") == git(repo, "rev-parse", "HEAD~1")  # git's revision grammar
    assert gitops.file_at(repo, head, "helmfile/versions.lock") == "charts: []\n"
    assert gitops.file_at(repo, "HEAD~1", "helmfile/versions.lock") is None
    assert gitops.file_at(repo, head, "helmfile") is None  # a folder is not a file
    assert gitops.trailers(repo, head) == ["demo 1.0.0 -> 1.1.0"]
    assert gitops.current_branch(repo) == gitops.branch_name(repo) == "main"
    assert gitops.branch_name(repo, "main") == "main" and gitops.branch_name(repo, "nope") is None

    # a linked worktree sees the same shared git folder and its own branch
    wt = tmp_path / "linked"
    gitops.add_worktree(repo, wt, "feature/x", head)
    assert gitops.common_dir(wt) == gitops.common_dir(repo) == (repo / ".git").resolve()
    assert gitops.current_branch(wt) == "feature/x" and gitops.branch_exists(repo, "feature/x")
    (wt / "b.txt").write_text("b\n")
    commit = gitops.commit_all(wt, "add b\n\nbody")
    assert commit == git(repo, "rev-parse", "refs/heads/feature/x") != head
    assert git(repo, "log", "-1", "--format=%B", commit).strip() == "add b\n\nbody"
    gitops.remove_worktree(repo, wt)
    gitops.delete_branch(repo, "feature/x")
    assert not gitops.branch_exists(repo, "feature/x")

    # detached HEAD, remotes, and a repository without commits
    git(repo, "checkout", "-q", "--detach")
    assert gitops.current_branch(repo) is None
    git(repo, "remote", "add", "origin", "https://git.example.invalid/team/deploy.git")
    assert gitops.remote_url(repo, "origin") == "https://git.example.invalid/team/deploy.git"
    assert gitops.remote_url(repo, "other") == ""
    with pytest.raises(RefusedError, match="no git remote named 'other'"):
        gitops.push(repo, "other", "main")
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "trunk")
    assert gitops.current_branch(empty) == "trunk"
    with pytest.raises(RefusedError, match="no commit yet"):
        gitops.head_commit(empty)
