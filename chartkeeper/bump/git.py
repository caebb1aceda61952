"""The git operations `bump` needs, through gitpython.

Two ways in, each where it fits:
* gitpython's object model reads repository state: where the repository and its shared git folder
  are, branches and what they point at, the branch checked out, remotes and their URLs, a file
  as a commit holds it, the trailers of a commit.
* gitpython's command runner (`repo.git.<command>`) for what only git itself does the way the
  user's git does: worktrees (gitpython has no API for them), porcelain status, staging with the
  repository's attributes and filters, committing (signing and config honoured; gitpython's own
  commit would ignore both), push (credential helpers, push options) and revisions given by the
  user (git's full revision grammar).

Every call passes explicit arguments (never a shell), and nothing here touches the user's index
or current branch: writes happen in a separate worktree. Git never prompts (no TTY of ours), and
never runs the repository's hooks, filters or fsmonitor (`chartkeeper.safegit`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import git

from chartkeeper.errors import NO_SPACE_ERRNOS, ChartkeeperError, DiskFullError, RefusedError, disk_full
from chartkeeper.fsutil import free_bytes
from chartkeeper.masking import redact
from chartkeeper.safegit import config_env

#: Our worktrees live inside the repository's git folder, so they never show up as untracked
#: files in the user's checkout and `git worktree prune` knows them.
WORKTREES_DIR = "chartkeeper-worktrees"
#: Branches chartkeeper creates: `chartkeeper/<chart>-<version>`.
BRANCH_PREFIX = "chartkeeper/"
#: Trailer on every commit chartkeeper makes; tells our commits from the user's.
TRAILER = "Chartkeeper-Bump"

# never hang waiting for a password on a TTY we do not own (gitpython already sets LC_ALL=C)
_ENV = {"GIT_TERMINAL_PROMPT": "0"}


class GitError(ChartkeeperError):
    """A git command failed; the message carries git's own words (`output`: all of them)."""

    def __init__(self, message: str, *, hint: str | None = None, output: str = "") -> None:
        super().__init__(message, hint=hint)
        self.output = output


@contextlib.contextmanager
def _repo(path: Path) -> Iterator[git.Repo]:
    """The repository whose working tree is (or holds) `path`; its helper processes end with the block."""
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise RefusedError(
            f"{path} is not inside a git repository",
            hint="run `git init` and commit the deployment first, or use `--in-place` to write into the working tree",
        ) from None
    # no hook, filter or fsmonitor of the repository runs in any git process of ours (chartkeeper/safegit.py)
    repo.git.update_environment(**config_env(Path(repo.working_tree_dir or repo.git_dir)))
    try:
        yield repo
    finally:
        repo.close()  # gitpython keeps `git cat-file` processes for object reads: end them now


def _stderr_lines(exc: git.GitCommandError) -> list[str]:
    # gitpython stores stderr as "\n  stderr: '<text>'"
    text = str(exc.stderr or "").strip()
    if text.startswith("stderr: '") and text.endswith("'"):
        text = text[len("stderr: '") : -1]
    return [ln for ln in text.splitlines() if ln.strip()]


