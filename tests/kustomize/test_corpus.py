"""The embedded engine against `kubectl kustomize`: recorded outputs always, a live binary when present."""

from __future__ import annotations

import pytest

from chartkeeper.errors import InputError
from chartkeeper import yamlio
from chartkeeper.kustomize import Kustomization, apply_kustomization, sort_manifests
from chartkeeper.kustomize.binary import find_binary, run_binary
from chartkeeper.kustomize.loader import load_kustomization
from tests.kustomize.tools import needs_kustomize
from tests.kustomize.corpus import CORPUS, case_input, case_names, expected


def _embedded(name: str):
    try:
        result = apply_kustomization(case_input(name), CORPUS / name, engine="embedded")
    except InputError as exc:
        return None, str(exc)
    return sort_manifests(result.manifests), result.build_error


@pytest.mark.parametrize("name", case_names())
def test_embedded_matches_recorded_kubectl_output(name: str) -> None:
    want, want_error = expected(name)
    got, error = _embedded(name)
    if want is None:
        assert error, f"kubectl failed ({want_error}) but the embedded engine did not"
    else:
        assert error is None, error
        assert got == want


def test_corpus_covers_every_feature() -> None:
    names = set(case_names())
    assert len(names) >= 15
    assert {"images", "legacy", "selectors", "json-ops", "sm-ports", "sm-patch-delete", "sm-patch-replace"} <= names


@pytest.mark.tools
@needs_kustomize
@pytest.mark.parametrize("name", case_names())
def test_embedded_matches_live_kubectl(name: str) -> None:
    tool = find_binary()
    assert tool is not None
    try:
        kz = load_kustomization(CORPUS / name)
    except InputError:  # refused up front; kustomize must refuse it as well
        path = CORPUS / name / "kustomization.yaml"
        kz = Kustomization(path=path, directory=CORPUS / name, steps=(), raw=yamlio.load_file(path))
    real, real_error = run_binary(tool, case_input(name), kz)
    got, error = _embedded(name)
    if real is None:
        assert error, f"{tool.label} failed ({real_error}) but the embedded engine did not"
    else:
        assert error is None, error
        assert got == sort_manifests(real)
