"""Lock entries and verify reports as JSON-ready dicts and human lines (shared by the commands)."""

from __future__ import annotations

from typing import Any

from chartkeeper.lockfile import LockEntry
from chartkeeper.vendoring.verify import ChartReport


def entry_json(entry: LockEntry) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": entry.name,
        "chart": entry.chart,
        "repository": entry.repository,
        "version": entry.version,
        "constraint": entry.constraint,
        "digest": entry.digest,
        "path": entry.folder,
        "appVersion": entry.app_version,
        "fetched": entry.fetched,
        "treeChecksum": entry.tree_checksum,
        "subcharts": [
            {"name": s.name, "version": s.version, "alias": s.alias, "digest": s.digest, "repository": s.repository}
            for s in entry.subcharts
        ],
    }
    return d


def chart_report_lines(r: ChartReport) -> list[str]:
    lines = [f"{r.name} ({r.folder}): {r.state}" + (f" — {r.detail}" if r.detail else "")]
    if r.drift is not None:
        for kind, paths in (("modified", r.drift.modified), ("added", r.drift.added), ("removed", r.drift.removed)):
            lines.extend(f"  {kind:<8} {p}" for p in paths)
    return lines
