"""render_chart: the embedded Helm engine, pinned to the configured cluster version, and the helm binary."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chartkeeper.helm.render import KubeVersion, RenderError, prepare_chart, render_chart
from tests.support.charts import package_chart, write_chart

ROOT = Path(__file__).resolve().parents[1]

KV_TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-kv
  namespace: {{ .Release.Namespace }}
data:
  version: {{ .Capabilities.KubeVersion.Version | quote }}
  git: {{ $.Capabilities.KubeVersion.GitVersion | quote }}
  minor: {{ .Capabilities.KubeVersion.Minor | quote }}
  {{- if semverCompare ">=1.33-0" .Capabilities.KubeVersion.GitVersion }}
  api: new
  {{- else }}
  api: old
  {{- end }}
  fromValues: {{ tpl .Values.tplText . | quote }}
"""


def helm_binary() -> str | None:
    local = ROOT / ".tools" / "bin" / "helm"
    if local.exists():
        return str(local)
    return shutil.which("helm")


@pytest.fixture
def helm(monkeypatch: pytest.MonkeyPatch) -> str:
    binary = helm_binary()
    if binary is None:
        pytest.skip("no helm binary (scripts/install-tools.sh installs one)")
    monkeypatch.setenv("CHARTKEEPER_HELM", binary)
    return binary


def kv_chart(tmp_path: Path) -> Path:
    return write_chart(
        tmp_path, "kv", "1.0.0",
        values={"tplText": "k8s {{ .Capabilities.KubeVersion.Version }}"},
        templates={"cm.yaml": KV_TEMPLATE, "_helpers.tpl": '{{- define "kv.x" }}x{{ end }}', "NOTES.txt": "hello {{ .Release.Name }}"},
        crds={"crd.yaml": "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n"},
    )


def test_embedded_engine_renders_for_configured_kube_version(tmp_path: Path) -> None:
    chart = kv_chart(tmp_path)
    r = render_chart(chart, {}, release="rel", namespace="ns", kube_version="v1.31.2")
    assert r.engine == "embedded" and "helm-python-sdk" in r.engine_version
    cm = next(m for m in r.manifests if m.obj["kind"] == "ConfigMap")
    assert cm.source == "kv/templates/cm.yaml"
    assert cm.obj["data"] == {
        "version": "v1.31.2", "git": "v1.31.2", "minor": "31", "api": "old", "fromValues": "k8s v1.31.2",
    }
    assert cm.obj["metadata"]["namespace"] == "ns"
    assert any("pinned" in n and "v1.31.2" in n for n in r.notes)
    assert r.chart_notes == "hello rel"
    crd = [m for m in r.manifests if m.obj["kind"] == "CustomResourceDefinition"]
    assert len(crd) == 1 and crd[0].is_crd_file
    # the vendored chart itself is never touched
    assert "Capabilities.KubeVersion.Version" in (chart / "templates" / "cm.yaml").read_text()


def test_override_values_are_pinned_too(tmp_path: Path) -> None:
    chart = kv_chart(tmp_path)
    r = render_chart(chart, {"tplText": "{{ .Capabilities.KubeVersion.Minor }}"}, release="r", namespace="n", kube_version="1.34")
    cm = next(m for m in r.manifests if m.obj["kind"] == "ConfigMap")
    assert cm.obj["data"]["fromValues"] == "34" and cm.obj["data"]["api"] == "new"


def test_subchart_archive_templates_are_pinned(tmp_path: Path) -> None:
    sub = kv_chart(tmp_path / "src")
    parent = write_chart(tmp_path, "parent", "2.0.0", templates={"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"},
                         dependencies=[{"name": "kv", "version": "1.0.0"}])
    package_chart(sub, parent / "charts")
    r = render_chart(parent, {}, release="r", namespace="n", kube_version="v1.30.0")
    cm = next(m for m in r.manifests if m.obj["metadata"]["name"] == "r-kv")
    assert cm.obj["data"]["version"] == "v1.30.0"
    assert (parent / "charts" / "kv-1.0.0.tgz").exists()


