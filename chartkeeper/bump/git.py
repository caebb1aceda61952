"""The few git operations `bump` needs, through the `git` binary.

We shell out rather than use gitpython's object model because worktrees, porcelain status and
push are git's own features and behave exactly as the user's git does (hooks, config,
credential helpers). Every call passes explicit arguments (never a shell), and nothing here
touches the user's index or current branch: writes happen in a separate worktree.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from chartkeeper.errors import ChartkeeperError, DiskFullError, RefusedError, disk_full
from chartkeeper.fsutil import free_bytes
from chartkeeper.masking import redact

#: Our worktrees live inside the repository's git folder, so they never show up as untracked
#: files in the user's checkout and `git worktree prune` knows them.
WORKTREES_DIR = "chartkeeper-worktrees"
#: Branches chartkeeper creates: `chartkeeper/<chart>-<version>`.
BRANCH_PREFIX = "chartkeeper/"
#: Trailer on every commit chartkeeper makes; tells our commits from the user's.
TRAILER = "Chartkeeper-Bump"


class GitError(ChartkeeperError):
    """A git command failed; the message carries git's own words (`output`: all of them)."""

    def __init__(self, message: str, *, hint: str | None = None, output: str = "") -> None:
        super().__init__(message, hint=hint)
        self.output = output


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # never hang waiting for a password on a TTY we do not own
    env.setdefault("LC_ALL", "C")
    return env


def git(cwd: Path, *args: str, check: bool = True, input: str | None = None, optional_locks: bool = True) -> str:
    """Run `git args...` in `cwd` and return stdout (stripped of the final newline)."""
    env = _env()
    if not optional_locks:
        env["GIT_OPTIONAL_LOCKS"] = "0"
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env, input=input)
    except FileNotFoundError:
        raise ChartkeeperError("git is not installed (needed by this command)") from None
    if check and proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise GitError(f"git {args[0]} failed: {msg[-1] if msg else f'exit {proc.returncode}'}", output=proc.stderr or "")
    return proc.stdout.rstrip("\n")


def repo_root(path: Path) -> Path:
    """The top of the git working tree that holds `path`; refuses when there is none."""
    proc = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True, env=_env()
    )
    if proc.returncode != 0:
        raise RefusedError(
            f"{path} is not inside a git repository",
            hint="run `git init` and commit the deployment first, or use `--in-place` to write into the working tree",
        )
    return Path(proc.stdout.strip()).resolve()


def common_dir(root: Path) -> Path:
    """The repository's shared git folder (the same from every worktree)."""
    out = git(root, "rev-parse", "--git-common-dir")
    p = Path(out)
    return (p if p.is_absolute() else root / p).resolve()


def head_commit(root: Path, ref: str = "HEAD") -> str:
    out = git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if not out:
        if ref == "HEAD":
            raise RefusedError("the repository has no commit yet", hint="commit the deployment first")
        raise RefusedError(f"{ref!r} is not a commit in this repository")
    return out


@dataclass(frozen=True)
class DirtyFile:
    status: str  # porcelain XY code, e.g. " M", "A ", "??"
    path: str


def dirty_files(root: Path, *, untracked: bool = False) -> list[DirtyFile]:
    """Tracked files with staged or unstaged changes (and untracked ones when asked)."""
    # GIT_OPTIONAL_LOCKS=0: a status check must not refresh (rewrite) the user's index file.
    out = git(
        root, "status", "--porcelain=v1", "-z", "--untracked-files=" + ("all" if untracked else "no"),
        optional_locks=False,
    )
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
    return bool(git(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False))


def current_branch(root: Path) -> str | None:
    out = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return out or None


def unique_commits(root: Path, branch: str, base: str) -> list[tuple[str, str]]:
    """Commits on `branch` not reachable from `base`, as (sha, full message), newest first."""
    out = git(root, "log", "--format=%H%x00%B%x01", f"{base}..refs/heads/{branch}")
    commits = []
    for rec in out.split("\x01"):
        rec = rec.strip("\n")
        if not rec:
            continue
        sha, _, body = rec.partition("\0")
        commits.append((sha.strip(), body))
    return commits


@dataclass(frozen=True)
class Worktree:
    path: Path
    branch: str | None
    head: str | None
    prunable: bool = False


def list_worktrees(root: Path) -> list[Worktree]:
    out = git(root, "worktree", "list", "--porcelain")
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
        git(root, "worktree", "add", "--quiet", "-b", branch, str(path), base)
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
    said = any(s in exc.output for s in ("No space left on device", os.strerror(errno.ENOSPC), "Disk quota exceeded"))
    needed = 0
    if not said and free is not None:
        listing = git(root, "ls-tree", "-r", "-l", "--full-tree", base, check=False)
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
    git(root, "worktree", "remove", "--force", "--force", str(path), check=False)
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
    git(root, "worktree", "prune", check=False)


def delete_branch(root: Path, branch: str) -> None:
    git(root, "branch", "-D", "--quiet", branch)


def commit_all(tree: Path, message: str) -> str:
    """Stage everything in the worktree `tree` and commit it; returns the new commit."""
    git(tree, "add", "--all", ".")
    # --no-verify: a formatter in a pre-commit hook would rewrite vendored upstream files and break
    # their tree checksum; the branch is reviewed in a merge request, where the hooks' CI runs.
    git(tree, "commit", "--quiet", "--no-verify", "-F", "-", input=redact(message))
    return git(tree, "rev-parse", "HEAD")


def push(root: Path, remote: str, branch: str, options: Sequence[str] = ()) -> None:
    """Push `branch` to `remote` with git's own credentials; git's output never reaches ours.

    `options` are push options (`git push -o`), e.g. GitLab's `merge_request.create`."""
    known = git(root, "remote").split()
    if remote not in known:
        raise RefusedError(f"no git remote named {remote!r} (remotes: {', '.join(known) or 'none'})")
    proc = subprocess.run(
        ["git", "push", "--quiet", "--porcelain", *(a for o in options for a in ("-o", o)), remote,
         f"refs/heads/{branch}:refs/heads/{branch}"],
        cwd=root,
        capture_output=True,
        text=True,
        env=_env(),
    )
    if proc.returncode != 0:
        # git's own words, all of them (the remote's hook message, the rejected ref, the fatal line):
        # the cause is often not the last line. The CLI redacts credentials in the URLs git echoes.
        lines = [ln.rstrip() for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
        # the first fatal line names the cause ("does not support push options") on the error line
        cause = next((ln for ln in lines if ln.startswith(("fatal:", "error:"))), lines[-1] if lines else None)
        said = "".join(f"\n  {ln}" for ln in lines) if len(lines) > 1 else ""
        raise GitError(
            f"git push to {remote!r} failed: {cause or f'exit {proc.returncode}'}" + (f"\ngit said:{said}" if said else ""),
            hint=f"the branch {branch} is kept; push it yourself with `git push {remote} {branch}`",
        )


def remote_url(root: Path, remote: str) -> str:
    """The URL configured for `remote`, as written (not rewritten by `insteadOf`): it names the forge."""
    return git(root, "config", "--get", f"remote.{remote}.url", check=False)


def branch_name(root: Path, ref: str | None = None) -> str | None:
    """`ref` when it names a local branch, else (no ref) the branch checked out; None when detached."""
    if ref:
        ok = git(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{ref}", check=False)
        return ref if ok else None
    return git(root, "symbolic-ref", "--short", "-q", "HEAD", check=False) or None
