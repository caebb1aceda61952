"""The index fast path must give exactly what a full YAML parse gives, or fall back to it."""

from __future__ import annotations

import json

import pytest
import yaml

from chartkeeper.errors import SourceError
from chartkeeper.sources.index import IndexFormatError, _fast_slice, chart_entries


def _entry(name: str, version: str, **extra: object) -> dict:
    e = {"apiVersion": "v2", "name": name, "version": version, "digest": "ab" * 32, "urls": [f"{name}-{version}.tgz"],
         "created": "2025-01-01T00:00:00Z", "description": f"{name}: a chart\nwith lines"}
    e.update(extra)
    return e


ENTRIES = {
    "demo-operator": [_entry("demo-operator", "v1.2.0"), _entry("demo-operator", "v1.1.0")],
    "demo": [_entry("demo", "1.0.0", annotations={"artifacthub.io/changes": "- kind: added\n  description: x\n"})],
    "demo-web": [_entry("demo-web", "0.3.0", dependencies=[{"name": "demo", "version": "1.x", "repository": "oci://r/x"}])],
    "a.b_c": [_entry("a.b_c", "2.0.0")],
}


def helm_style(entries: dict, *, entries_first: bool = False) -> bytes:
    """Helm writes list items at the same indentation as their key (`  demo:\\n  - name: …`)."""
    body = yaml.safe_dump({"entries": entries}, sort_keys=True, default_flow_style=False)
    head = "apiVersion: v1\n"
    tail = 'generated: "2025-09-03T10:00:00Z"\nserverInfo: {}\n'
    return (body + head + tail if entries_first else head + body + tail).encode()


def indented_style(entries: dict) -> bytes:
    class Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False):  # type: ignore[override]
            return super().increase_indent(flow, False)

    return ("apiVersion: v1\n" + yaml.dump({"entries": entries}, Dumper=Dumper, sort_keys=False) + "generated: x\n").encode()


def quoted_keys(entries: dict) -> bytes:
    text = helm_style(entries).decode()
    for name in entries:
        text = text.replace(f"\n  {name}:\n", f'\n  "{name}":\n')
    return text.encode()


@pytest.mark.parametrize("layout", [helm_style, indented_style, quoted_keys,
                                    lambda e: helm_style(e, entries_first=True)])
@pytest.mark.parametrize("chart", sorted(ENTRIES))
def test_fast_path_matches_full_parse(layout, chart: str) -> None:
    body = layout(ENTRIES)
    assert _fast_slice(body, chart) is not None  # the fast path is really taken
    assert chart_entries(body, chart, "index.yaml") == yaml.safe_load(body)["entries"][chart]


def test_prefix_names_do_not_bleed_into_each_other() -> None:
    body = helm_style(ENTRIES)
    got = chart_entries(body, "demo", "index.yaml")
    assert [e["name"] for e in got] == ["demo"]


def test_json_index_is_read() -> None:
    body = json.dumps({"apiVersion": "v1", "entries": ENTRIES}).encode()
    with pytest.raises(IndexFormatError):
        _fast_slice(body, "demo")
    assert chart_entries(body, "demo-web", "index.json") == ENTRIES["demo-web"]


def test_flow_style_entries_fall_back() -> None:
    body = yaml.safe_dump({"apiVersion": "v1", "entries": ENTRIES}, default_flow_style=True).encode()
    assert chart_entries(body, "demo-operator", "index.yaml") == ENTRIES["demo-operator"]


def test_comments_and_blank_lines_inside_the_block() -> None:
    body = (
        b"apiVersion: v1\n"
        b"entries:\n"
        b"  # the operator\n"
        b"  demo:\n"
        b"\n"
        b"  - name: demo\n"
        b"    version: 1.0.0\n"
        b"# a comment at column 0 inside entries\n"
        b"  - name: demo\n"
        b"    version: 0.9.0\n"
        b"  demo-web:\n"
        b"  - name: demo-web\n"
        b"    version: 2.0.0\n"
        b"generated: x\n"
    )
    assert [e["version"] for e in chart_entries(body, "demo", "i")] == ["1.0.0", "0.9.0"]
    assert [e["version"] for e in chart_entries(body, "demo-web", "i")] == ["2.0.0"]


def test_aliases_resolved_by_full_parse() -> None:
    body = (
        b"entries:\n"
        b"  one:\n"
        b"  - &base {name: one, version: 1.0.0, home: x}\n"
        b"  two:\n"
        b"  - name: two\n"
        b"    version: 1.0.0\n"
        b"    maintainers: *base\n"
    )
    got = chart_entries(body, "two", "i")
    assert got[0]["maintainers"] == {"name": "one", "version": "1.0.0", "home": "x"}


def test_missing_chart_is_none_and_malformed_index_is_an_error() -> None:
    assert chart_entries(helm_style(ENTRIES), "nope", "i") is None
    with pytest.raises(SourceError, match="malformed index"):
        chart_entries(b"entries:\n  demo:\n  - name: demo\n    version: [1.0\n", "demo", "index.yaml")
    with pytest.raises(SourceError, match="malformed index"):
        chart_entries(b"- just\n- a list\n", "demo", "index.yaml")


def test_duplicate_key_defers_to_yaml() -> None:
    body = b"entries:\n  demo:\n  - name: demo\n    version: 1.0.0\n  demo:\n  - name: demo\n    version: 2.0.0\n"
    assert chart_entries(body, "demo", "i") == yaml.safe_load(body)["entries"]["demo"]


def test_absent_chart_needs_no_full_parse_when_every_key_is_plain() -> None:
    from chartkeeper.sources.index import IndexReader

    reader = IndexReader(helm_style(ENTRIES), "i")
    assert reader.entries("nope") is None and reader.entries("demo-") is None
    assert reader.full_parses == 0
    assert reader.entries("demo-web") == ENTRIES["demo-web"]
    # A key the fast path cannot read (an escape in a quoted key) makes absence uncertain.
    odd = helm_style(ENTRIES).replace(b"\n  demo-web:\n", b'\n  "demo\\x2dweb2":\n')
    reader = IndexReader(odd, "i")
    assert reader.entries("demo-web2") == ENTRIES["demo-web"]
    assert reader.full_parses == 1
