"""A chart's CRD files are parsed once per content and kept in the cache; nothing else is kept, a damaged
entry is parsed again, and the limits in force hold for what is read back."""

from __future__ import annotations

import hashlib
import marshal
import os
from pathlib import Path

import pytest

from chartkeeper import limits
from chartkeeper.errors import InputError
from chartkeeper.helm import crd_cache
from chartkeeper.helm.render import render_chart
from tests.support.charts import write_chart


def _big_crd(kind: str = "Widget", fields: int = 900) -> str:
    """A CRD file past crd_cache.MIN_CHARS, shaped like controller-gen's (deep, described properties)."""
    props = "".join(f"                field{i}:\n                  description: field {i} of the {kind}, kept as it was written\n"
                    f"                  type: string\n" for i in range(fields))
    return (f"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {kind.lower()}s.example.com\n"
            f"spec:\n  group: example.com\n  names: {{kind: {kind}, plural: {kind.lower()}s}}\n  scope: Namespaced\n"
            "  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n"
            "          type: object\n          properties:\n            spec:\n              type: object\n              properties:\n"
            + props)


def _chart(tmp_path: Path, crd: str, *, big_template: bool = False) -> Path:
    templates = {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata:\n  password: {{ .Values.password | quote }}\n"
                 + ("  filler: |\n" + "".join(f"    line {i} {{{{ .Values.password }}}}\n" for i in range(3000)) if big_template else "")}
    return write_chart(tmp_path, "app", "1.0.0", values={"password": "x"}, templates=templates, crds={"crd.yaml": crd})


def _render(chart: Path, values: dict | None = None) -> list[dict]:
    return [m.obj for m in render_chart(chart, values or {}, release="r", namespace="ns", kube_version="v1.31.0").manifests]


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_crd_file_is_parsed_once_and_read_back_the_same(tmp_path: Path) -> None:
    crd = _big_crd()
    assert len(crd) > crd_cache.MIN_CHARS
    chart = _chart(tmp_path, crd)
    plain = _render(chart)  # no cache in use: nothing written anywhere
    cache = tmp_path / "cache" / "parsed"
    crd_cache.use(cache)
    first = _render(chart)
    [entry] = _entries(cache)  # the CRD file only, never a rendered template (those hold our values)
    second = _render(chart)
    assert plain == first == second
    # the entry is what a render reads: an entry (well formed) holding other documents is what comes back
    magic = entry.read_bytes()[:len(b"chartkeeper-parsed-yaml 1\n")]
    docs = [dict(first[-1], metadata={"name": "from-the-entry"})]
    payload = marshal.dumps(docs)
    entry.write_bytes(magic + hashlib.sha256(payload).digest() + payload)
    assert _render(chart)[-1]["metadata"] == {"name": "from-the-entry"}


def test_rendered_templates_are_never_kept_even_when_big(tmp_path: Path) -> None:
    chart = _chart(tmp_path, "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: a.b}\n",
                   big_template=True)
    cache = tmp_path / "parsed"
    crd_cache.use(cache)
    objs = _render(chart, {"password": "s3cret-of-ours"})
    assert any("s3cret-of-ours" in str(o) for o in objs)
    assert _entries(cache) == []  # a small CRD file is parsed as it comes; the big template is ours


def test_a_damaged_or_foreign_entry_is_parsed_again_and_replaced(tmp_path: Path) -> None:
    chart = _chart(tmp_path, _big_crd())
    cache = tmp_path / "parsed"
    crd_cache.use(cache)
    want = _render(chart)
    [entry] = _entries(cache)
    good = entry.read_bytes()
    for bad in (good[:-10], good[:40] + bytes([good[40] ^ 1]) + good[41:], b"", b"not ours at all"):
        entry.write_bytes(bad)
        assert _render(chart) == want
        assert entry.read_bytes() == good  # parsed again and written again


def test_the_limits_in_force_hold_for_documents_read_back(tmp_path: Path) -> None:
    chart = _chart(tmp_path, _big_crd())
    crd_cache.use(tmp_path / "parsed")
    _render(chart)
    limits.configure(limits.Limits(yaml_nodes=500))
    try:
        with pytest.raises(InputError, match="yamlNodes"):
            _render(chart)
    finally:
        limits.configure(limits.Limits())


