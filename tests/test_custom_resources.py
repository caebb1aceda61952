"""Custom resources of the deployment checked against NEW's CRDs (issue 23): `chartkeeper diff` on a real
helmfile tree whose other release, a custom chart, renders a custom resource of a CRD the upgrade changes.

NEW's `Widget` schema makes the existing `spec.size` required, renames `spec.colour` to `spec.color` (same
type and description), adds an optional `spec.backup` object with a required `schedule`, moves the storage
version from v1alpha1 to v1 (still serving v1alpha1), and requires `status.phase`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chartkeeper.analysis.crd_schema import Validator
from chartkeeper.analysis.crds import crd_changes, crd_findings
from chartkeeper.findings import Severity
from chartkeeper.helm.render import RenderedManifest
from tests.support.charts import build_index, package_chart, write_chart
from tests.support.harness import invoke_cli

COLOUR = {"type": "string", "description": "Paint of the widget."}


def _schema(new: bool) -> dict:
    spec: dict = {"type": "object", "properties": {
        "size": {"type": "integer"}, "mode": {"type": "string", "enum": ["fast", "slow"]},
        "port": {"x-kubernetes-int-or-string": True}, "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        ("color" if new else "colour"): COLOUR}}
    root: dict = {"type": "object", "properties": {"spec": spec, "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}
    if new:
        spec["required"] = ["size"]
        spec["properties"]["backup"] = {"type": "object", "required": ["schedule"], "properties": {"schedule": {"type": "string"}}}
        root["properties"]["status"]["required"] = ["phase"]
    return root


def _crd(new: bool) -> str:
    schema = {"openAPIV3Schema": _schema(new)}
    versions = [{"name": "v1alpha1", "served": True, "storage": not new, "schema": schema}]
    if new:
        versions.append({"name": "v1", "served": True, "storage": True, "schema": schema})
    return json.dumps({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                       "metadata": {"name": "widgets.example.com"},
                       "spec": {"group": "example.com", "scope": "Namespaced",
                                "names": {"kind": "Widget", "plural": "widgets"}, "versions": versions}})


OWN = """apiVersion: example.com/v1alpha1
kind: Widget
metadata:
  name: {{ .Release.Name }}-default
spec:
  size: 3
  mode: fast
  port: http
  extra: {anything: [1, 2]}
"""
APPS = """apiVersion: example.com/v1alpha1
kind: Widget
metadata:
  name: app-widget
spec:
  colour: blue
  mode: fast
  port: 8080
status:
  phase: 7
