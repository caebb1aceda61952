"""CHARTKEEPER_KUSTOMIZE, the binary's version check, and one engine for both sides of a comparison."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from chartkeeper.errors import InputError
from chartkeeper.kustomize import apply_kustomization, apply_pair, select_engine
from chartkeeper.kustomize import binary as kbinary
from tests.kustomize.tools import needs_kubectl
from tests.support.charts import write_tree

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "op"},
    "spec": {"selector": {"matchLabels": {"app": "op", "tier": "x"}},
             "template": {"metadata": {"labels": {"app": "op", "tier": "x"}},
                          "spec": {"containers": [{"name": "op", "image": "nvcr.io/nvidia/op:1"}],
                                   "tolerations": [{"key": "a", "operator": "Exists"}]}}},
}


def _fake_kubectl(folder: Path, kustomize_version: str) -> None:
    """A stand-in for another vendor's kubectl build: only its `version --client` output matters here."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "kubectl"
    script.write_text(f"#!/bin/sh\necho 'Client Version: v1.24.0-vendor'\necho 'Kustomize Version: {kustomize_version}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    kbinary._probe.cache_clear()


def test_mode_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHARTKEEPER_KUSTOMIZE", "embedded")
    assert select_engine().label == "embedded"
    monkeypatch.setenv("CHARTKEEPER_KUSTOMIZE", "fast")
    with pytest.raises(InputError, match="CHARTKEEPER_KUSTOMIZE=fast"):
        select_engine()
    monkeypatch.setenv("CHARTKEEPER_KUSTOMIZE", "kustomize")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(InputError, match="no working `kustomize` on PATH"):
        select_engine()


def test_an_old_kustomize_is_refused_by_name_and_skipped_by_auto(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_kubectl(tmp_path / "bin", "v4.5.7")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("CHARTKEEPER_KUSTOMIZE", "kubectl")
    with pytest.raises(InputError, match=r"kubectl 1.24.0-vendor \(kustomize v4.5.7\): kustomize older than v5"):
        select_engine()
    monkeypatch.setenv("CHARTKEEPER_KUSTOMIZE", "auto")
    eng = select_engine()
    assert eng.binary is None and "kustomize v4.5.7" in (eng.note or "")
    write_tree(tmp_path / "k", {"kustomization.yaml": "images:\n- name: nvcr.io/nvidia/op\n  newTag: '2'\n"})
    result = apply_kustomization([DEPLOYMENT], tmp_path / "k")
    assert result.engine == "embedded" and "not used" in (result.note or "")
    kbinary._probe.cache_clear()


def test_klog_error_lines_are_reduced_to_the_error() -> None:
    line = ('E1201 15:19:18.119014   13396 run.go:72] "command failed" err="add operation does not apply: '
            'doc is missing path: \\"/metadata/labels/x\\": missing value"')
    assert kbinary._error_of(line + "\n", 1) == 'add operation does not apply: doc is missing path: "/metadata/labels/x": missing value'
    assert kbinary._error_of("# Warning: x\nerror: boom\n", 1) == "boom"
    assert kbinary._error_of("", 3) == "exit code 3"


BREAKS_ON_NEW = (
    "patches:\n"
    "- target: {kind: Deployment}\n"
    "  patch: |-\n"
    "    - {op: remove, path: /spec/template/spec/tolerations/0}\n"
)


@pytest.mark.tools
@needs_kubectl
def test_binary_failing_on_new_only_puts_both_sides_on_the_embedded_engine(tmp_path: Path) -> None:
    write_tree(tmp_path, {"kustomization.yaml": BREAKS_ON_NEW})
    new = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "template": {
        "metadata": DEPLOYMENT["spec"]["template"]["metadata"],
        "spec": {"containers": DEPLOYMENT["spec"]["template"]["spec"]["containers"]}}}}
    eng = select_engine("kubectl")
    assert eng.binary is not None and "kustomize v5" in eng.label
    r_old, r_new = apply_pair([DEPLOYMENT], [new], tmp_path, engine=eng, namespace="gpu")
    assert r_old.engine == r_new.engine == "embedded"
    assert r_old.note == r_new.note and "failed on NEW" in r_old.note and "both patched with the embedded engine" in r_old.note
    assert "missing value" not in r_old.note and "run.go" not in r_old.note  # the tool's own output stays out
    assert r_new.tool_error  # kept for logs and tests
    # both sides from one engine: the selector is the same mapping on both sides
    assert r_old.manifests[0]["spec"]["selector"] == r_new.manifests[0]["spec"]["selector"]
    # and when it works on both sides, both come from the binary
    ok_old, ok_new = apply_pair([DEPLOYMENT], [DEPLOYMENT], tmp_path, engine=eng)
    assert ok_old.engine == ok_new.engine == eng.label and ok_old.note is None
    assert os.listdir(tmp_path) == ["kustomization.yaml"]
