"""Why a line of ours is there: the commit that last changed it (`git blame`, through gitpython).

A reviewer deciding whether to keep an override that masks a new upstream default needs the reason
it was pinned: "pinned 2024-11-02 in a1b2c3 'driver 550 for A100 hosts'". Blame runs on the working
tree (uncommitted lines say so), once per file whatever the number of lines asked about.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import git

from chartkeeper.safegit import config_env

_UNCOMMITTED = "0" * 40


@dataclass(frozen=True)
class Pin:
    commit: str  # abbreviated
    date: str  # YYYY-MM-DD, when the line was written (author date)
    subject: str
    author: str = ""

    def to_json(self) -> dict[str, str]:
        return {"commit": self.commit, "date": self.date, "subject": self.subject, "author": self.author}

    def __str__(self) -> str:
        if self.commit == "uncommitted":
            return "not committed yet"
        return f"pinned {self.date} in {self.commit} \"{self.subject}\""


class Blame:
    """Line history of the files of one repository; silent (None) where there is no git history."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._files: dict[str, dict[int, Pin] | None] = {}
        self._repo: git.Repo | None = None
        self._no_repo = False

    def _open(self) -> git.Repo | None:
        if self._repo is None and not self._no_repo:
            try:
                self._repo = git.Repo(self._root, search_parent_directories=True)
            except (git.InvalidGitRepositoryError, git.NoSuchPathError):
                self._no_repo = True
            else:  # `git blame` of a changed file runs its clean filter: not the repository's, here
                self._repo.git.update_environment(**config_env(self._root))
        return self._repo

    def _lines(self, file: str) -> dict[int, Pin] | None:
        if file in self._files:
            return self._files[file]
        repo = self._open()
        table: dict[int, Pin] | None = None
        path = (self._root / file).resolve()
        if repo is not None and repo.working_tree_dir and path.is_file():
            try:
                rel = path.relative_to(Path(repo.working_tree_dir).resolve()).as_posix()
                table = {}
                n = 0
                for commit, lines in repo.blame(None, rel) or []:
                    pin = (Pin("uncommitted", "", "", "") if commit.hexsha == _UNCOMMITTED else
                           Pin(commit.hexsha[:10], commit.authored_datetime.date().isoformat(), commit.summary
                               if isinstance(commit.summary, str) else commit.summary.decode("utf-8", "replace"),
                               str(commit.author.name or "")))
                    for _ in lines:
                        n += 1
                        table[n] = pin
            except (git.GitCommandError, ValueError, OSError):
                table = None  # an untracked file, a path outside the repository
        self._files[file] = table
        return table

    def pin(self, file: str | None, line: int | None) -> Pin | None:
        if not file or not line:
            return None
        table = self._lines(file)
        return None if table is None else table.get(line)
