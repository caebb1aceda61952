"""The session check that holds the suite to its private HOME: it sees every kind of change."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.session import changed_paths, snapshot


def test_snapshot_sees_added_changed_and_removed_paths(tmp_path: Path) -> None:
    cache = tmp_path / "chartkeeper"
    assert snapshot(cache) == {}
    (cache / "index").mkdir(parents=True)
    (cache / "index" / "a.json").write_text("{}")
    (cache / "index" / "b.json").write_text("{}")
    before = snapshot(cache)
    assert changed_paths(before, snapshot(cache)) == []

    (cache / "index" / "a.json").write_text('{"etag": "x"}')
    (cache / "index" / "b.json").unlink()
    (cache / "tmp").mkdir()
    assert changed_paths(before, snapshot(cache)) == ["index", "index/a.json", "index/b.json", "tmp"]


def test_snapshot_sees_a_rewrite_of_the_same_size(tmp_path: Path) -> None:
    entry = tmp_path / "entry.json"
    entry.write_text("{}")
    before = snapshot(tmp_path)
    entry.write_text("[]")
    os.utime(entry, ns=(1, 1))
    assert changed_paths(before, snapshot(tmp_path)) == ["entry.json"]