def test_an_unwritable_cache_costs_the_parse_only(tmp_path: Path) -> None:
    chart = _chart(tmp_path, _big_crd())
    blocker = tmp_path / "parsed"
    blocker.write_text("a file where the folder would be")
    crd_cache.use(blocker)
    assert _render(chart) == _render(chart)
    assert blocker.read_text() == "a file where the folder would be"


def test_the_folder_keeps_the_entries_read_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "parsed"
    crd_cache.use(cache)
    a, b, c = (_chart(tmp_path / k, _big_crd(k)) for k in ("Alpha", "Beta", "Gamma"))
    _render(a)
    [entry_a] = _entries(cache)
    monkeypatch.setattr(crd_cache, "MAX_BYTES", entry_a.stat().st_size * 2 + 100)
    _render(b)
    os.utime(entry_a, (1, 1))  # A read long ago
    [entry_b] = [e for e in _entries(cache) if e != entry_a]
    _render(c)  # three entries do not fit: A goes, B (read since) stays
    left = _entries(cache)
    assert len(left) == 2 and entry_a not in left and entry_b in left


def test_documents_a_cache_cannot_hold_are_parsed_every_time(tmp_path: Path) -> None:
    crd = _big_crd() + "          x-stamp: 2001-12-14t21:59:43.10-05:00\n"  # a YAML timestamp: a datetime
    chart = _chart(tmp_path, crd)
    crd_cache.use(tmp_path / "parsed")
    assert _render(chart) == _render(chart)
    assert _entries(tmp_path / "parsed") == []


def test_a_crd_file_that_does_not_parse_fails_every_render_naming_it(tmp_path: Path) -> None:
    from chartkeeper.helm.render import prepare_chart

    chart = _chart(tmp_path, _big_crd() + "          broken: [unclosed\n")
    crd_cache.use(tmp_path / "parsed")  # parsed on another thread: the error still reaches each render
    with prepare_chart(chart, kube_version="v1.31.0") as prepared:
        for _ in range(2):
            with pytest.raises(InputError, match=r"crd\.yaml: line \d+: invalid YAML"):
                prepared.render({}, release="r", namespace="ns")
    assert _entries(tmp_path / "parsed") == []


# -- megabytes of CRD files: parsed by a worker process ------------------------------------------------


def _big_chart(tmp_path: Path) -> Path:
    crds = {f"crd-{k}.yaml": _big_crd(k, fields=4000) for k in ("Alpha", "Beta", "Gamma")}
    assert sum(map(len, crds.values())) > crd_cache.WORKER_CHARS
    return write_chart(tmp_path, "big", "1.0.0", values={}, templates={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n"},
                       crds=crds)


def test_a_worker_process_parses_megabytes_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chart = _big_chart(tmp_path)
    monkeypatch.setattr(crd_cache, "WORKER_CHARS", 10**12)  # no worker: parsed here
    here = _render(chart)
    monkeypatch.undo()
    started = []
    real_popen = crd_cache.subprocess.Popen
    monkeypatch.setattr(crd_cache.subprocess, "Popen", lambda *a, **k: started.append(a) or real_popen(*a, **k))
    crd_cache.use(tmp_path / "parsed")
    assert _render(chart) == here
    assert len(started) == 1 and len(_entries(tmp_path / "parsed")) == 3  # one worker for the three files, kept
    assert _render(chart) == here and len(started) == 1  # then read from the cache


def test_when_no_worker_can_start_the_files_are_parsed_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chart = _big_chart(tmp_path)
    want = _render(chart)
    monkeypatch.setattr(crd_cache.sys, "executable", str(tmp_path / "no-such-python"))
    assert _render(chart) == want
    monkeypatch.setattr(crd_cache.sys, "executable", "/bin/false")  # starts, answers nothing
    assert _render(chart) == want


def test_a_parse_started_ahead_is_what_the_render_reads(tmp_path: Path) -> None:
    from chartkeeper.helm.render import parse_crds_ahead

    chart = _big_chart(tmp_path)
    want = _render(chart)
    parse_crds_ahead(chart)
    assert len(crd_cache._ahead) == 3
    assert _render(chart) == want
    assert crd_cache._ahead == {}  # taken by the render