def test_chart_without_kube_version_reads_renders_in_place(tmp_path: Path) -> None:
    chart = write_chart(tmp_path, "plain", "1.0.0", values={"n": 2},
                        templates={"d.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  n: {{ .Values.n | quote }}\n---\n# empty\n"})
    r = render_chart(chart, {"n": 5}, release="r", namespace="n", kube_version="v1.31.0")
    assert [m.obj["data"] for m in r.manifests] == [{"n": "5"}]
    assert r.notes == ()


@pytest.mark.parametrize("expr", ["$c.KubeVersion.Version", ".Capabilities.KubeVersion | quote"])
def test_unpinnable_reference_refused_by_embedded_engine(tmp_path: Path, expr: str) -> None:
    chart = write_chart(tmp_path, "var", "1.0.0", templates={
        "cm.yaml": "{{- $c := .Capabilities }}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  v: {{ %s }}\n" % expr})
    with pytest.raises(RenderError, match="cannot pin"):
        render_chart(chart, {}, release="r", namespace="n", kube_version="v1.31.0", engine="embedded")


def test_unpinnable_reference_falls_back_to_binary_and_says_so(tmp_path: Path, helm: str) -> None:
    chart = write_chart(tmp_path, "var", "1.0.0", templates={
        "cm.yaml": "{{- $c := .Capabilities }}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  v: {{ $c.KubeVersion.Version }}\n"})
    r = render_chart(chart, {}, release="r", namespace="n", kube_version="v1.31.0")
    assert r.engine == "helm" and r.engine_version.startswith("helm v")
    assert r.objects[0]["data"]["v"] == "v1.31.0"
    assert any("helm binary" in n for n in r.notes)


def test_unpinnable_reference_without_binary_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTKEEPER_HELM", str(tmp_path / "no-such-helm"))
    chart = write_chart(tmp_path, "var", "1.0.0", templates={
        "cm.yaml": "{{- $c := .Capabilities }}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  v: {{ $c.KubeVersion.Version }}\n"})
    with pytest.raises(RenderError, match="needs a `helm` binary"):
        render_chart(chart, {}, release="r", namespace="n", kube_version="v1.31.0")


@pytest.mark.tools
def test_embedded_engine_agrees_with_helm_template(tmp_path: Path, helm: str) -> None:
    chart = kv_chart(tmp_path)
    values = {"tplText": "plain"}
    a = render_chart(chart, values, release="rel", namespace="ns", kube_version="v1.29.3")
    b = render_chart(chart, values, release="rel", namespace="ns", kube_version="v1.29.3", engine="helm")
    assert b.engine == "helm"
    key = lambda m: (m.source, m.obj["kind"], m.obj["metadata"]["name"])  # noqa: E731
    assert sorted(((m.source, m.obj) for m in a.manifests), key=lambda t: str(t)) == sorted(
        ((m.source, m.obj) for m in b.manifests), key=lambda t: str(t))
    assert sorted(map(key, a.manifests)) == sorted(map(key, b.manifests))


def test_render_error_names_the_template(tmp_path: Path) -> None:
    chart = write_chart(tmp_path, "bad", "1.0.0", templates={"x.yaml": "a: {{ .Values.missing.deep }}\n"})
    with pytest.raises(RenderError, match="bad/templates/x.yaml"):
        render_chart(chart, {}, release="r", namespace="n", kube_version="v1.31.0")


def test_prepared_chart_renders_several_envs(tmp_path: Path) -> None:
    chart = kv_chart(tmp_path)
    with prepare_chart(chart, kube_version="v1.28.0") as p:
        a = p.render({"tplText": "a"}, release="one", namespace="n1")
        b = p.render({"tplText": "b"}, release="two", namespace="n2")
    assert {m.obj["metadata"]["name"] for m in a.manifests} >= {"one-kv"}
    assert next(m for m in b.manifests if m.obj["kind"] == "ConfigMap").obj["data"]["fromValues"] == "b"


def test_kube_version_parsing() -> None:
    assert KubeVersion.parse("1.31") == KubeVersion("v1.31.0", "1", "31")
    assert KubeVersion.parse("v1.30.2-eks") .version == "v1.30.2-eks"
    with pytest.raises(Exception, match="not a Kubernetes version"):
        KubeVersion.parse("latest")
