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
from datetime import date, datetime
from typing import Any, Iterable
from urllib.parse import urljoin

from chartkeeper.errors import SourceError
from chartkeeper.sources.base import ChartRelease, VersionListing
from chartkeeper.versions import ChartVersion

_ENTRIES_RE = re.compile(rb"^(?:entries|\"entries\"|'entries')[ \t]*:[ \t]*(?:#[^\n]*)?\r?$", re.M)
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
        except ValueError:
            data = None
    if data is None:
        from chartkeeper import yamlio
        from chartkeeper.errors import InputError

        try:
            data = yamlio.loads(body, label)
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


def _fast_slice(body: bytes, chart: str) -> bytes | None:
    """The lines of `chart`'s block under `entries:` (key line included), or None if absent.

    Raises IndexFormatError when the layout is not the plain block style we can read.
    """
    if not _SIMPLE_NAME_RE.match(chart):
        raise IndexFormatError("unusual chart name")
    if body.lstrip()[:1] in (b"{", b"["):
        raise IndexFormatError("flow style / JSON")
    found = list(_ENTRIES_RE.finditer(body))
    if len(found) != 1:
        raise IndexFormatError("no single block-style entries key")
    start = found[0].end() + 1
    # The block ends at the next line starting at column 0 (a top-level key or document marker).
    m = _TOP_KEY_RE.search(body, start - 1)
    end = m.start() + 1 if m else len(body)
    # The indentation of chart keys: the first content line of the block.
    indent = None
    pos = start
    while pos < end:
        nl = body.find(b"\n", pos)
        nl = end if nl == -1 or nl > end else nl
        line = body[pos:nl]
        stripped = line.lstrip(b" ")
        if stripped and not stripped.startswith(b"#") and stripped.strip():
            if stripped.startswith(b"- ") or stripped == b"-":
                raise IndexFormatError("entries is a list")
            indent = len(line) - len(stripped)
            break
        pos = nl + 1
    if indent is None or indent == 0:
        return None if indent is None else b""
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


def chart_entries(body: bytes, chart: str, label: str) -> list[dict[str, Any]] | None:
    """The raw index entries of `chart` (None when the index does not list it)."""
    try:
        piece = _fast_slice(body, chart)
        if piece is None:
            raise IndexFormatError("chart not found textually")  # make sure with a full parse
        from chartkeeper import yamlio

        data = yamlio.loads(b"entries:\n" + piece, label)
        got = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(got, dict) or len(got) != 1:
            raise IndexFormatError("slice is not one chart")
        items = next(iter(got.values()))
        if not isinstance(items, list) or not items:
            raise IndexFormatError("slice has no entries")
        for it in items:
            if not isinstance(it, dict) or str(it.get("name", chart)) != chart:
                raise IndexFormatError("slice holds entries of another chart")
        return items
    except IndexFormatError:
        pass
    except Exception:  # a slice that fails to parse: the full parse decides (and reports)
        pass
    entries = full_parse(body, label)
    items = entries.get(chart)
    if items is None:
        return None
    if not isinstance(items, list):
        raise SourceError(f"{label}: malformed index: entries.{chart} is not a list")
    return items


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
