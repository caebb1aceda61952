"""`versions.lock`: what every vendored chart is pinned to, and where it came from.

The file is YAML with a schema version of its own so it can grow:

    # comments at the top are kept
    version: 1
    charts:
      - name: gpu-operator              # our name for it (unique)
        chart: gpu-operator             # its name in the upstream repository
        repository: https://helm.ngc.nvidia.com/nvidia   # https://, oci://, file:// or a folder
        version: v25.3.2                # pinned, spelled as upstream publishes it
        constraint: v25.x               # optional: what `check`/`bump` may move to
        digest: sha256:…                # archive digest as the repository publishes it
        path: gpu-operator-v25.3.2      # vendored folder, relative to the lock's folder
        appVersion: v25.3.2
        fetched: 2025-09-03T10:00:00Z
        treeChecksum: sha256:…          # of the vendored folder (see chartkeeper.vendoring)
        subcharts:                      # dependencies unpacked under <path>/charts/
          - {name: node-feature-discovery, version: 0.17.3, digest: sha256:…, repository: oci://…}

Writing is atomic (temp file + os.replace) and stable: entries sorted by name, a fixed key
order, so the same lock always gives the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from chartkeeper import yamlio
from chartkeeper.errors import InputError
from chartkeeper.fsutil import atomic_write_text
from chartkeeper.masking import note_public, note_public_all
from chartkeeper.versions import ChartVersion, Constraint

LOCK_SCHEMA_VERSION = 1
DEFAULT_LOCK_PATH = Path("helmfile/charts/external/versions.lock")

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$")
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


@dataclass(frozen=True)
class Subchart:
    name: str
    version: str
    digest: str | None = None
    repository: str | None = None
    alias: str | None = None


@dataclass(frozen=True)
class LockEntry:
    name: str
    chart: str
    repository: str
    version: str
    constraint: str | None = None
    digest: str | None = None
    path: str | None = None
    app_version: str | None = None
    fetched: str | None = None
    tree_checksum: str | None = None
    subcharts: tuple[Subchart, ...] = ()

    @property
    def parsed_version(self) -> ChartVersion:
        return ChartVersion.parse(self.version)

    @property
    def parsed_constraint(self) -> Constraint | None:
        return Constraint.parse(self.constraint) if self.constraint else None

    @property
    def folder(self) -> str:
        """The vendored folder, relative to the lock's folder."""
        return self.path or f"{self.name}-{self.version}"

    def with_changes(self, **changes: Any) -> "LockEntry":
        return replace(self, **changes)


@dataclass(frozen=True)
class Lock:
    entries: tuple[LockEntry, ...] = ()
    header: str = ""  # comment lines at the top of the file, kept verbatim
    path: Path | None = field(default=None, compare=False)

    @property
    def root(self) -> Path:
        """The folder vendored paths are relative to."""
        return self.path.parent if self.path else Path(".")

    def get(self, name: str) -> LockEntry | None:
        for e in self.entries:
            if e.name == name:
                return e
        return None

    def require(self, name: str) -> LockEntry:
        e = self.get(name)
        if e is None:
            known = ", ".join(x.name for x in self.entries) or "none"
            raise InputError(f"no chart named {name!r} in {self.path or 'versions.lock'} (pinned: {known})")
        return e

    def folder_of(self, entry: LockEntry) -> Path:
        return self.root / entry.folder

    def upsert(self, entry: LockEntry) -> "Lock":
        others = tuple(e for e in self.entries if e.name != entry.name)
        return replace(self, entries=others + (entry,))

    def remove(self, name: str) -> "Lock":
        return replace(self, entries=tuple(e for e in self.entries if e.name != name))


# --- loading -----------------------------------------------------------------------------

_ENTRY_KEYS = {
    "name": "name",
    "chart": "chart",
    "repository": "repository",
    "version": "version",
    "constraint": "constraint",
    "digest": "digest",
    "path": "path",
    "appVersion": "app_version",
    "fetched": "fetched",
    "treeChecksum": "tree_checksum",
    "subcharts": "subcharts",
}
_SUBCHART_KEYS = ("name", "version", "digest", "repository", "alias")


def _shown(value: object, limit: int = 60) -> str:
    """A value as an error message quotes it: one line, and short (a hostile lock may hold megabytes)."""
    text = str(value)
    shown = text if text.isprintable() else repr(text)[1:-1]
    if len(shown) > limit:
        shown = f"{shown[:limit]}… ({len(text)} characters)"
    return shown


def _err(where: str, field_: str, msg: str) -> InputError:
    return InputError(f"{where}.{field_}: {msg}")


def _str(raw: dict, key: str, where: str, *, required: bool = False) -> str | None:
    if key not in raw or raw[key] is None:
        if required:
            raise _err(where, key, "is required")
        return None
    val = raw[key]
    if isinstance(val, bool) or not isinstance(val, (str, int, float)):
        raise _err(where, key, f"must be a string, not {type(val).__name__}")
    if not isinstance(val, str):
        # YAML reads `version: 1.10` as a float and loses the trailing zero: refuse to guess.
        raise _err(where, key, f"{val!r} must be quoted as a string")
    if required and not val.strip():
        raise _err(where, key, "must not be empty")
    return val


