"""render_chart: the embedded Helm engine at the configured cluster version and API versions, and the helm binary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

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
    assert r.notes == () and r.kube_version == "v1.31.2"
    assert r.chart_notes == "hello rel"
    crd = [m for m in r.manifests if m.obj["kind"] == "CustomResourceDefinition"]
    assert len(crd) == 1 and crd[0].is_crd_file
    # the vendored chart itself is never touched
    assert "Capabilities.KubeVersion.Version" in (chart / "templates" / "cm.yaml").read_text()


def test_override_values_see_the_configured_version_too(tmp_path: Path) -> None:
    chart = kv_chart(tmp_path)
    r = render_chart(chart, {"tplText": "{{ .Capabilities.KubeVersion.Minor }}"}, release="r", namespace="n", kube_version="1.34")
    cm = next(m for m in r.manifests if m.obj["kind"] == "ConfigMap")
    assert cm.obj["data"]["fromValues"] == "34" and cm.obj["data"]["api"] == "new"


def test_subchart_archive_templates_see_the_configured_version(tmp_path: Path) -> None:
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


@pytest.mark.parametrize("expr", [
    "$c.KubeVersion.Version",  # the object kept in a variable
    "default .Capabilities.KubeVersion.Version .Values.kubeVersionOverride",  # kube-prometheus-stack, Harbor
    ".Capabilities.KubeVersion | quote",
])
def test_every_form_of_reading_the_version_renders_embedded_without_helm(
        tmp_path: Path, expr: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTKEEPER_HELM", str(tmp_path / "no-such-helm"))
    monkeypatch.setenv("PATH", str(tmp_path))
    chart = write_chart(tmp_path, "var", "1.0.0", templates={
        "cm.yaml": "{{- $c := .Capabilities }}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  v: {{ %s }}\n" % expr})
    r = render_chart(chart, {}, release="r", namespace="n", kube_version="v1.27.4", engine="embedded")
    assert r.engine == "embedded"
    assert r.objects[0]["data"]["v"] in ("v1.27.4", "{v1.27.4 v1.27.4 1 27}")  # piped, the object prints as a struct


GATED_HELPERS = """\
{{- define "gated.kubeVersion" -}}
{{- default .Capabilities.KubeVersion.Version .Values.kubeVersionOverride -}}
{{- end -}}
{{- define "gated.ingress.apiVersion" -}}
{{- if semverCompare ">=1.19-0" (include "gated.kubeVersion" .) -}}networking.k8s.io/v1
{{- else -}}networking.k8s.io/v1beta1{{- end -}}
{{- end -}}
{{- define "gated.pdb.apiVersion" -}}
{{- if semverCompare ">=1.21-0" (include "gated.kubeVersion" .) -}}policy/v1
{{- else -}}policy/v1beta1{{- end -}}
{{- end -}}
{{- define "gated.cronjob.apiVersion" -}}
{{- if semverCompare ">=1.21-0" (include "gated.kubeVersion" .) -}}batch/v1
{{- else -}}batch/v1beta1{{- end -}}
{{- end -}}
"""
GATED_TEMPLATES = {
    "_helpers.tpl": GATED_HELPERS,
    "ingress.yaml": "apiVersion: {{ include \"gated.ingress.apiVersion\" . }}\nkind: Ingress\nmetadata:\n  name: web\n",
    "pdb.yaml": "apiVersion: {{ include \"gated.pdb.apiVersion\" . }}\nkind: PodDisruptionBudget\nmetadata:\n  name: web\n",
    "cronjob.yaml": "apiVersion: {{ include \"gated.cronjob.apiVersion\" . }}\nkind: CronJob\nmetadata:\n  name: web\n",
    "servicemonitor.yaml": (
        "{{- if .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1/ServiceMonitor\" }}\n"
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: web\n{{- end }}\n"
    ),
}
GATED_EXPECTED = {
    "v1.20.15": {"Ingress": "networking.k8s.io/v1", "PodDisruptionBudget": "policy/v1beta1", "CronJob": "batch/v1beta1"},
    "v1.31.0": {"Ingress": "networking.k8s.io/v1", "PodDisruptionBudget": "policy/v1", "CronJob": "batch/v1"},
}


def gated_chart(parent: Path) -> Path:
    return write_chart(parent, "gated", "1.0.0", values={"kubeVersionOverride": ""}, templates=GATED_TEMPLATES)


@pytest.mark.parametrize("kube_version", sorted(GATED_EXPECTED))
def test_helper_gated_api_versions_follow_the_configured_cluster(
        tmp_path: Path, kube_version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTKEEPER_HELM", str(tmp_path / "no-such-helm"))  # no helm anywhere
    r = render_chart(gated_chart(tmp_path), {}, release="r", namespace="n", kube_version=kube_version)
    assert {o["kind"]: o["apiVersion"] for o in r.objects} == GATED_EXPECTED[kube_version]
    # extra API versions the site's cluster serves (an operator installed outside the deployment)
    r = render_chart(gated_chart(tmp_path), {}, release="r", namespace="n", kube_version=kube_version,
                     api_versions=["monitoring.coreos.com/v1/ServiceMonitor"])
    assert {o["kind"]: o["apiVersion"] for o in r.objects} == {
        **GATED_EXPECTED[kube_version], "ServiceMonitor": "monitoring.coreos.com/v1"}


def test_sdk_still_honours_the_cluster_version_option(tmp_path: Path) -> None:
    """Fails loudly when a helm-python-sdk release stops taking `kube_version`/`api_versions` (see pyproject pins)."""
    import helm_python
    from helm_python import _native

    from chartkeeper.helm.render import sdk_render

    chart = helm_python.Chart.load(kv_chart(tmp_path))
    try:
        seen = {}
        for kv in ("v1.20.0", "v1.35.1"):
            out = sdk_render(chart, {"tplText": "t"}, name="r", namespace="n", is_install=True, kube_version=kv,
                             api_versions=["example.com/v1alpha1"])
            seen[kv] = yaml.safe_load(out["kv/templates/cm.yaml"])["data"]
        assert seen["v1.20.0"]["version"] == "v1.20.0" and seen["v1.20.0"]["api"] == "old"
        assert seen["v1.35.1"]["version"] == "v1.35.1" and seen["v1.35.1"]["api"] == "new"
        # and an option it does not know is refused by name (what sdk_render relies on to fail loudly)
        with pytest.raises(helm_python.HelmError, match="unknown field"):
            _native.call_string("helm_render", chart._raw(), None, json.dumps({"name": "r", "kube_versionx": "v1.20.0"}))
    finally:
        chart.close()


def test_api_versions_are_checked(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="is not an API version"):
        render_chart(gated_chart(tmp_path), {}, release="r", namespace="n", kube_version="v1.31.0", api_versions=["not an api"])


@pytest.mark.tools
@pytest.mark.parametrize("kube_version", sorted(GATED_EXPECTED))
def test_gated_chart_agrees_with_helm_template(tmp_path: Path, helm: str, kube_version: str) -> None:
    chart = gated_chart(tmp_path)
    apis = ["monitoring.coreos.com/v1/ServiceMonitor"]
    a = render_chart(chart, {}, release="rel", namespace="ns", kube_version=kube_version, api_versions=apis)
    b = render_chart(chart, {}, release="rel", namespace="ns", kube_version=kube_version, api_versions=apis, engine="helm")
    assert (a.engine, b.engine) == ("embedded", "helm")
    assert sorted(((m.source, m.obj) for m in a.manifests), key=str) == sorted(((m.source, m.obj) for m in b.manifests), key=str)
    assert {o["kind"]: o["apiVersion"] for o in b.objects} == {**GATED_EXPECTED[kube_version], "ServiceMonitor": "monitoring.coreos.com/v1"}


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
