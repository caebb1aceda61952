"""Which kustomization a release gets: its helmfile wiring, `patches/<chart>/` only for an unwired vendored chart."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from chartkeeper import helmfile
from chartkeeper.kustomize import release_kustomization, wired_kustomizations
from chartkeeper.settings import load_settings
from tests.support.charts import write_tree

ROOT = Path(__file__).resolve().parents[2]


def _release(base: Path, renderer: str | None = None, *args: str) -> SimpleNamespace:
    return SimpleNamespace(post_renderer=renderer, post_renderer_args=args, base_dir=base)


def test_the_repository_tree_wires_gpu_operator_to_its_patch_folder() -> None:
    state = helmfile.load_state(load_settings(ROOT), "dev")
    release = state.release("gpu-operator")
    found = release_kustomization(release, ROOT / "patches", "gpu-operator")
    assert found is not None and found.resolve() == (ROOT / "patches" / "gpu-operator").resolve()


def test_wiring_wins_and_the_chart_folder_is_only_a_fallback_for_vendored_charts(tmp_path: Path) -> None:
    patches = tmp_path / "patches"
    write_tree(patches, {"gpu-operator/kustomization.yaml": "patches: []\n", "site-a/kustomization.yaml": "patches: []\n"})
    hf = tmp_path / "helmfile" / "releases"
    hf.mkdir(parents=True)
    wired = _release(hf, "../../patches/post-render.sh", "../../patches/site-a")
    assert release_kustomization(wired, patches, "gpu-operator") == hf / "../../patches/site-a"
    # a kustomization file passed instead of its folder
    by_file = _release(hf, "../../patches/post-render.sh", "--verbose", "../../patches/site-a/kustomization.yaml")
    assert wired_kustomizations(by_file) == [hf / "../../patches/site-a"]
    # a post-renderer that does something else: no patches, not the chart's folder
    assert release_kustomization(_release(hf, "./sign.sh", "--key", "k"), patches, "gpu-operator") is None
    # no post-renderer: the vendored chart's folder (lint reports it as not wired)
    assert release_kustomization(_release(hf), patches, "gpu-operator") == patches / "gpu-operator"
    # a local chart: its folder name proves nothing
    assert release_kustomization(_release(hf), patches, None) is None
