"""The real `helmfile` binary, when one is installed and the user allowed it: for templates the
embedded renderer cannot run, and for differential checks of the embedded model.

helmfile 0.166 calls `helm version --client`, which Helm v4 refuses, so a Helm v3 binary
(`helm3`, next to helmfile or on PATH) is preferred when present.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from chartkeeper import limits, yamlio
from chartkeeper.errors import InputError
from chartkeeper.fsutil import resolves_inside, scratch_env, temp_folder

_SEP = "__ck__"


# Set once per command from `--allow-exec` / `renderer: helmfile` (cli.py): running helmfile runs the
# repository's templates, and with them its `exec` calls, so it is never done without being asked.
_allowed = False


def allow_helmfile(allowed: bool) -> None:
    """Whether this command may run a helmfile binary on the repository (the user's opt-in)."""
    global _allowed
    _allowed = allowed


def renderer_mode() -> str:
    """`embedded` (the default: helmfile never runs), `auto` (embedded, helmfile for what it cannot
    render: `--allow-exec` or `renderer: helmfile`) or `helmfile` (every release's values from the
    binary). `CHARTKEEPER_RENDERER` names one of them explicitly, an opt-in of its own."""
    mode = (os.environ.get("CHARTKEEPER_RENDERER") or ("auto" if _allowed else "embedded")).strip().lower()
    if mode not in ("auto", "embedded", "helmfile"):
        raise InputError(f"CHARTKEEPER_RENDERER={mode}: expected auto, embedded or helmfile")
    return mode


def find_helmfile(root: Path | None = None) -> Path | None:
    """`$CHARTKEEPER_HELMFILE` (`none`: never), else `helmfile` on PATH; never one inside the
    repository at `root` (a committed `.tools/bin/helmfile` is the repository's code, not a tool
    the user installed)."""
    explicit = os.environ.get("CHARTKEEPER_HELMFILE")
    found = explicit if explicit else shutil.which("helmfile")
    if not found or not Path(found).is_file() or (root is not None and resolves_inside(Path(found), root)):
        return None
    return Path(found)


def find_helm_for(helmfile: Path) -> Path | None:
    for cand in (helmfile.parent / "helm3", shutil.which("helm3"), helmfile.parent / "helm", shutil.which("helm")):
        if cand and Path(cand).exists():
            return Path(cand)
    return None


def _run(exe: Path, entry: Path, env_name: str, args: list[str], timeout: float | None = None) -> subprocess.CompletedProcess:
    timeout = timeout if timeout is not None else limits.current().render_seconds
    cmd = [str(exe), "--file", str(entry), "--environment", env_name, "--skip-deps", "--quiet"]
    helm = find_helm_for(exe)
    if helm is not None:
        cmd += ["--helm-binary", str(helm)]
    env = scratch_env()  # helmfile's temp values files go in this run's folder, swept if we are killed
    env.setdefault("HELM_CACHE_HOME", os.path.join(env["TMPDIR"], "helm-cache"))
    try:
        return subprocess.run(cmd + args, capture_output=True, text=True, timeout=timeout, env=env, cwd=entry.parent)
    except subprocess.TimeoutExpired:
        raise InputError(f"helmfile did not finish within {timeout:.0f} s ({' '.join(args[:1])}; "
                         f"{limits.key_of('render_seconds')})") from None


def write_values(exe: Path, entry: Path, env_name: str, *, root: Path | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """`helmfile write-values` for every release of `env_name`: {(namespace, name): values}."""
    return dict(_write_values_cached(str(exe), str(entry.resolve()), env_name, _mtime_key(entry)))


def _mtime_key(entry: Path) -> float:
    # a cheap invalidation key: the tree's newest state/values file would be better, but a
    # process runs one command on one checkout
    try:
        return entry.stat().st_mtime
    except OSError:
        return 0.0


@lru_cache(maxsize=16)
def _write_values_cached(exe: str, entry: str, env_name: str, _key: float) -> tuple:
    with temp_folder("write-values-") as tmp:
        template = os.path.join(tmp, "{{ .Release.Namespace }}" + _SEP + "{{ .Release.Name }}.yaml")
        proc = _run(Path(exe), Path(entry), env_name, ["write-values", "--output-file-template", template])
        if proc.returncode != 0:
            msg = (proc.stderr or proc.stdout).strip().splitlines()
            raise InputError(f"helmfile write-values -e {env_name} failed: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for f in sorted(Path(tmp).glob("*.yaml")):
            ns, _, name = f.stem.partition(_SEP)
            data = yamlio.load_file(f)
            out[(ns, name)] = data if isinstance(data, dict) else {}
        return tuple(out.items())


def list_releases(exe: Path, entry: Path, env_name: str) -> list[dict[str, Any]]:
    """`helmfile list --output json`: name, namespace, installed, labels, chart of every release."""
    proc = _run(exe, entry, env_name, ["list", "--output", "json"])
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise InputError(f"helmfile list -e {env_name} failed: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    text = proc.stdout.strip()
    start = text.find("[")
    try:
        data = json.loads(text[start:]) if start >= 0 else []
    except ValueError:
        raise InputError(f"helmfile list -e {env_name}: unexpected output") from None
    return data if isinstance(data, list) else []


def build(exe: Path, entry: Path, env_name: str) -> dict[Path, str]:
    """`helmfile build`: every state file of `env_name` as helmfile rendered it (templates run,
    `installedTemplate` and the like resolved), {state file: YAML text}."""
    return dict(_build_cached(str(exe), str(entry.resolve()), env_name, _mtime_key(entry)))


@lru_cache(maxsize=16)
def _build_cached(exe: str, entry: str, env_name: str, _key: float) -> tuple:
    proc = _run(Path(exe), Path(entry), env_name, ["build"])
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise InputError(f"helmfile build -e {env_name} failed: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    out: dict[Path, str] = {}
    for doc in proc.stdout.split("\n---\n"):
        doc = doc.removeprefix("---\n")
        head, _, body = doc.partition("\n")
        if head.startswith("#  Source: "):
            out[Path(head.removeprefix("#  Source: ").strip()).resolve()] = body
    return tuple(out.items())
