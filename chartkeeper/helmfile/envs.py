"""The environment names a helmfile defines, read without choosing one first."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

from chartkeeper import yamlio
from chartkeeper.errors import ChartkeeperError, InputError
from chartkeeper.masking import note_public_all

_ACTION_RE = re.compile(r"\{\{.*?\}\}", re.DOTALL)


def _docs(text: str, where: str) -> list[Any]:
    try:
        return yamlio.loads_all(text, where)
    except InputError:
        # A template whose actions are not valid YAML on their own: read it without them.
        try:
            return yamlio.loads_all(_ACTION_RE.sub("", text), where)
        except InputError:
            return []


def _names_in(path: Path, root: Path, seen: set[Path], with_bases: bool = True) -> list[str]:
    if path in seen or not path.exists():
        return []
    seen.add(path)
    text = yamlio.decode(path.read_bytes(), path).replace("\r\n", "\n")
    names: list[str] = []
    for chunk in text.split("\n---\n"):
        for doc in _docs(chunk, str(path)):
            if not isinstance(doc, dict):
                continue
            if with_bases:
                for b in doc.get("bases") or []:
                    if isinstance(b, str) and "{{" not in b:
                        names.extend(_names_in((path.parent / b).resolve(), root, seen, with_bases=False))
            envs = doc.get("environments")
            if isinstance(envs, dict):
                names.extend(str(k) for k in envs)
    return names


def state_files_in(folder: Path) -> list[Path]:
    """helmfile's `helmfile.d/` files: `*.y*ml` and `*.y*ml.gotmpl`, sorted by name."""
    found = [p for p in folder.iterdir() if p.is_file() and (fnmatch.fnmatch(p.name, "*.y*ml") or fnmatch.fnmatch(p.name, "*.y*ml.gotmpl"))]
    return sorted(found, key=str)


def environment_names(root: Path, entry: Path) -> list[str]:
    """Names under `environments:` of the entry file and its bases, in order of first mention."""
    if not entry.exists():
        raise InputError(f"{entry}: helmfile not found")
    try:
        if entry.is_dir():  # helmfile.d/: every state file's environments
            names = []
            seen: set[Path] = set()
            for f in state_files_in(entry.resolve()):
                names.extend(_names_in(f, root, seen))
        else:
            names = _names_in(entry.resolve(), root, set())
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{entry}: cannot read ({exc})") from None
    except ChartkeeperError:
        raise
    out = list(dict.fromkeys(names))
    note_public_all(out, "an environment name")  # `--environment NAME` in every next step
    return out or ["default"]
