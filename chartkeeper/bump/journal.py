"""Staged writes swapped in by a replayable journal, so a killed run is finished by the next one.

Everything a bump changes is first written into a staging folder next to the vendored charts
(same filesystem, so every swap is a `rename`): the new chart folder and the new text of each
file. Then a journal listing the swaps is written atomically, and the swaps are done in order.
Each swap is idempotent (done when its source is gone), so a run killed during the swaps is
completed by replaying the journal; a run killed before the journal exists left only a
staging folder, which is deleted. Either way the tree ends fully old or fully new.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from chartkeeper.errors import RefusedError
from chartkeeper.fsutil import atomic_write_text, resolves_inside
from chartkeeper.output import Output
from chartkeeper.settings import Settings

STAGING_PREFIX = ".chartkeeper-bump-"
JOURNAL_NAME = "journal.json"


@dataclass
class Staging:
    """A staging folder under `parent` and the swaps planned so far."""

    dir: Path
    tree: Path  # paths in the journal are relative to this folder (the deployment root)
    ops: list[dict[str, str]] = field(default_factory=list)
    _n: int = 0

    @classmethod
    def open(cls, parent: Path, tree: Path, tag: str) -> "Staging":
        parent.mkdir(parents=True, exist_ok=True)
        d = parent / f"{STAGING_PREFIX}{tag}"
        if d.exists():
            shutil.rmtree(d)
        d.mkdir()
        return cls(d, tree)

    def _rel(self, p: Path) -> str:
        return os.path.relpath(p, self.tree)

    def _confined(self, target: Path) -> None:
        # a committed symlink (`reports -> /outside`) must not carry a write out of the repository
        if not resolves_inside(target.parent, self.tree):
            raise RefusedError(f"{self._rel(target)}: a symlink on the way leads outside the repository "
                               f"({target.parent.resolve()}); nothing was written",
                               hint="replace the symlink by a folder of the repository")

    def stage_text(self, target: Path, text: str) -> None:
        """Plan `target` to get `text` (written now into staging)."""
        self._confined(target)
        self._n += 1
        src = self.dir / "files" / f"{self._n}"
        atomic_write_text(src, text)
        if target.exists():
            os.chmod(src, target.stat().st_mode & 0o777)
        self.ops.append({"op": "replace", "src": self._rel(src), "dst": self._rel(target)})

    def stage_folder_swap(self, staged: Path, old: Path, new: Path) -> None:
        """Plan: move `old` out of the way (deleted at the end), then `staged` to `new`."""
        self._confined(old)
        self._confined(new)
        trash = self.dir / "old"
        self.ops.append({"op": "move-away", "src": self._rel(old), "dst": self._rel(trash)})
        self.ops.append({"op": "move-in", "src": self._rel(staged), "dst": self._rel(new)})

    def commit(self, pause=None) -> None:
        """Write the journal, then swap everything in."""
        atomic_write_text(self.dir / JOURNAL_NAME, json.dumps({"version": 1, "ops": self.ops}, indent=1))
        if pause:
            pause("journal-written")
        replay(self.dir, self.tree, pause=pause)


def replay(staging_dir: Path, tree: Path, pause=None) -> None:
    data = json.loads((staging_dir / JOURNAL_NAME).read_text(encoding="utf-8"))
    for i, op in enumerate(data["ops"]):
        src, dst = tree / op["src"], tree / op["dst"]
        if op["op"] == "move-away":
            if src.exists() and not dst.exists():
                os.rename(src, dst)
            elif src.exists():
                # Moved away already, yet back: `git stash`, a checkout or a `sync` of the old lock
                # re-created the old folder after the kill. The journal says it goes; the copy
                # already set aside is the original, so this one is set aside too and deleted.
                os.rename(src, _free_name(staging_dir / f"old-recreated-{i}"))
        elif op["op"] == "move-in":
            if src.exists():
                if dst.exists():  # a folder of that name came from elsewhere: never merge into it
                    raise FileExistsError(f"{dst} exists")
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.rename(src, dst)
        elif op["op"] == "replace":
            if src.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
        if pause and i == 0:
            pause("swapping")
    shutil.rmtree(staging_dir)


def _free_name(p: Path) -> Path:
    n = 0
    while p.exists():
        n += 1
        p = p.with_name(f"{p.name}.{n}")
    return p


def leftovers(parent: Path) -> list[Path]:
    """Every staging folder a killed in-place bump left, with or without its journal."""
    if not parent.is_dir():
        return []
    return sorted(d for d in parent.glob(STAGING_PREFIX + "*") if d.is_dir())


def pending(parent: Path) -> list[Path]:
    """Staging folders whose journal was written: in-place bumps killed while swapping in."""
    return [d for d in leftovers(parent) if (d / JOURNAL_NAME).is_file()]


def pending_target(staging_dir: Path) -> str:
    """What the interrupted bump was doing, for messages: `<chart folder> -> <new folder>`."""
    try:
        ops = json.loads((staging_dir / JOURNAL_NAME).read_text(encoding="utf-8"))["ops"]
    except (OSError, ValueError, KeyError, TypeError):
        return staging_dir.name[len(STAGING_PREFIX):]
    away = next((o["src"] for o in ops if o.get("op") == "move-away"), None)
    into = next((o["dst"] for o in ops if o.get("op") == "move-in"), None)
    if away and into:
        return f"{Path(away).name} -> {Path(into).name}"
    return staging_dir.name[len(STAGING_PREFIX):]


def recover(parent: Path, tree: Path) -> list[str]:
    """Finish or discard what killed runs left under `parent`; returns what was done."""
    done: list[str] = []
    for d in leftovers(parent):
        if (d / JOURNAL_NAME).exists():
            replay(d, tree)
            done.append(f"finished the interrupted swap in {d.name}")
        else:
            shutil.rmtree(d, ignore_errors=True)
            done.append(f"removed the staging folder {d.name}")
    return done


def finish_interrupted_bump(settings: Settings, out: Output) -> list[str]:
    """Every writing command's first step, under the run lock it already holds: finish the swap
    of an in-place bump that was killed (or discard its staging folder when it never wrote its
    journal), so nothing else ever runs on a half-swapped tree."""
    done = recover(settings.lock_file.parent, settings.root)
    for msg in done:
        out.info(f"cleaned up after an interrupted run: {msg}")
    return done
