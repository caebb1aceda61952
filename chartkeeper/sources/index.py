"""Reading a Helm repository `index.yaml` without paying for a full parse.

Big public indexes run to ~10 MB and 15,000 entries; `yaml.safe_load` of the whole file
takes seconds. `check` needs a handful of charts, so `chart_entries` finds the block of
one chart under `entries:` textually (on bytes, no decoding of the rest) and parses only
that slice. It falls back to a full parse whenever it cannot be sure the slice is the
whole truth: flow style, JSON, anchors, a chart key it cannot find, or a slice that does
not parse into a list of entries of that chart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable
from urllib.parse import urljoin

from chartkeeper import limits, yamlio
from chartkeeper.errors import InputError, SourceError
from chartkeeper.sources.base import ChartRelease, VersionListing
from chartkeeper.versions import ChartVersion

_ENTRIES_RE = re.compile(rb"(?:entries|\"entries\"|'entries')[ \t]*:[ \t]*(?:#[^\n]*)?\r?$", re.M)
_TOP_KEY_RE = re.compile(rb"\n[^\s#-]")
_SIMPLE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class IndexFormatError(Exception):
    """The fast path cannot be sure; the caller must parse the whole index."""


def full_parse(body: bytes, label: str) -> dict[str, Any]:
    """The whole index as data (JSON first: valid YAML, but far faster through `json`)."""
    head = body.lstrip()[:1]
    data: Any = None
    if head == b"{":
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # nested past Python's stack: the YAML parser words it
            data = None
    if data is None:
        try:
            data = yamlio.loads(body, label, max_bytes=limits.current().index_bytes)
        except InputError as exc:
            raise SourceError(f"malformed index: {exc.message}") from None
    if not isinstance(data, dict):
        raise SourceError(f"{label}: malformed index: not a mapping")
    entries = data.get("entries")
    if entries is None:
        entries = {}
    if not isinstance(entries, dict):
        raise SourceError(f"{label}: malformed index: `entries` is not a mapping")
    return entries


@dataclass(frozen=True)
class Layout:
    """Where the block-style `entries:` mapping of one index body is, and its key indentation."""

    start: int  # first byte after the `entries:` line
    end: int  # first byte of the next top-level line (or len(body))
    indent: int | None  # None: the block is empty


def index_layout(body: bytes) -> Layout:
    """Locate `entries:` once per body (plain `find`, no regex over the whole file).

    Raises IndexFormatError when the layout is not the plain block style we can read.
    """
    if body.lstrip()[:1] in (b"{", b"["):
        raise IndexFormatError("flow style / JSON")
    found: list[int] = []
    for key in (b"entries", b'"entries"', b"'entries'"):
        if body.startswith(key):
            found.append(0)
        pos = body.find(b"\n" + key)
        while pos != -1:
            found.append(pos + 1)
            pos = body.find(b"\n" + key, pos + 1)
    lines = []
    for at in found:
        m = _ENTRIES_RE.match(body, at)
        if m is not None:
            lines.append(m)
    if len(lines) != 1:
        raise IndexFormatError("no single block-style entries key")
    start = lines[0].end() + 1
    # The block ends at the next line starting at column 0 (a top-level key or document marker).
    m = _TOP_KEY_RE.search(body, start - 1)
    end = m.start() + 1 if m else len(body)
    pos = start
    while pos < end:
        nl = body.find(b"\n", pos, end)
        nl = end if nl == -1 else nl
        line = body[pos:nl]
        stripped = line.lstrip(b" ")
        if stripped.strip() and not stripped.startswith(b"#"):
            if stripped.startswith(b"- ") or stripped.rstrip() == b"-":
                raise IndexFormatError("entries is a list")
            if len(line) == len(stripped):
                raise IndexFormatError("entries not indented")
            return Layout(start, end, len(line) - len(stripped))
        pos = nl + 1
    return Layout(start, end, None)


def _fast_slice(body: bytes, chart: str, layout: Layout | None = None) -> bytes | None:
    """The lines of `chart`'s block under `entries:` (key line included), or None if absent.

    Raises IndexFormatError when the layout is not the plain block style we can read.
    """
    if not _SIMPLE_NAME_RE.match(chart):
        raise IndexFormatError("unusual chart name")
    layout = layout or index_layout(body)
    if layout.indent is None:
        return None
    start, end, indent = layout.start, layout.end, layout.indent
    hits: list[tuple[int, int]] = []  # (start of key line, end of key line)
    pad = b"\n" + b" " * indent
    tail_re = re.compile(rb"[ \t]*:[ \t]*(?:#[^\n]*)?\r?(?:\n|$)")
    for spelled in (chart.encode(), b'"' + chart.encode() + b'"', b"'" + chart.encode() + b"'"):
        needle = pad + spelled
        pos = body.find(needle, start - 1, end)
        while pos != -1:
            tail = tail_re.match(body, pos + len(needle))
            if tail is not None:
                hits.append((pos + 1, tail.end()))
            pos = body.find(needle, pos + 1, end)
    if not hits:
        return None
    if len(hits) > 1:
        raise IndexFormatError("chart key appears twice")
    k_start, k_end = hits[0]
    # The chart block ends at the next line indented <= indent that is not a list item at `indent`.
    sib = re.compile(rb"\n {0,%d}(?! )(?!- |-\r?\n)(?!#)\S" % indent)
    nxt = sib.search(body, k_end - 1, end)
    stop = nxt.start() + 1 if nxt else end
    return body[k_start:stop]


class IndexReader:
    """Reads the entries of several charts from one index body: the layout is found once, and a
    full parse (when the fast path cannot be sure) happens at most once."""

    def __init__(self, body: bytes, label: str) -> None:
        cap = limits.current().index_bytes
        if len(body) > cap:
            raise SourceError(f"{label}: the index is {limits.size(len(body))}, more than {limits.size(cap)} "
                              f"({limits.key_of('index_bytes')})")
        self.body = body
        self.label = label
        self._layout: Layout | None = None
        self._layout_error = False
        self._full: dict[str, Any] | None = None
        self._plain_keys: bool | None = None
        self.full_parses = 0

    def _keys_all_plain(self) -> bool:
        """True when every line at the chart-key indentation is a plain or quoted simple key.

        Then a chart name not found textually is really absent: no other spelling of a key
        (escapes, `? ` complex keys, a stray continuation line) exists that could hide it.
        """
        if self._plain_keys is None:
            layout = self._layout
            assert layout is not None and layout.indent is not None
            line_re = re.compile(rb"\n {%d}(?![ #\r\n]|- |-\r?\n)([^\n]*)" % layout.indent)
            key_re = re.compile(rb"(?:[A-Za-z0-9][A-Za-z0-9_.-]*|\"[A-Za-z0-9_.-]+\"|'[A-Za-z0-9_.-]+')[ \t]*:[ \t]*(?:#[^\n]*)?\r?")
            self._plain_keys = all(
                key_re.fullmatch(m.group(1)) for m in line_re.finditer(self.body, layout.start - 1, layout.end)
            )
        return self._plain_keys

    def _fast(self, chart: str) -> list[dict[str, Any]] | None | bool:
        """The chart's entries, False when it is surely absent, None when only a full parse can tell."""
        if self._layout_error:
            return None
        try:
            if self._layout is None:
                self._layout = index_layout(self.body)
            piece = _fast_slice(self.body, chart, self._layout)
        except IndexFormatError:
            self._layout_error = self._layout is None
            return None
        if piece is None:
            if self._layout.indent is not None and self._keys_all_plain():
                return False
            return None  # not found textually: only a full parse can say it is absent
        cap = limits.current().index_chart_bytes
        if len(piece) > cap:  # parsed, a quarter of a million versions took 2 GB and 47 s
            raise SourceError(f"{self.label}: the versions of {chart} take {limits.size(len(piece))} of the index, more "
                              f"than {limits.size(cap)} ({limits.key_of('index_chart_bytes')})")
        try:
            data = yamlio.loads(b"entries:\n" + piece, self.label)
        except InputError:
            return None  # a slice that fails to parse: the full parse decides (and reports)
        got = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(got, dict) or len(got) != 1:
            return None
        items = next(iter(got.values()))
        if not isinstance(items, list) or not items:
            return None
        for it in items:
            if not isinstance(it, dict) or str(it.get("name", chart)) != chart:
                return None
        return items

    def entries(self, chart: str) -> list[dict[str, Any]] | None:
        """The raw index entries of `chart` (None when the index does not list it)."""
        fast = self._fast(chart)
        if fast is False:
            return None
        if fast is not None:
            return fast  # type: ignore[return-value]
        if self._full is None:
            self._full = full_parse(self.body, self.label)
            self.full_parses += 1
        items = self._full.get(chart)
        if items is None:
            return None
        if not isinstance(items, list):
            raise SourceError(f"{self.label}: malformed index: entries.{chart} is not a list")
        return items


