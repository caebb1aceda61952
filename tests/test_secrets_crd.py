"""A chart whose CRDs have credential-named properties (like flux2's and the Prometheus Operator's)
and a boolean under a `*Token` key: nothing of it is a secret value, so no finding path, JSON key
or `.diff` line carries a mask (issue 22)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.support.charts import build_index, package_chart, write_chart
from tests.support.deployment import make_deployment
from tests.support.harness import invoke_cli
from tests.support.httpserver import ChartRepoServer


def _crd(version: str) -> str:
    secret_ref = {"type": "object", "description": "Secret holding the bearer token.",
                  "properties": {"name": {"type": "string", "description": "Name of the Secret."},
                                 "key": {"type": "string", "description": "The key of the secret to select from."}},
                  "required": ["key"], "x-kubernetes-map-type": "atomic"}
    spec = {"type": "object", "properties": {
        "password": {"type": "string", "description": "Password for basic authentication, in clear."},
        "bearerTokenSecret": secret_ref,
        "certSecretRef": {"type": "object", "properties": {"name": {"type": "string"}}},
        "path": {"type": "string", "default": "/metrics/cadvisor"},
    }}
    if version == "1.1.0":
        spec["properties"]["tokenPath"] = {"type": "string", "description": "File holding the token."}
        spec["properties"]["password"]["description"] = "Password for basic authentication (deprecated)."
    return yaml.safe_dump({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "scrapers.monitoring.example.io"},
        "spec": {"group": "monitoring.example.io", "scope": "Namespaced",
                 "names": {"kind": "Scraper", "plural": "scrapers", "singular": "scraper", "listKind": "ScraperList"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}}}]},
    })


SERVICE_ACCOUNT = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
"""


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("crd-secrets")
    repo = tmp / "repo"
    repo.mkdir()
    for version in ("1.0.0", "1.1.0"):
        chart = write_chart(tmp / "src" / version, "scraper-operator", version,
                            values={"serviceAccount": {"automountServiceAccountToken": version == "1.0.0"},
                                    "auth": {"bearerTokenSecret": {"name": "prom-auth", "key": "token"}}},
                            templates={"serviceaccount.yaml": SERVICE_ACCOUNT},
                            crds={"scrapers.yaml": _crd(version)})
        package_chart(chart, repo)
    build_index(repo)
    with ChartRepoServer(repo) as server:
        yield make_deployment(tmp / "deploy", server.url, {"scraper-operator": "1.0.0"})


def test_credential_named_schema_properties_and_token_booleans_are_shown(deploy: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    md = invoke_cli(["diff", "scraper-operator", "1.1.0", "--format", "md", "--output", str(out)], cwd=deploy)
    assert md.returncode in (0, 1), md.stderr
    js = invoke_cli(["diff", "scraper-operator", "1.1.0", "--json"], cwd=deploy)
    assert js.returncode in (0, 1), js.stderr
    diff_files = list(tmp_path.glob("*.diff"))
    assert diff_files, "the rendered changes should reach a .diff file"
    texts = {"json": js.stdout, "markdown": out.read_text(), "diff": diff_files[0].read_text(), "stderr": md.stderr + js.stderr}
    for name, text in texts.items():
        assert "***" not in text, f"a mask in the {name} output: " + text[max(0, text.index('***') - 200):text.index('***') + 100]
    doc = json.loads(js.stdout)
    auto = [f for f in doc["findings"] if f.get("path") == "serviceAccount.automountServiceAccountToken"]
    assert auto and auto[0]["old"] is True and auto[0]["new"] is False
    # the CRD change is reported by the property names the schema really has
    assert "tokenPath" in texts["diff"] and "password" in texts["diff"]