"""


def _operator(parent: Path, version: str, *, folder: str | None = None) -> Path:
    return write_chart(parent, "widget-operator", version, templates={"widget.yaml": OWN},
                       crds={"widgets.yaml": _crd(version != "1.0.0")}, folder=folder)


@pytest.fixture
def tree(tmp_path: Path, repo_server) -> Path:
    root = tmp_path / "site"
    ext = root / "helmfile" / "charts" / "external"
    _operator(ext, "1.0.0", folder="widget-operator-1.0.0")
    write_chart(root / "helmfile" / "charts" / "custom", "apps", "0.1.0", templates={"widget.yaml": APPS})
    # a third release whose chart has no Widget at all: not rendered for the check
    write_chart(root / "helmfile" / "charts" / "custom", "plain", "0.1.0",
                templates={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n"})
    package_chart(_operator(tmp_path / "upstream", "2.0.0"), repo_server.root)
    build_index(repo_server.root)
    (ext / "versions.lock").write_text(
        f"version: 1\ncharts:\n  - name: widget-operator\n    chart: widget-operator\n    repository: {repo_server.url}\n"
        "    version: 1.0.0\n")
    (root / "helmfile" / "helmfile.yaml").write_text(
        "releases:\n"
        "  - name: widgets\n    namespace: ops\n    chart: ./charts/external/widget-operator-1.0.0\n"
        "  - name: apps\n    namespace: team\n    chart: ./charts/custom/apps\n"
        "  - name: plain\n    namespace: team\n    chart: ./charts/custom/plain\n")
    (root / "chartkeeper.yaml").write_text("kubeVersion: v1.31.0\n")
    return root


def test_custom_resources_of_the_tree_checked_against_new(tree: Path) -> None:
    out = tree.parent / "report.json"
    proc = invoke_cli(["-C", str(tree), "diff", "widget-operator", "2.0.0", "--json", "--output", str(out)], cwd=tree)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    by: dict[str, list[dict]] = {}
    for f in data["findings"]:
        by.setdefault(f["code"], []).append(f)

    invalid = by["crd.resource-invalid"]
    breaking = [f for f in invalid if f["severity"] == "breaking"]
    # the newly required field our custom chart's Widget lacks: one breaking finding naming the resource and field
    (req,) = [f for f in breaking if f["details"]["problem"] == "required"]
    assert req["path"] == "example.com/Widget/team/app-widget" and req["details"]["field"] == "spec.size"
    assert "team/apps" in req["message"] and "`spec.size`" in req["message"] and req["action"]
    # the renamed field it still writes: dropped by the API server, with NEW's name for it
    (ren,) = [f for f in breaking if f["details"]["problem"] == "unknown"]
    assert ren["details"]["field"] == "spec.colour" and ren["details"]["renamedTo"] == "spec.color"
    assert "Rename `spec.colour`" in ren["action"]
    assert len(breaking) == 2 and all(f.get("introduced", True) for f in breaking)  # status (a wrong-typed `phase`, a new required `status.phase`) is never ours
    assert not any(f["details"]["field"].startswith("status") for f in invalid)
    (summary,) = by["crd.resources-checked"]
    assert summary["details"]["checked"] == 2 and summary["details"]["valid"] == 1  # the chart's own Widget passes
    assert "1 of 2 custom resource(s)" in summary["message"]

    (changed,) = by["crd.changed"]
    details = changed["details"]
    assert details["newRequired"] == ["v1alpha1: spec.size"]  # spec existed in OLD: counts
    assert details["renamed"] == ["v1alpha1: spec.colour -> spec.color"]
    # inside the new optional `backup` object, and under status: info, nothing existing must change
    assert details["newRequiredNested"] == ["v1alpha1: spec.backup.schedule", "v1alpha1: status.phase"]
    (crd,) = data["crds"]["changes"]
    assert crd["renamed"] == ["v1alpha1: spec.colour -> spec.color"]

    # storage moves v1alpha1 -> v1 with v1alpha1 still served: one action, its commands, and when
    (moved,) = by["crd.storage-version-changed"]
    assert moved["severity"] == "review" and (moved["old"], moved["new"]) == ("v1alpha1", "v1")
    steps = moved["details"]["steps"]
    assert steps[0].startswith("kubectl get widgets.example.com --all-namespaces -o json | kubectl replace -f -")
    assert any("storedVersions" in s and "[\"v1\"]" in s for s in steps)
    assert data["crds"]["laterSteps"] == steps
    acts = [a["text"] for a in data["actions"] if "storage version moves" in a["text"]]
    assert len(acts) == 1 and "before any later upgrade stops serving the old version" in acts[0]
    assert data["verdict"] == "breaking"

    md = tree.parent / "report.md"
    proc = invoke_cli(["-C", str(tree), "diff", "widget-operator", "2.0.0", "--format", "md", "--output", str(md)], cwd=tree)
    assert proc.returncode == 0, proc.stderr
    text = md.read_text()
    assert "After NEW's CRDs are applied" in text and steps[0] in text
    assert "Check our custom resources" not in text


def test_structural_rules_the_api_server_applies() -> None:
    v = Validator({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": True},
        "opt": {"type": "string", "nullable": True},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {"type": "string"}}},
        "list": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}},
        "ref": {"$ref": "http://127.0.0.1:9/never-fetched.json"},
        # required, but defaulted by the API server first (the GPU Operator's operator.defaultRuntime)
        "operator": {"type": "object", "required": ["runtime"],
                     "properties": {"runtime": {"type": "string", "default": "docker", "enum": ["docker", "crio"]}}}}}}})
    ok = {"apiVersion": "example.com/v1", "kind": "W", "metadata": {"name": "x", "anything": 1},
          "spec": {"port": "http", "opt": None, "free": {"a": "b", "kept": 1}, "list": [{"name": "n"}], "ref": 1,
                   "operator": {}},
          "status": {"whatever": True}}
    assert v.problems(ok) == []
    assert v.problems({"spec": {"port": 80.5}})[0].kind == "type"
    assert [p.kind for p in v.problems({"spec": {"operator": {"runtime": "podman"}}})] == ["enum"]
    bad = v.problems({"spec": {"list": [{"nam": "typo"}], "free": {"a": 1}}})
    assert [(p.field, p.kind) for p in bad] == [("spec.free.a", "type"), ("spec.list[0].nam", "unknown"),
                                                ("spec.list[0].name", "required")]


def test_required_fields_of_new_objects_and_status_leave_a_template_crd_info() -> None:
    old, new = json.loads(_crd(False)), json.loads(_crd(False))
    props = new["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    props["spec"]["properties"]["backup"] = {"type": "object", "required": ["schedule"], "properties": {"schedule": {"type": "string"}}}
    props["status"]["required"] = ["phase"]
    a, b = RenderedManifest("op/templates/crd.yaml", old), RenderedManifest("op/templates/crd.yaml", new)
    (change,) = crd_changes([a], [b])
    assert change.new_required == () and change.new_required_nested == ("v1alpha1: spec.backup.schedule", "v1alpha1: status.phase")
    (f,) = crd_findings([change])
    assert f.severity is Severity.INFO and "2 required field(s) only under what NEW adds, or under status" in f.message
    # the same field required where its parent exists today: review
    props["spec"]["required"] = ["size"]
    (change,) = crd_changes([a], [RenderedManifest("op/templates/crd.yaml", new)])
    assert change.new_required == ("v1alpha1: spec.size",) and crd_findings([change])[0].severity is Severity.REVIEW


def test_a_crd_schema_is_not_masked_nor_its_words_registered_as_secrets() -> None:
    from chartkeeper import masking
    from chartkeeper.analysis.secrets import mask_manifest

    crd = json.loads(_crd(True))
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["password"] = {
        "type": "object", "description": "Reference to the secret holding it."}
    masking.forget_secrets()
    assert mask_manifest(crd) is crd
    assert masking.redact("type: object, Reference to the secret holding it.") == "type: object, Reference to the secret holding it."
    # a custom resource is masked as before: its `password` value is ours
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"password": "hunter2-widget"}}
    assert mask_manifest(widget)["spec"]["password"] == masking.MASK
    masking.forget_secrets()
