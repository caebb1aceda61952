"""`bundle --images --since REF`: the images the deployment pulled at a git ref, rendered from that ref's
own tree (helmfile, values, vendored charts, patches), so a bundle carries only what an upgrade adds."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from dataclasses import replace
from pathlib import Path

from chartkeeper.errors import InputError
from chartkeeper.fsutil import temp_folder
from chartkeeper.images.inventory import Progress, build_inventory
from chartkeeper.safegit import config_env
from chartkeeper.settings import Settings

_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    # `git archive` runs smudge filters: never the repository's (chartkeeper/safegit.py)
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                          env={**os.environ, **_GIT_ENV, **config_env(root)})


def images_at(settings: Settings, ref: str, envs: list[str], progress: Progress | None = None) -> set[str]:
    """Every image the deployment pulled at `ref` (environments as given, those REF defines otherwise)."""
    try:
        found = _git(settings.root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        prefix = _git(settings.root, "rev-parse", "--show-prefix")
    except FileNotFoundError:
        raise InputError("--since needs git, which is not installed") from None
    if prefix.returncode != 0:
        raise InputError(f"--since {ref}: {settings.root} is not inside a git repository")
    if found.returncode != 0:
        raise InputError(f"--since {ref}: not a commit in this repository")
    commit = found.stdout.decode().strip()
    rel = prefix.stdout.decode().strip()
    with temp_folder("since-", settings.cache_dir) as work:
        archive = _git(settings.root, "archive", "--format=tar", commit, "--", rel or ".")
        if archive.returncode != 0:
            raise InputError(f"--since {ref}: git archive failed: {archive.stderr.decode(errors='replace').strip()}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(work / "tree", filter="data")
        old_root = work / "tree" / rel
        old = replace(settings, root=old_root)
        inv = build_inventory(old, envs=envs, progress=progress)
        if inv.errors:
            raise InputError(f"--since {ref}: the tree at {ref} does not render: {inv.errors[0]}")
        return {u.image for u in inv.images}
