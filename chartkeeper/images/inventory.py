"""Every image the deployment pulls: each active release of each environment rendered (with its kustomize
post-render patches), its images extracted, then de-duplicated with the releases and sources of each.

A chart is prepared once and rendered once per release and environment (the embedded engine at the
configured `kubeVersion`). A release whose chart is not a local folder (fetched at deploy time) cannot be
rendered here: it is named in the notes, never silently left out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

from chartkeeper import helmfile
from chartkeeper.analysis.deployed import TreeRenderer
from chartkeeper.analysis.images import Extraction, InvalidImage, extract
from chartkeeper.errors import ChartkeeperError
from chartkeeper.helmfile.select import chart_kind, lock_of, releases_matching
from chartkeeper.settings import Settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImageUse:
    """One image of the deployment."""

    image: str  # normalised reference, as rendered
    mirror: str  # where the site keeps it (chartkeeper.yaml `images:`), else the image itself
    releases: tuple[str, ...]  # "<env>/<namespace>/<release>"
    environments: tuple[str, ...]
    sources: tuple[str, ...]  # "Deployment/x containers[y]", "ClusterPolicy/cluster-policy spec.driver"
    notes: tuple[str, ...] = ()
    enabled: bool = True  # False: only named by components marked `enabled: false` (--all-components)
    present: bool | None = None  # --check: is `mirror` in the site's registry (None: not checked or unknown)
    error: str | None = None  # --check: why the registry could not tell

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"image": self.image, "mirror": self.mirror, "present": self.present,
                             "releases": list(self.releases), "environments": list(self.environments),
                             "sources": list(self.sources)}
        if self.notes:
            d["notes"] = list(self.notes)
        if not self.enabled:
            d["enabled"] = False
        if self.error:
            d["error"] = self.error
        return d


@dataclass(frozen=True)
class InvalidUse:
    env: str
    release: str
    invalid: InvalidImage

    def to_json(self) -> dict[str, str]:
        return {"environment": self.env, "release": self.release, **self.invalid.to_json()}


@dataclass(frozen=True)
class Inventory:
    images: tuple[ImageUse, ...]
    invalid: tuple[InvalidUse, ...] = ()
    notes: tuple[str, ...] = ()
    renders: int = 0
    render_seconds: float = 0.0  # Helm engine and kustomize
    extract_seconds: float = 0.0  # the image extractor alone
    errors: tuple[str, ...] = field(default=())  # releases that did not render


def build_inventory(
    settings: Settings,
    *,
    envs: Iterable[str] = (),
    charts: Iterable[str] = (),
    all_components: bool = False,
    progress: Progress | None = None,
) -> Inventory:
    say = progress or (lambda _m: None)
    wanted = helmfile.wanted_environments(settings, envs)
    lock = lock_of(settings)
    names = list(dict.fromkeys(charts))
    per_release: list[tuple[str, str, Extraction]] = []
    notes: list[str] = []
    errors: list[str] = []
    renders = 0
    t_render = t_extract = 0.0
    with TreeRenderer(settings, lock) as tree:
        for env in wanted:
            state = helmfile.load_state(settings, env)
            if names:
                chosen: list[Any] = []
                for n in names:
                    chosen += [r for r in releases_matching(state, lock, n) if r not in chosen]
            else:
                chosen = list(state.releases)
            for rel in chosen:
                rid = f"{env}/{rel.id}"
                if not rel.active:
                    continue
                if rel.chart_path is None:
                    notes.append(f"{rid}: chart {rel.chart} is not a local folder; its images are not listed")
                    continue
                kind = chart_kind(rel, lock, settings.root)
                if not (rel.chart_path / "Chart.yaml").is_file():
                    hint = " (run `chartkeeper sync` to restore the vendored charts)" if kind not in ("custom", "unpinned") else ""
                    errors.append(f"{rid}: {state.rel(rel.chart_path)} is not a chart folder{hint}")
                    continue
                say(f"{env}: rendering {rel.id}")
                t0 = time.perf_counter()
                try:
                    values = dict(helmfile.effective_values(state, rel).values or {})
                    objs = tree.objects(rel, values)
                except ChartkeeperError as exc:
                    errors.append(f"{rid}: does not render: {exc.message}")
                    continue
                renders += 1
                t1 = time.perf_counter()
                per_release.append((env, rid, extract(objs, os_suffixes=settings.driver_os_suffixes)))
                t_extract += time.perf_counter() - t1
                t_render += t1 - t0
    return _aggregate(settings, per_release, all_components=all_components, notes=notes, errors=errors,
                      renders=renders, render_seconds=t_render, extract_seconds=t_extract)


def _aggregate(settings: Settings, per_release: list[tuple[str, str, Extraction]], *, all_components: bool,
               notes: list[str], errors: list[str], renders: int, render_seconds: float, extract_seconds: float) -> Inventory:
    acc: dict[str, dict[str, Any]] = {}
    invalid: list[InvalidUse] = []
    for env, rid, ex in per_release:
        found = list(ex.images) + (list(ex.disabled) if all_components else [])
        for f in found:
            a = acc.setdefault(f.image, {"releases": [], "envs": [], "sources": [], "notes": [], "enabled": False})
            for key, val in (("releases", rid), ("envs", env), ("sources", f.source)):
                if val not in a[key]:
                    a[key].append(val)
            for n in f.notes:
                if n not in a["notes"]:
                    a["notes"].append(n)
            a["enabled"] = a["enabled"] or f.enabled
        seen = {(i.invalid.resource, i.invalid.field, i.invalid.value) for i in invalid if i.release == rid}
        for bad in ex.invalid:
            if (bad.resource, bad.field, bad.value) not in seen:
                invalid.append(InvalidUse(env, rid, bad))
    images = tuple(
        ImageUse(img, settings.image_mirror_of(img), tuple(a["releases"]), tuple(a["envs"]), tuple(sorted(a["sources"])),
                 tuple(a["notes"]), a["enabled"])
        for img, a in sorted(acc.items())
    )
    return Inventory(images, tuple(invalid), tuple(notes), renders, render_seconds, extract_seconds, tuple(errors))


def with_presence(inv: Inventory, presence: dict[str, Any]) -> Inventory:
    """The inventory with `present`/`error` filled from `sources.registry.check_images` (keyed by mirror)."""
    out = []
    for u in inv.images:
        p = presence.get(u.mirror)
        out.append(replace(u, present=None if p is None else p.present, error=None if p is None else p.error))
    return replace(inv, images=tuple(out))
