"""Overrides a template decides are never "can be dropped".

`repository: {{ .Values.offline.registry | default "nvcr.io" }}/nvidia` equals the chart default while the
repository's own environments leave `offline.registry` empty; at an air-gapped site that sets it, the override
is the whole point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chartkeeper.helmfile.templated import skeleton, templated_at
from tests.support.charts import build_index, package_chart, write_chart
from tests.support.harness import invoke_cli

HELMFILE = """\
environments:
  default:
    values:
      - environments/default.yaml
  customer-a:
    values:
      - environments/default.yaml
      - environments/customer-a.yaml
---
releases:
  - name: op
    namespace: op
    chart: ./charts/external/op-1.0.0
    skipDeps: true
    values:
      - values/op.yaml.gotmpl
"""

VALUES = """\
driver:
  repository: {{ .Values.offline.registry | default "nvcr.io" }}/nvidia
  pullPolicy: IfNotPresent
toolkit:
  repository: {{ .Values.offline.registry | default "nvcr.io" }}/nvidia/k8s
{{- if .Values.offline.enabled }}
validator:
  enabled: true
{{- end }}
"""


def _defaults(toolkit: str) -> dict:
    return {"driver": {"repository": "nvcr.io/nvidia", "pullPolicy": "IfNotPresent"},
            "toolkit": {"repository": toolkit}, "validator": {"enabled": True}}


@pytest.fixture
def deployment(tmp_path: Path, repo_server) -> Path:
    src = tmp_path / "src"
    for version, toolkit in (("1.0.0", "nvcr.io/nvidia/k8s"), ("1.1.0", "nvcr.io/nvidia/cloud-native")):
        chart = write_chart(src, "op", version, values=_defaults(toolkit), folder=f"op-{version}",
                            templates={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: op\n"
                                                  "data:\n  driver: {{ .Values.driver.repository | quote }}\n"})
        package_chart(chart, repo_server.root)
    build_index(repo_server.root)
    root = tmp_path / "deploy"
    hf = root / "helmfile"
    (hf / "environments").mkdir(parents=True)
    (hf / "values").mkdir()
    (hf / "helmfile.yaml").write_text(HELMFILE)
    # both environments of the repository leave the registry empty; the sites that set it are elsewhere
    (hf / "environments" / "default.yaml").write_text('offline:\n  registry: ""\n  enabled: true\n')
    (hf / "environments" / "customer-a.yaml").write_text("customer: a\n")
    (hf / "values" / "op.yaml.gotmpl").write_text(VALUES)
    proc = invoke_cli(["add", "op", "--repo", repo_server.url, "--version", "1.0.0"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root


def test_templated_override_equal_to_the_default_is_never_can_be_dropped(deployment: Path) -> None:
    proc = invoke_cli(["diff", "op", "1.1.0", "--format", "json"], cwd=deployment)
    assert proc.returncode == 0, proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    by_path = {}
    for f in findings:
        by_path.setdefault(f.get("path"), []).append(f)
    assert not any("can be dropped" in f["message"] for f in by_path.get("driver.repository", []))
    (driver,) = by_path["driver.repository"]  # the same in both environments: shown once
    assert driver["code"] == "values.templated-equals-default" and driver["severity"] == "info"
    assert "`offline.registry` is empty" in driver["message"]
    assert "keep the override" in driver["message"]
    assert 'default "nvcr.io"' in driver["message"] and "helmfile/values/op.yaml.gotmpl:2" in driver["message"]
    # a literal equal to the default can go; one inside an `if` on an environment value is templated
    (pull,) = by_path["driver.pullPolicy"]
    assert pull["code"] == "values.override-equals-default" and "can be dropped" in pull["message"]
    (validator,) = by_path["validator.enabled"]
    assert validator["code"] == "values.templated-equals-default" and "`offline.enabled` is true" in validator["message"]
    # the upstream default under a templated override changed: the finding says it is templated
    (toolkit,) = by_path["toolkit.repository"]
    assert toolkit["code"] == "values.default-changed-overridden"
    assert "templated" in toolkit["message"] and "`offline.registry` is empty" in toolkit["message"]
    text = invoke_cli(["diff", "op", "1.1.0"], cwd=deployment).stdout
    assert not [line for line in text.splitlines() if "driver.repository" in line and "can be dropped" in line]
    md = invoke_cli(["diff", "op", "1.1.0", "--format", "md"], cwd=deployment).stdout
    assert "driver.repository" in md
    assert not [line for line in md.splitlines() if "driver.repository" in line and "can be dropped" in line]


@pytest.mark.parametrize("text, path, reads", [
    ('a:\n  b: "{{ .Environment.Values.x.y }}"\n', ("a", "b"), ("x.y",)),
    ("a:\n  b: {{ .Values | get \"x.z\" \"d\" }}\n", ("a", "b"), ("x.z",)),
    ("a:\n{{ toYaml .StateValues.res | indent 2 }}\n", ("a", "cpu"), ("res",)),
    ("a:\n  {{- range $k, $v := .Values.m }}\n  {{ $k }}: {{ $v }}\n  {{- end }}\n", ("a", "k1"), ("m",)),
])
def test_every_form_of_template_is_seen(text: str, path: tuple, reads: tuple) -> None:
    t = templated_at(skeleton(text, "x.gotmpl"), path, "x.gotmpl")
    assert t is not None and t.reads == reads


def test_a_file_that_does_not_parse_as_a_skeleton_is_all_templated() -> None:
    text = "{{ if .Values.a }}a: 1{{ else }}\nb: [\n{{ end }}\n"
    assert templated_at(skeleton(text, "y.gotmpl"), ("a",), "y.gotmpl") is not None


def test_literals_in_a_gotmpl_file_are_literals() -> None:
    text = "a:\n  b: 1\n  c: {{ .Values.x }}\n"
    skel = skeleton(text, "z.gotmpl")
    assert templated_at(skel, ("a", "b"), "z.gotmpl") is None
    assert templated_at(skel, ("a", "c"), "z.gotmpl") is not None
