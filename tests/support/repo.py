"""Build a chart repository folder (archives + index.yaml) from {chart: [versions]} in one call."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from tests.support.charts import build_index, package_chart, write_chart


def make_repo(
    root: Path,
    charts: Mapping[str, Sequence[str]],
    *,
    base_url: str | None = None,
    created: str = "2025-09-03T10:00:00Z",
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Package every `chart` in every version into `root` and write `root/index.yaml`."""
    root.mkdir(parents=True, exist_ok=True)
    src = root.parent / (root.name + "-src")
    for name, versions in charts.items():
        for v in versions:
            chart_dir = write_chart(src / f"{name}-{v}", name, v, app_version=f"app-{v}",
                                    templates={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"})
            package_chart(chart_dir, root)
    return build_index(root, base_url=base_url, created=created, extra=extra)
