"""Render a release of the tree as helmfile deploys it: its chart prepared once per run, its values,
then the kustomize patches its post-renderer applies. `images` lists what these objects pull, and the
upgrade analysis checks the tree's custom resources in them against NEW's CRDs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chartkeeper.helm.render import PreparedChart, prepare_chart
from chartkeeper.helmfile.select import chart_kind
from chartkeeper.kustomize import apply_kustomization, release_kustomization


class TreeRenderer:
    """Renders releases of one tree; close it (or use it as a context manager) to free the charts."""

    def __init__(self, settings: Any, lock: Any) -> None:
        self.settings, self.lock = settings, lock
        self._prepared: dict[Path, PreparedChart] = {}

    def chart(self, release: Any) -> PreparedChart:
        """The release's local chart, prepared on first use (every environment renders the same chart)."""
        chart = self._prepared.get(release.chart_path)
        if chart is None:
            chart = self._prepared[release.chart_path] = prepare_chart(
                release.chart_path, kube_version=self.settings.kube_version, api_versions=self.settings.api_versions)
        return chart

    def objects(self, release: Any, values: dict[str, Any]) -> list[dict[str, Any]]:
        """What the release deploys with `values`: its rendered objects (the chart's `crds/` files aside,
        Helm installs those apart) after its post-render patches."""
        ns = release.namespace or "default"
        objs = [m.obj for m in self.chart(release).render(values, release=release.name, namespace=ns).manifests
                if not m.is_crd_file]
        kind = chart_kind(release, self.lock, self.settings.root)
        kdir = release_kustomization(release, self.settings.path(self.settings.patches_dir),
                                     kind if kind not in ("custom", "unpinned") else None)
        if kdir is not None:
            objs = list(apply_kustomization(objs, kdir, root=self.settings.root, namespace=ns).manifests)
        return objs

    def close(self) -> None:
        for chart in self._prepared.values():
            chart.close()
        self._prepared.clear()

    def __enter__(self) -> "TreeRenderer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
