"""Point helmfile releases at a new vendored folder by rewriting their `chart:` lines, and nothing else.

helmfile files are written by people: comments, quoting, key order, indentation and line
endings matter to them and to review diffs. So we never load-and-dump them. We find each
`chart:` line whose path resolves (relative to the file that names it, as helmfile does) to
the old folder, and replace only the path text inside that line. The same works for
`.gotmpl` state files, whose template syntax elsewhere on other lines we never need to parse.
A templated path (`{{ .Values.chartsDir }}/gpu-operator-v25.3.2`) cannot be resolved; when its
last component is the old folder's name, that component is replaced and the change is
reported as templated so a reviewer looks at it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from chartkeeper.fsutil import atomic_write_text

# `chart: path`, `- chart: "path"`, `chart: 'path'  # comment` — group "val" is the raw path text.
_CHART_LINE_RE = re.compile(
    r"""^(?P<lead>[ \t]*(?:-[ \t]+)?chart[ \t]*:[ \t]*)"""
    r"""(?P<q>["']?)(?P<val>[^"'#\r\n]*?)(?P=q)"""
    r"""(?P<tail>[ \t]*(?:#[^\r\n]*)?)(?P<eol>\r?\n?)$"""
)
STATE_SUFFIXES = (".yaml", ".yml", ".yaml.gotmpl", ".yml.gotmpl", ".gotmpl")


@dataclass(frozen=True)
class ChartLineChange:
    file: Path
    line: int  # 1-based
    old: str  # the path text as it was
    new: str  # the path text as it is now
    templated: bool = False


def _resolves_to(value: str, file: Path, folder: Path) -> bool:
    if not value or "://" in value or value.startswith(("oci:", "{{")) or "{{" in value:
        return False
    p = Path(value)
    target = p if p.is_absolute() else file.parent / p
    return Path(os.path.normpath(target)) == Path(os.path.normpath(folder))


def _new_value(value: str, file: Path, old_folder: Path, new_folder: Path) -> tuple[str, bool] | None:
    """The replacement path text for `value`, keeping its style (relative, `./`, trailing slash)."""
    trailing = "/" if value.endswith("/") and len(value) > 1 else ""
    if "{{" in value:
        stem = value.rstrip("/")
        head, sep, last = stem.rpartition("/")
        if last == old_folder.name and sep and "}}" in head:
            return head + "/" + new_folder.name + trailing, True
        return None
    if not _resolves_to(value, file, old_folder):
        return None
    if Path(value).is_absolute():
        return str(new_folder) + trailing, False
    # Keep the user's spelling up to the last component when only the folder name changes.
    stem = value.rstrip("/")
    if old_folder.parent == new_folder.parent:
        head, sep, _ = stem.rpartition("/")
        return (head + sep if sep else "") + new_folder.name + trailing, False
    rel = os.path.relpath(new_folder, file.parent).replace(os.sep, "/")
    if value.startswith("./") and not rel.startswith("."):
        rel = "./" + rel
    return rel + trailing, False


def rewrite_text(text: str, file: Path, old_folder: Path, new_folder: Path) -> tuple[str, list[ChartLineChange]]:
    """`text` with every `chart:` line naming `old_folder` rewritten to `new_folder`."""
    out: list[str] = []
    changes: list[ChartLineChange] = []
    for no, line in enumerate(text.splitlines(keepends=True), start=1):
        m = _CHART_LINE_RE.match(line)
        if m:
            value = m.group("val").strip()
            repl = _new_value(value, file, old_folder, new_folder)
            if repl is not None:
                new_val, templated = repl
                start, end = m.span("val")
                # Replace only the stripped value inside its span: surrounding spaces stay as they were.
                inner = m.group("val")
                offset = inner.find(value)
                line = line[: start + offset] + new_val + line[start + offset + len(value) :]
                changes.append(ChartLineChange(file, no, value, new_val, templated))
        out.append(line)
    return "".join(out), changes


def state_files(helmfile_dir: Path) -> list[Path]:
    """Every file under the helmfile folder that can hold releases (YAML and gotmpl)."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(helmfile_dir):
        # Charts (vendored or custom) hold their own YAML, sometimes with `chart:` keys; not state files.
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in (".git", ".treesums") and not d.startswith(".chartkeeper")
            and not (Path(dirpath) / d / "Chart.yaml").exists()
        )
        for fn in sorted(filenames):
            if fn.endswith(STATE_SUFFIXES):
                found.append(Path(dirpath) / fn)
    return found


def rewrite_chart_paths(
    files: Iterable[Path], old_folder: Path, new_folder: Path, *, write: bool = True
) -> list[ChartLineChange]:
    """Rewrite `chart:` lines in `files`; returns every change (files are written atomically)."""
    all_changes: list[ChartLineChange] = []
    for f in files:
        try:
            raw = f.read_bytes()
        except OSError:
            continue
        if b"chart" not in raw:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        new_text, changes = rewrite_text(text, f, old_folder, new_folder)
        if changes:
            if write:
                atomic_write_text(f, new_text)
            all_changes.extend(changes)
    return all_changes