def _parse_entry(raw: Any, where: str) -> LockEntry:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: must be a mapping, not {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in _ENTRY_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(_shown(k) for k in unknown)}")
    name = _str(raw, "name", where, required=True)
    assert name is not None
    if not _NAME_RE.match(name):
        raise _err(where, "name", f'"{_shown(name)}" is not a valid chart name')
    chart = _str(raw, "chart", where) or name
    if not _NAME_RE.match(chart):
        raise _err(where, "chart", f'"{_shown(chart)}" is not a valid chart name')
    repository = _str(raw, "repository", where, required=True)
    version = _str(raw, "version", where, required=True)
    if ChartVersion.try_parse(version) is None:
        raise _err(where, "version", f'"{_shown(version)}" is not a valid chart version')
    constraint = _str(raw, "constraint", where)
    if constraint is not None:
        try:
            Constraint.parse(constraint)
        except InputError:
            raise _err(where, "constraint", f'"{_shown(constraint)}" is not a valid version constraint') from None
    digest = _str(raw, "digest", where)
    if digest is not None and not _DIGEST_RE.match(digest):
        raise _err(where, "digest", f'"{_shown(digest)}" is not a sha256 digest (sha256:<64 hex>)')
    tree = _str(raw, "treeChecksum", where)
    if tree is not None and not _DIGEST_RE.match(tree):
        raise _err(where, "treeChecksum", f'"{_shown(tree)}" is not a sha256 digest (sha256:<64 hex>)')
    path = _str(raw, "path", where)
    if path is not None:
        p = Path(path)
        if p.is_absolute() or ".." in p.parts or not path.strip():
            raise _err(where, "path", f'"{_shown(path)}" must be a relative path inside the lock\'s folder')
        if not p.parts or any(part.startswith(".") for part in p.parts):
            # `.` is the lock's own folder; `.treesums`, `.chartkeeper-…` and other hidden names are ours or git's
            raise _err(where, "path", f'"{_shown(path)}" must name a folder of its own, not `.` nor a hidden or '
                                      "reserved name (`.treesums`, `.chartkeeper-…`)")
    fetched = raw.get("fetched")
    if fetched is not None and not isinstance(fetched, str):
        fetched = str(fetched)  # YAML may read an unquoted timestamp as a datetime
    if fetched is not None and not _TIME_RE.match(fetched):
        raise _err(where, "fetched", f'"{_shown(fetched)}" is not an ISO 8601 time')
    subs_raw = raw.get("subcharts") or []
    if not isinstance(subs_raw, list):
        raise _err(where, "subcharts", "must be a list")
    subs: list[Subchart] = []
    for j, s in enumerate(subs_raw):
        sw = f"{where}.subcharts[{j}]"
        if not isinstance(s, dict):
            raise InputError(f"{sw}: must be a mapping")
        bad = sorted(str(k) for k in s if k not in _SUBCHART_KEYS)
        if bad:
            raise InputError(f"{sw}: unknown field(s) {', '.join(_shown(k) for k in bad)}")
        sname = _str(s, "name", sw, required=True)
        sver = _str(s, "version", sw, required=True)
        sdig = _str(s, "digest", sw)
        if sdig is not None and not _DIGEST_RE.match(sdig):
            raise _err(sw, "digest", f'"{_shown(sdig)}" is not a sha256 digest')
        subs.append(Subchart(sname or "", sver or "", sdig, _str(s, "repository", sw), _str(s, "alias", sw)))
    return LockEntry(
        name=name,
        chart=chart,
        repository=repository or "",
        version=version or "",
        constraint=constraint,
        digest=digest,
        path=path,
        app_version=_str(raw, "appVersion", where),
        fetched=fetched,
        tree_checksum=tree,
        subcharts=tuple(subs),
    )


