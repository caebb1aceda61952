"""Subcharts made offline: unpacked under charts/, `file://charts/<name>`, rendered by the real Helm engine."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from chartkeeper.errors import IntegrityError
from chartkeeper.vendoring import chartyaml
from chartkeeper.vendoring.offline import Dependency, Fetched, make_offline
from tests.support.charts import package_chart, write_chart

PARENT_CHART_YAML = """\
# The parent chart. Comments and layout must survive vendoring.
apiVersion: v2
name: parent
version: 2.0.0
appVersion: "9.9"
dependencies:
  - name: embedded          # shipped as charts/embedded-1.0.0.tgz
    version: "~1.0.0"
    repository: "https://charts.example.invalid/stable"
    condition: embedded.enabled
  - name: dirsub
    version: 0.3.0
    repository: oci://registry.example.invalid/charts   # shipped unpacked
  - name: missing
    repository: https://other.example.invalid/charts
    version: ">=3.0.0 <4.0.0"
    alias: fetched
  - {name: flowdep, version: 1.1.1, repository: "https://flow.example.invalid"}
"""


def _sub(parent: Path, name: str, version: str, text: str) -> Path:
    return write_chart(parent, name, version, values={"greeting": text},
                       templates={"cm.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\ndata:\n  greeting: {{{{ .Values.greeting | quote }}}}\n"})


def _parent(tmp_path: Path) -> tuple[Path, Path]:
    subs = tmp_path / "subs"
    embedded = _sub(subs, "embedded", "1.0.3", "from embedded")
    dirsub = _sub(subs, "dirsub", "0.3.0", "from dirsub")
    flow = _sub(subs, "flowdep", "1.1.1", "from flow")
    missing = _sub(subs, "missing", "3.2.1", "from the network")
    upstream = tmp_path / "upstream"
    missing_tgz = package_chart(missing, upstream)
    parent = write_chart(tmp_path / "work", "parent", "2.0.0", values={"embedded": {"enabled": True}},
                         templates={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-parent\n"})
    (parent / "Chart.yaml").write_text(PARENT_CHART_YAML)
    (parent / "charts").mkdir()
    package_chart(embedded, parent / "charts")
    package_chart(flow, parent / "charts")
    shutil.copytree(dirsub, parent / "charts" / "dirsub")
    deps = yaml.safe_load(PARENT_CHART_YAML)["dependencies"]
    locked = [{"name": "embedded", "repository": "https://charts.example.invalid/stable", "version": "1.0.3"},
              {"name": "dirsub", "repository": "oci://registry.example.invalid/charts", "version": "0.3.0"},
              {"name": "missing", "repository": "https://other.example.invalid/charts", "version": "3.2.1"},
              {"name": "flowdep", "repository": "https://flow.example.invalid", "version": "1.1.1"}]
    lock_text = yaml.safe_dump({"dependencies": locked, "digest": chartyaml.helm_lock_digest(deps, locked),
                                "generated": "2025-01-01T00:00:00Z"}, sort_keys=False)
    (parent / "Chart.lock").write_text(lock_text)
    return parent, missing_tgz


def _fetcher(missing_tgz: Path, calls: list[Dependency]):
    def fetch(dep: Dependency, where: str) -> Fetched:
        calls.append(dep)
        copy = missing_tgz.parent / "copy.tgz"
        shutil.copy(missing_tgz, copy)
        return Fetched(copy, "3.2.1", "sha256:" + hashlib.sha256(copy.read_bytes()).hexdigest(), dep.repository)
    return fetch


def test_make_offline_unpacks_fetches_and_rewrites_lines(tmp_path: Path) -> None:
    parent, missing_tgz = _parent(tmp_path)
    calls: list[Dependency] = []
    subs = make_offline(parent, fetch_missing=_fetcher(missing_tgz, calls))
    assert [c.name for c in calls] == ["missing"] and calls[0].locked_version == "3.2.1"
    assert sorted(p.name for p in (parent / "charts").iterdir()) == ["dirsub", "embedded", "flowdep", "missing"]
    by = {s.alias or s.name: s for s in subs}
    assert by["embedded"].version == "1.0.3" and by["embedded"].digest and by["embedded"].repository == "https://charts.example.invalid/stable"
    assert by["fetched"].name == "missing" and by["fetched"].version == "3.2.1" and by["fetched"].repository == "https://other.example.invalid/charts"
    assert by["dirsub"].digest is None
    text = (parent / "Chart.yaml").read_text()
    expected = (PARENT_CHART_YAML
                .replace('repository: "https://charts.example.invalid/stable"', "repository: file://charts/embedded")
                .replace("repository: oci://registry.example.invalid/charts   #", "repository: file://charts/dirsub   #")
                .replace("repository: https://other.example.invalid/charts", "repository: file://charts/missing")
                .replace('repository: "https://flow.example.invalid"', "repository: file://charts/flowdep"))
    assert text == expected  # only the repository values changed, comments and quoting elsewhere kept
    lock = yaml.safe_load((parent / "Chart.lock").read_text())
    assert {d["repository"] for d in lock["dependencies"]} == {f"file://charts/{n}" for n in ("embedded", "dirsub", "missing", "flowdep")}


def test_offline_chart_renders_and_builds_with_the_helm_engine(tmp_path: Path) -> None:
    helm_python = pytest.importorskip("helm_python")
    parent, missing_tgz = _parent(tmp_path)
    make_offline(parent, fetch_missing=_fetcher(missing_tgz, []))
    rendered = helm_python.Chart.load(str(parent)).render({"fetched": {"greeting": "overridden"}}, name="rel", namespace="ns")
    text = "\n".join(rendered.values())
    for needle in ("rel-parent", "from embedded", "from dirsub", "from flow", "overridden"):
        assert needle in text, needle
    # `helm dependency build` on the result: Chart.lock in sync (digest right), nothing fetched.
    copy = tmp_path / "copy"
    shutil.copytree(parent, copy)
    helm_python.dependency_build(str(copy))
    assert (copy / "charts" / "missing-3.2.1.tgz").is_file()  # packed from file://charts/missing


def test_missing_dependency_without_a_fetchable_repository_is_refused(tmp_path: Path) -> None:
    from chartkeeper.vendoring.stage import _dependency_fetcher
    from chartkeeper.settings import Settings

    chart = write_chart(tmp_path, "lonely", "1.0.0", dependencies=[{"name": "gone", "version": "1.0.0", "repository": "file://../gone"}])
    with pytest.raises(IntegrityError, match=r"lonely/charts/gone: missing from the archive and cannot be fetched"):
        make_offline(chart, fetch_missing=_dependency_fetcher(Settings(root=tmp_path), tmp_path, None))


def test_rewrite_inserts_missing_repository_and_keeps_crlf() -> None:
    text = "apiVersion: v2\r\nname: a\r\nversion: 1.0.0\r\ndependencies:\r\n- name: b\r\n  version: 1.0.0\r\n"
    new = chartyaml.rewrite_repositories(text, lambda i, d: f"file://charts/{d['name']}", "Chart.yaml")
    assert new == "apiVersion: v2\r\nname: a\r\nversion: 1.0.0\r\ndependencies:\r\n- name: b\r\n  repository: file://charts/b\r\n  version: 1.0.0\r\n"
