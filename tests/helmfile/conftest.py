"""Fixture helmfile trees and settings pointing at them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chartkeeper.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "helmfile"
REPO = Path(__file__).resolve().parents[2]


def tree_settings(root: Path, helmfile: str, lock: str | None = None) -> Settings:
    kw = {"root": root.resolve(), "helmfile_path": Path(helmfile)}
    if lock:
        kw["lock_path"] = Path(lock)
    return Settings(**kw)


@pytest.fixture
def astrago(tmp_path: Path) -> Settings:
    """A copy of the Astrago-style fixture (tests may edit it)."""
    dst = tmp_path / "astrago"
    shutil.copytree(FIXTURES / "astrago", dst)
    return tree_settings(dst, "helmfile/helmfile.yaml", "helmfile/charts/external/versions.lock")


@pytest.fixture
def layered(tmp_path: Path) -> Settings:
    dst = tmp_path / "layered"
    shutil.copytree(FIXTURES / "layered", dst)
    return tree_settings(dst, "helmfile.yaml.gotmpl")