def _header_of(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith("#") or (lines and not line.strip()):
            lines.append(line)
        else:
            break
    while lines and not lines[-1].strip():
        lines.pop()
    return "".join(lines)


def parse_lock(text: str, path: Path | None = None) -> Lock:
    label = path.name if path else "versions.lock"
    data = yamlio.loads_strict(text, label)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{label}: must be a mapping with `version:` and `charts:`")
    unknown = sorted(str(k) for k in data if k not in ("version", "charts"))
    if unknown:
        raise InputError(f"{label}: unknown top-level field(s) {', '.join(_shown(k) for k in unknown)}")
    schema = data.get("version", LOCK_SCHEMA_VERSION)
    if schema != LOCK_SCHEMA_VERSION:
        raise InputError(
            f"{label}: version: {_shown(repr(schema))} is not a lock schema this chartkeeper reads (expected {LOCK_SCHEMA_VERSION})",
            hint="upgrade chartkeeper" if isinstance(schema, int) and schema > LOCK_SCHEMA_VERSION else None,
        )
    charts = data.get("charts") or []
    if not isinstance(charts, list):
        raise InputError(f"{label}: charts: must be a list")
    entries = [_parse_entry(raw, f"{label}: charts[{i}]") for i, raw in enumerate(charts)]
    seen: dict[str, int] = {}
    for i, e in enumerate(entries):
        if e.name in seen:
            raise InputError(f"{label}: charts[{i}].name: \"{e.name}\" is pinned twice (also charts[{seen[e.name]}])")
        seen[e.name] = i
    folders: dict[str, str] = {}
    for e in entries:
        if e.folder in folders:
            raise InputError(f"{label}: {e.name} and {folders[e.folder]} share the vendored folder {e.folder}")
        folders[e.folder] = e.name
    _refuse_nested(folders, label)
    for e in entries:  # what the lock pins is public: chart names, folders and versions are no secret
        note_public_all((e.name, e.chart), "a chart name")
        note_public(e.folder, "a vendored folder")
        note_public(e.version, "a pinned version")
        note_public_all((s.name for s in e.subcharts), "a subchart name")
    return Lock(tuple(entries), _header_of(text), path)


def is_chart_name(name: str) -> bool:
    """A name the lock accepts for a chart (and so for a vendored folder's `<name>-<version>`)."""
    return bool(_NAME_RE.match(name))


def _refuse_nested(folders: dict[str, str], label: str) -> None:
    """A vendored folder inside another's (a bad merge of the lock leaves `a-1.0.0/templates`): syncing
    one would replace files of the other."""
    parts = sorted((Path(f).parts, f) for f in folders)
    for (outer, outer_f), (inner, inner_f) in zip(parts, parts[1:]):
        # sorted by path components: a folder inside another sorts right after it or after one inside it too
        if inner[: len(outer)] == outer:
            raise InputError(f"{label}: {folders[inner_f]}'s folder {inner_f} lies inside {folders[outer_f]}'s folder {outer_f}")


def load_lock(path: Path, *, missing_ok: bool = False) -> Lock:
    try:
        text = yamlio.decode(path.read_bytes(), path)
    except FileNotFoundError:
        if missing_ok:
            return Lock((), "", path)
        raise InputError(
            f"{path}: lock file not found", hint="run `chartkeeper add` to pin a first chart, or `chartkeeper import`"
        ) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read lock file ({exc.strerror})") from None
    return parse_lock(text, path)


# --- writing -----------------------------------------------------------------------------


_PLAIN_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_./:@+~^-]*$")


def _plain_ok(v: str) -> bool:
    if not _PLAIN_RE.match(v) or v.lower() in ("yes", "no", "true", "false", "null", "on", "off", "y", "n", "~"):
        return False
    return True


def _q(v: str) -> str:
    """A YAML scalar for `v` that reads back as the same string."""
    if _plain_ok(v):
        return v
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_lock(lock: Lock) -> str:
    out: list[str] = []
    if lock.header:
        out.append(lock.header.rstrip("\n") + "\n\n")
    out.append(f"version: {LOCK_SCHEMA_VERSION}\n")
    if not lock.entries:
        out.append("charts: []\n")
        return "".join(out)
    out.append("charts:\n")
    for e in sorted(lock.entries, key=lambda x: x.name):
        fields = [
            ("name", e.name),
            ("chart", e.chart),
            ("repository", e.repository),
            ("version", e.version),
            ("constraint", e.constraint),
            ("digest", e.digest),
            ("path", e.path),
            ("appVersion", e.app_version),
            ("fetched", e.fetched),
            ("treeChecksum", e.tree_checksum),
        ]
        first = True
        for key, val in fields:
            if val is None:
                continue
            out.append(("  - " if first else "    ") + f"{key}: {_q(val)}\n")
            first = False
        if e.subcharts:
            out.append("    subcharts:\n")
            for s in sorted(e.subcharts, key=lambda x: (x.alias or x.name, x.name)):
                sf = [("name", s.name), ("version", s.version), ("alias", s.alias), ("digest", s.digest), ("repository", s.repository)]
                sfirst = True
                for key, val in sf:
                    if val is None:
                        continue
                    out.append(("      - " if sfirst else "        ") + f"{key}: {_q(val)}\n")
                    sfirst = False
    return "".join(out)


def write_lock(lock: Lock, path: Path | None = None) -> Path:
    target = path or lock.path
    if target is None:
        raise ValueError("write_lock needs a path")
    text = render_lock(lock)
    parse_lock(text, target)  # never write a lock we could not read back
    atomic_write_text(target, text)
    return target


def validate_lock(lock: Lock) -> None:
    """Refuse, before anything is written, a lock that `write_lock` would refuse afterwards."""
    parse_lock(render_lock(lock), lock.path)


def entries_by_name(entries: Iterable[LockEntry]) -> dict[str, LockEntry]:
    return {e.name: e for e in entries}