def _run(repo: git.Repo, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
    """`git args...` in `repo`'s working tree: stdout without its final newline ('' when it failed
    and `check` is false)."""
    try:
        return repo.git.execute(["git", *args], env={**_ENV, **(env or {})})
    except git.GitCommandNotFound:
        raise ChartkeeperError("git is not installed (needed by this command)") from None
    except git.GitCommandError as exc:
        if not check:
            return ""
        lines = _stderr_lines(exc) or [str(exc.stdout or "").strip()]
        raise GitError(f"git {args[0]} failed: {lines[-1] if lines and lines[-1] else f'exit {exc.status}'}",
                       output="\n".join(_stderr_lines(exc))) from None


def git_cmd(cwd: Path, *args: str, check: bool = True) -> str:
    """Run `git args...` in the repository at `cwd` (for the few commands nothing else covers)."""
    with _repo(cwd) as repo:
        return _run(repo, *args, check=check)


def repo_root(path: Path) -> Path:
    """The top of the git working tree that holds `path`; refuses when there is none."""
    with _repo(path) as repo:
        if repo.working_tree_dir is None:
            raise RefusedError(f"{path} is inside a bare git repository", hint="run chartkeeper in a checkout")
        return Path(repo.working_tree_dir).resolve()


def common_dir(root: Path) -> Path:
    """The repository's shared git folder (the same from every worktree)."""
    with _repo(root) as repo:
        return Path(repo.common_dir).resolve()


def head_commit(root: Path, ref: str = "HEAD") -> str:
    """The commit `ref` names, in git's own revision grammar (`--base` is the user's)."""
    with _repo(root) as repo:
        if ref == "HEAD":
            try:
                return repo.head.commit.hexsha
            except ValueError:  # an unborn branch
                raise RefusedError("the repository has no commit yet", hint="commit the deployment first") from None
        if ref.startswith("refs/heads/") and git.Head(repo, ref).is_valid():
            return git.Head(repo, ref).commit.hexsha
        out = _run(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if not out:
        raise RefusedError(f"{ref!r} is not a commit in this repository")
    return out


def file_at(root: Path, commit: str, path: str) -> str | None:
    """The text of `path` (relative to the repository) as `commit` holds it; None when it has none."""
    with _repo(root) as repo:
        try:
            blob = repo.commit(commit).tree / path
        except (KeyError, ValueError, git.BadName):
            return None
        if blob.type != "blob":
            return None
        return blob.data_stream.read().decode("utf-8", errors="replace")


def trailers(root: Path, commit: str, key: str = TRAILER) -> list[str]:
    """The values of the `key:` trailers of `commit` (keys compare case-insensitively, as git's)."""
    with _repo(root) as repo:
        return [v.strip() for k, v in repo.commit(commit).trailers_list if k.lower() == key.lower() and v.strip()]


@dataclass(frozen=True)
class DirtyFile:
    status: str  # porcelain XY code, e.g. " M", "A ", "??"
    path: str


def dirty_files(root: Path, *, untracked: bool = False) -> list[DirtyFile]:
    """Tracked files with staged or unstaged changes (and untracked ones when asked)."""
    # GIT_OPTIONAL_LOCKS=0: a status check must not refresh (rewrite) the user's index file.
    with _repo(root) as repo:
        out = _run(repo, "status", "--porcelain=v1", "-z", "--untracked-files=" + ("all" if untracked else "no"),
                   env={"GIT_OPTIONAL_LOCKS": "0"})
    items: list[DirtyFile] = []
    parts = out.split("\0")
    i = 0
    while i < len(parts):
        rec = parts[i]
        i += 1
        if len(rec) < 4:
            continue
        code, path = rec[:2], rec[3:]
        if code[0] in "RC":  # a rename carries its origin as the next record
            i += 1
        items.append(DirtyFile(code, path))
    return items


def branch_exists(root: Path, branch: str) -> bool:
    with _repo(root) as repo:
        return git.Head(repo, f"refs/heads/{branch}").is_valid()


def current_branch(root: Path) -> str | None:
    """The branch checked out (even one without a commit yet); None when HEAD is detached."""
    with _repo(root) as repo:
        if repo.head.is_detached:
            return None
        return repo.head.reference.name


@dataclass(frozen=True)
class Worktree:
    path: Path
    branch: str | None
    head: str | None
    prunable: bool = False


def list_worktrees(root: Path) -> list[Worktree]:
    with _repo(root) as repo:
        out = _run(repo, "worktree", "list", "--porcelain")
    trees: list[Worktree] = []
    cur: dict[str, str] = {}
    for line in out.splitlines() + [""]:
        if not line:
            if "worktree" in cur:
                br = cur.get("branch")
                trees.append(
                    Worktree(
                        Path(cur["worktree"]),
                        br[len("refs/heads/") :] if br and br.startswith("refs/heads/") else br,
                        cur.get("HEAD"),
                        "prunable" in cur,
                    )
                )
            cur = {}
            continue
        key, _, val = line.partition(" ")
        cur[key] = val
    return trees


def worktrees_home(root: Path) -> Path:
    return common_dir(root) / WORKTREES_DIR


def add_worktree(root: Path, path: Path, branch: str, base: str) -> None:
    """Create `branch` at `base` and check it out in a new worktree at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _repo(root) as repo:
            _run(repo, "worktree", "add", "--quiet", "-b", branch, str(path), base)
    except GitError as exc:
        full = _out_of_space(root, path.parent, base, exc)
        if full is not None:
            raise full from None
        raise


def _out_of_space(root: Path, folder: Path, base: str, exc: GitError) -> DiskFullError | None:
    """The disk-full error behind a failed checkout into `folder`, or None when space is not why.

    Git rarely says so itself: a checkout that runs out of space reports "unable to write file"
    and "Could not reset index file", and by the time it has cleaned up, the space is free
    again. So: git's own "No space left", or less room than the files of `base` take (their
    sizes are a lower bound of what a checkout writes), means the disk is the cause.
    """
    free = free_bytes(folder)
    said = any(os.strerror(e) in exc.output for e in NO_SPACE_ERRNOS)  # git words them as libc does
    needed = 0
    if not said and free is not None:
        listing = git_cmd(root, "ls-tree", "-r", "-l", "--full-tree", base, check=False)
        for line in listing.splitlines():
            size = line.split("\t", 1)[0].split()[-1:]
            if size and size[0].isdigit():
                needed += int(size[0])
    if not said and (free is None or free >= needed):
        return None
    # git's own last words ("Could not reset index file") would only hide the cause: left out
    about = f": about {_mib(needed)} needed, {_mib(free)} free" if needed and free is not None else ""
    return disk_full(
        folder,
        f"creating the temporary worktree of the bump{about}",
        hint="free space on the file system holding the repository's .git folder, then run the same command "
        "again; your checkout was not touched",
    )


def _mib(n: int | None) -> str:
    return f"{(n or 0) / (1 << 20):.1f} MiB"


def remove_worktree(root: Path, path: Path) -> None:
    """Remove one of our worktrees, registered or not, and forget it."""
    with _repo(root) as repo:
        _run(repo, "worktree", "remove", "--force", "--force", str(path), check=False)
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
        _run(repo, "worktree", "prune", check=False)


def prune_worktrees(root: Path) -> None:
    with _repo(root) as repo:
        _run(repo, "worktree", "prune", check=False)


def delete_branch(root: Path, branch: str) -> None:
    with _repo(root) as repo:
        try:
            repo.delete_head(branch, force=True)
        except git.GitCommandError as exc:
            lines = _stderr_lines(exc)
            raise GitError(f"git branch failed: {lines[-1] if lines else f'exit {exc.status}'}") from None


def commit_all(tree: Path, message: str) -> str:
    """Stage everything in the worktree `tree` and commit it; returns the new commit."""
    with _repo(tree) as repo:
        _run(repo, "add", "--all", ".")
        # --no-verify: a formatter in a pre-commit hook would rewrite vendored upstream files and break
        # their tree checksum; the branch is reviewed in a merge request, where the hooks' CI runs.
        _run(repo, "commit", "--quiet", "--no-verify", "-m", _redact_body(message))
        return repo.head.commit.hexsha


def _redact_body(message: str) -> str:
    """Redact a commit message except its trailers: chartkeeper reads `Chartkeeper-Bump:` back to
    recognise its own branch, so those lines (names and versions only) must stay as written."""
    lines = message.split("\n")
    return "\n".join(line if line.startswith(f"{TRAILER}:") else redact(line) for line in lines)


def push(root: Path, remote: str, branch: str, options: Sequence[str] = ()) -> None:
    """Push `branch` to `remote` with git's own credentials; git's output never reaches ours.

    `options` are push options (`git push -o`), e.g. GitLab's `merge_request.create`."""
    require_remote(root, remote)
    with _repo(root) as repo:
        try:
            repo.git.execute(
                ["git", "push", "--quiet", "--porcelain", *(a for o in options for a in ("-o", o)), remote,
                 f"refs/heads/{branch}:refs/heads/{branch}"],
                env=_ENV,
            )
        except git.GitCommandError as exc:
            # git's own words, all of them (the remote's hook message, the rejected ref, the fatal line):
            # the cause is often not the last line. The CLI redacts credentials in the URLs git echoes.
            lines = [ln.rstrip() for ln in _stderr_lines(exc)]
            # the first fatal line names the cause ("does not support push options") on the error line
            cause = next((ln for ln in lines if ln.startswith(("fatal:", "error:"))), lines[-1] if lines else None)
            said = "".join(f"\n  {ln}" for ln in lines) if len(lines) > 1 else ""
            raise GitError(
                f"git push to {remote!r} failed: {cause or f'exit {exc.status}'}" + (f"\ngit said:{said}" if said else ""),
                hint=f"the branch {branch} is kept; push it yourself with `git push {remote} {branch}`",
            ) from None


def require_remote(root: Path, remote: str) -> None:
    """Refuse a remote the repository does not have (before a bump makes a branch it could not push)."""
    with _repo(root) as repo:
        known = [r.name for r in repo.remotes]
    if remote not in known:
        raise RefusedError(
            f"no git remote named {remote!r} (remotes: {', '.join(known) or 'none'})",
            hint=f"add it with `git remote add {remote} URL`, or name another with --remote",
        )


def commit_message(root: Path, commit: str) -> str:
    return git_cmd(root, "log", "-1", "--format=%B", commit)


def remote_url(root: Path, remote: str) -> str:
    """The URL configured for `remote`, as written (not rewritten by `insteadOf`): it names the forge."""
    with _repo(root) as repo:
        reader = repo.config_reader()
        try:
            return str(reader.get_value(f'remote "{remote}"', "url", default=""))
        finally:
            reader.release()


def branch_name(root: Path, ref: str | None = None) -> str | None:
    """`ref` when it names a local branch, else (no ref) the branch checked out; None when detached."""
    if ref:
        return ref if branch_exists(root, ref) else None
    return current_branch(root)
