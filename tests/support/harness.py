"""What the reliability suite checks around a real chartkeeper process.

* `run_cli(...)`: the real CLI in a subprocess (`python -m chartkeeper`), environment inherited.
* `invoke_cli(...)`: the same CLI in this process, same result shape, no interpreter start-up:
  for tests of what a command does. Tests of how a process behaves (kills, signals, two
  processes at once, a closed stdout) keep `run_cli`/`popen_cli`.
* `tree_state(root)`: every path under `root` with its kind, mode and content hash, so "byte
  identical" is one `==`; `git_state(repo)` adds HEAD, the current branch, the index file and
  `git status --porcelain` (untracked files included).
* `leftovers(root)`: staging folders and temp files a run must not leave behind.
* `find_canaries(...)`: where any planted secret (or its base64/URL-encoded form) shows up.
* `error_lines(proc)`: the `error:` lines a failed run printed (the contract is exactly one).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import quote

from chartkeeper import cli, helmfile, masking
from chartkeeper.helmfile import binary

LEFTOVER_MARKERS = (".chartkeeper-staging-", ".chartkeeper-tmp", ".tmp", ".partial", ".chartkeeper-old-", ".chartkeeper-new-")


def _cli_env(env: Mapping[str, str] | None) -> dict[str, str]:
    full_env = dict(os.environ, COLUMNS="200")  # rich tables: no wrapping inside asserted text
    full_env.update(env or {})
    full_env.setdefault("NO_PROXY", "127.0.0.1,127.0.0.2,localhost")
    return full_env


def run_cli(
    args: Iterable[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chartkeeper", *args],
        cwd=cwd,
        env=_cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


def invoke_cli(
    args: Iterable[str], *, cwd: Path, env: Mapping[str, str] | None = None, input: str | None = None, **_timeout: float
) -> subprocess.CompletedProcess[str]:
    """`run_cli` without a new process: `chartkeeper.cli.main` with this process's stdin, stdout,
    stderr, working folder and environment swapped for the call, as the subprocess would have them.

    What a process starts afresh is reset around the call: the secrets registered for redaction,
    and the helmfile model's caches (a process runs one command on one checkout).
    """
    argv = [str(a) for a in args]
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_secrets = masking.redactor.snapshot()
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    run_env = _cli_env(env)  # before clearing: it starts from this process's environment
    os.environ.clear()
    os.environ.update(run_env)
    masking.forget_secrets()  # a new process knows no secret yet: redaction must not hide more than it would
    helmfile.clear_caches()
    binary._write_values_cached.cache_clear()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            saved_stdin, sys.stdin = sys.stdin, io.StringIO(input or "")
            try:
                cli.main(argv)
            except SystemExit as exc:
                code = exc.code
            finally:
                sys.stdin = saved_stdin
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        binary.allow_helmfile(False)  # `--allow-exec` held for that command only
        masking.redactor.restore(saved_secrets)
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): printed to stderr, exit 1
        err.write(f"{code}\n")
        code = 1
    return subprocess.CompletedProcess([sys.executable, "-m", "chartkeeper", *argv], code, out.getvalue(), err.getvalue())


def popen_cli(args: Iterable[str], *, cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "chartkeeper", *args],
        cwd=cwd,
        env=_cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]


def assert_clean_failure(proc: subprocess.CompletedProcess[str], *needles: str, code: int = 2) -> str:
    """Exit `code`, exactly one `error:` line containing every needle, no traceback. Returns the line."""
    detail = f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert proc.returncode == code, detail
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, detail
    lines = error_lines(proc)
    assert len(lines) == 1, detail
    for n in needles:
        assert n.lower() in lines[0].lower(), f"{n!r} not in {lines[0]!r}\n{detail}"
    return lines[0]


RUN_LOCK = ".chartkeeper.lock"  # the run lock (holds the pid of the last holder); not user data


def user_state(root: Path) -> dict[str, str]:
    """`tree_state` without the run lock file and the folders that exist only to hold it."""
    state = {k: v for k, v in tree_state(root).items() if Path(k).name != RUN_LOCK}
    keep = {k: v for k, v in state.items() if not v.startswith("d ")}
    for k, v in state.items():
        if v.startswith("d ") and any(o.startswith(k + "/") for o in keep):
            keep[k] = v
    return dict(sorted(keep.items()))


def tree_state(root: Path, *, exclude: tuple[str, ...] = (".git",)) -> dict[str, str]:
    """relative path -> "d <mode>" | "f <mode> <sha256>" | "l <target>" for everything under root."""
    state: dict[str, str] = {}
    if not root.exists():
        return state
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        top = rel_dir == Path(".")
        dirnames[:] = sorted(d for d in dirnames if not (top and d in exclude))
        for name in sorted(dirnames) + sorted(f for f in filenames if not (top and f in exclude)):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                state[rel] = f"l {os.readlink(p)}"
            elif stat.S_ISDIR(st.st_mode):
                state[rel] = f"d {stat.S_IMODE(st.st_mode):o}"
            else:
                state[rel] = f"f {stat.S_IMODE(st.st_mode):o} {hashlib.sha256(p.read_bytes()).hexdigest()}"
    return state


def git(repo: Path, *args: str, check: bool = True) -> str:
    # GIT_OPTIONAL_LOCKS=0: our own `git status` must not refresh the index file we compare.
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def git_state(repo: Path) -> dict[str, object]:
    """The user's side of a repository: files, index, HEAD, current branch, status."""
    index = repo / ".git" / "index"
    return {
        "tree": tree_state(repo),
        "index": hashlib.sha256(index.read_bytes()).hexdigest() if index.exists() else None,
        "head": git(repo, "rev-parse", "HEAD").strip(),
        "branch": git(repo, "symbolic-ref", "-q", "HEAD", check=False).strip(),
        "status": git(repo, "status", "--porcelain=v1", "--untracked-files=all", "--ignored"),
    }


def leftovers(root: Path) -> list[str]:
    """Staging folders and temp files under root (outside .git) that a finished run must not leave."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if ".git" in dirnames:
            dirnames.remove(".git")
        for name in dirnames + filenames:
            if any(m in name for m in LEFTOVER_MARKERS) or name.endswith((".tmp", ".part")):
                found.append(str((Path(dirpath) / name).relative_to(root)))
    return sorted(found)


def canary_forms(secret: str) -> list[str]:
    """The secret and the encodings it could leak in (basic-auth base64, URL-quoted)."""
    forms = {secret, quote(secret, safe="")}
    return sorted(forms)


def basic_auth_forms(user: str, password: str) -> list[str]:
    raw = f"{user}:{password}".encode()
    return [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]


def find_canaries(needles: Iterable[str], *, roots: Iterable[Path] = (), texts: Mapping[str, str] | None = None) -> list[str]:
    """Every place (file path or text label) where a needle occurs. Binary files are scanned as bytes;
    gzip archives (cached charts, bundles) are scanned decompressed too."""
    import gzip

    needles = [n for n in needles if n]
    hits: list[str] = []
    for label, text in (texts or {}).items():
        for n in needles:
            if n in text:
                hits.append(f"{label}: {n[:12]}…")
    for root in roots:
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for name in filenames:
                p = Path(dirpath) / name
                if p.is_symlink() or not p.is_file():
                    continue
                data = p.read_bytes()
                blobs = [data]
                if data[:2] == b"\x1f\x8b":
                    try:
                        blobs.append(gzip.decompress(data))
                    except (OSError, EOFError):
                        pass
                for n in needles:
                    nb = n.encode()
                    if any(nb in b for b in blobs):
                        hits.append(f"{p}: {n[:12]}…")
    return hits
