"""Is a kustomize binary available to the differential tests (PATH or .tools/bin)?"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.kustomize.conftest import TOOLS


def have(name: str) -> bool:
    return shutil.which(name) is not None or os.access(TOOLS / name, os.X_OK)


needs_kubectl = pytest.mark.skipif(not have("kubectl"), reason="no kubectl (scripts/install-tools.sh installs it)")
needs_kustomize = pytest.mark.skipif(
    not (have("kubectl") or have("kustomize")), reason="no kubectl/kustomize (scripts/install-tools.sh installs kubectl)"
)