def chart_entries(body: bytes, chart: str, label: str) -> list[dict[str, Any]] | None:
    """The raw index entries of `chart` in `body` (None when the index does not list it)."""
    return IndexReader(body, label).entries(chart)


def chart_names(body: bytes, label: str) -> list[str]:
    """Every chart name of the index (a full parse; for listings, not for `check`)."""
    return sorted(str(k) for k in full_parse(body, label))


# --- entries -> releases ------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def normalize_digest(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    v = value.strip().lower()
    if v.startswith("sha256:"):
        v = v[len("sha256:") :]
    return "sha256:" + v if re.fullmatch(r"[0-9a-f]{64}", v) else None


def entry_record(item: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A JSON-safe record of one index entry with absolute archive URLs (what the cache keeps)."""
    urls = item.get("urls") or []
    if isinstance(urls, str):
        urls = [urls]
    abs_urls = [urljoin(base_url.rstrip("/") + "/", str(u)) for u in urls if u]
    annotations = item.get("annotations") or {}
    deps = item.get("dependencies") or []
    return {
        "name": _text(item.get("name")),
        "version": _text(item.get("version")),
        "digest": normalize_digest(item.get("digest")),
        "urls": abs_urls,
        "created": _text(item.get("created")),
        "appVersion": _text(item.get("appVersion")),
        "kubeVersion": _text(item.get("kubeVersion")),
        "deprecated": bool(item.get("deprecated")),
        "annotations": sorted((str(k), _text(v) or "") for k, v in annotations.items()) if isinstance(annotations, dict) else [],
        "dependencies": [
            [str(d.get("name", "")), str(d.get("version", "")), str(d.get("repository", ""))]
            for d in deps
            if isinstance(d, dict)
        ]
        if isinstance(deps, list)
        else [],
    }


def listing_from_records(chart: str, records: Iterable[dict[str, Any]]) -> VersionListing:
    releases: list[ChartRelease] = []
    skipped: list[str] = []
    seen: set[ChartVersion] = set()
    for r in records:
        v = ChartVersion.try_parse(r.get("version"))
        if v is None:
            skipped.append(str(r.get("version")))
            continue
        if v in seen:  # a version listed twice: the first (newest-first order in Helm indexes) wins
            continue
        seen.add(v)
        releases.append(
            ChartRelease(
                name=chart,
                version=v,
                digest=r.get("digest"),
                urls=tuple(r.get("urls") or ()),
                created=r.get("created"),
                app_version=r.get("appVersion"),
                kube_version=r.get("kubeVersion"),
                deprecated=bool(r.get("deprecated")),
                annotations=tuple((k, v) for k, v in r.get("annotations") or ()),
                dependencies=tuple(tuple(d) for d in r.get("dependencies") or ()),  # type: ignore[misc]
            )
        )
    releases.sort(key=lambda x: x.version, reverse=True)
    return VersionListing(tuple(releases), tuple(skipped))
