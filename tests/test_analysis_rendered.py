"""Rendered analysis and the report, end to end on two hand-built chart versions (real Helm engine)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from chartkeeper.findings import Severity
from chartkeeper.analysis.report import images_txt, render_diff, render_json, render_markdown, render_text, to_json
from chartkeeper.analysis.upgrade import ReleaseInput, analyze_pair
from chartkeeper.sources.base import ChartRelease
from chartkeeper.versions import ChartVersion
from tests.support.charts import write_chart

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app: {{ .Values.selectorLabel }}
  template:
    metadata:
      labels:
        app: {{ .Values.selectorLabel }}
    spec:
      containers:
        - name: main
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        {{- if .Values.sidecar.enabled }}
        - name: sidecar
          image: {{ .Values.sidecar.image }}
        {{- end }}
"""
SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-auth
stringData:
  password: {{ .Values.auth.password | quote }}
"""
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-old\ndata:\n  a: b\n"
SA = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ .Release.Name }}\n"
PDB = "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  minAvailable: 1\n"
FLOW = "apiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: FlowSchema\nmetadata:\n  name: {{ .Release.Name }}\n"


def crd(versions: list[tuple[str, bool, bool]], required: list[str]) -> str:
    vs = []
    for name, served, storage in versions:
        vs.append({"name": name, "served": served, "storage": storage, "schema": {"openAPIV3Schema": {
            "type": "object", "properties": {"spec": {"type": "object", "required": required,
                                                      "properties": {k: {"type": "string"} for k in ["size", "mode", *required]}}}}}})
    doc = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced", "versions": vs}}
    return json.dumps(doc)


def chart_pair(tmp_path: Path) -> tuple[Path, Path]:
    sub1 = write_chart(tmp_path / "s1", "redis", "17.0.0", values={"enabled": True}, templates={})
    sub2 = write_chart(tmp_path / "s2", "redis", "18.1.0", values={"enabled": True}, templates={})
    base_values = {"replicas": 1, "selectorLabel": "demo", "image": {"repository": "registry.example/demo", "tag": "1.0"},
                   "sidecar": {"enabled": False, "image": "registry.example/side:1"}, "auth": {"password": "default-pw"}}
    old = write_chart(tmp_path / "old", "demo", "1.0.0", app_version="1.0", values=base_values,
                      templates={"deploy.yaml": DEPLOY, "secret.yaml": SECRET, "cm.yaml": CONFIGMAP},
                      crds={"widgets.yaml": crd([("v1alpha1", True, True)], [])},
                      dependencies=[{"name": "redis", "version": "17.0.0"}], subcharts=[sub1])
    new_values = dict(base_values, image={"repository": "registry.example/demo", "tag": "2.0"},
                      sidecar={"enabled": True, "image": "registry.example/side:1"}, selectorLabel="demo-v2")
    new = write_chart(tmp_path / "new", "demo", "2.0.0", app_version="2.0", values=new_values,
                      templates={"deploy.yaml": DEPLOY, "secret.yaml": SECRET.replace("quote", "printf \"%s-v2\"") + "  user: admin\n", "sa.yaml": SA, "pdb.yaml": PDB, "flow.yaml": FLOW},
                      crds={"widgets.yaml": crd([("v1alpha1", False, False), ("v1beta1", True, True)], ["owner"])},
                      dependencies=[{"name": "redis", "version": "18.1.0"}], subcharts=[sub2],
                      chart_extra={"kubeVersion": ">=1.33.0-0"},
                      files={"CHANGELOG.md": "# Changelog\n\n## 2.0.0\n\n- Breaking: selector label changed\n\n## 1.5.0\n\n- sidecar\n\n## 1.0.0\n\n- first\n",
                             "README.md": "# demo\n\n## Upgrading\n\n### To 2.0\n\nDelete the Deployment first.\n\n## Other\n\nx\n"})
    return old, new


def upstream_releases() -> list[ChartRelease]:
    def rel(v: str, changes: str | None) -> ChartRelease:
        ann = (("artifacthub.io/changes", changes),) if changes else ()
        return ChartRelease("demo", ChartVersion.parse(v), annotations=ann)

    return [rel("1.0.0", "- kind: added\n  description: first\n"),
            rel("1.5.0", "- kind: added\n  description: optional sidecar\n"),
            rel("2.0.0", "- kind: changed\n  description: new selector label\n- plain entry\n")]


@pytest.fixture
def report(tmp_path: Path):
    old, new = chart_pair(tmp_path)
    rels = [ReleaseInput("dev", "demo", "apps", {"auth": {"password": "dev-secret-1"}}, values_files=("values/dev.yaml",)),
            ReleaseInput("prod", "demo", "apps", {"auth": {"password": "prod-secret-1"}, "replicas": 3})]
    return analyze_pair(old, new, rels, chart="demo", kube_version="v1.31.0", repository="https://charts.example/stable",
                        upstream_releases=upstream_releases(), crd_folder="helmfile/charts/external/demo-2.0.0")


def by_code(report, code):
    return [f for f in report.findings if f.code == code]


def test_manifest_diff_added_removed_changed(report) -> None:
    dev = next(r for r in report.releases if r.env == "dev")
    d = dev.manifest_diff
    assert {str(k) for k in d.added} >= {"core/ServiceAccount/apps/demo", "policy/PodDisruptionBudget/apps/demo"}
    assert [str(k) for k in d.removed] == ["core/ConfigMap/apps/demo-old"]
    changed = {str(c.key): c for c in d.changed}
    assert "apps/Deployment/apps/demo" in changed
    assert "+        image: registry.example/demo:2.0" in changed["apps/Deployment/apps/demo"].diff
    rem = by_code(report, "manifest.removed")
    assert len(rem) == 1 and rem[0].env is None and rem[0].severity is Severity.REVIEW  # same in both envs: shown once
    sel = [f for f in by_code(report, "manifest.changed") if f.path == "apps/Deployment/apps/demo"]
    assert sel and sel[0].severity is Severity.BREAKING and "selector" in sel[0].message


def test_images_old_new_and_to_mirror(report) -> None:
    assert report.images_to_mirror == ("registry.example/demo:2.0", "registry.example/side:1")
    f = by_code(report, "images.new")
    assert f and dict(f[0].details)["images"] == ["registry.example/demo:2.0", "registry.example/side:1"]
    assert images_txt(report) == "registry.example/demo:2.0\nregistry.example/side:1\n"
    assert dict(by_code(report, "images.dropped")[0].details)["images"] == ["registry.example/demo:1.0"]


def test_crd_changes_and_the_manual_step(report) -> None:
    (c,) = report.crd_changes
    assert c.from_crds_dir and c.versions_added == ("v1beta1",) and c.storage_old == "v1alpha1" and c.storage_new == "v1beta1"
    assert c.served_changes == ("v1alpha1: served True -> False",) and c.new_required == ("v1alpha1: spec.owner", "v1beta1: spec.owner")[:1]
    # v1alpha1 was the storage version and NEW stops serving it: migrate the stored objects, then apply
    assert c.storage_version_removed == "v1alpha1"
    (gone,) = by_code(report, "crd.storage-version-removed")
    assert gone.severity is Severity.BREAKING and gone.old == "v1alpha1" and gone.new == "v1beta1" and gone.action
    assert any("status.storedVersions" in s for s in dict(gone.details)["steps"])
    assert report.crd_steps[-1] == "kubectl apply --server-side --force-conflicts -f helmfile/charts/external/demo-2.0.0/crds/"
    assert "storedVersions" in report.crd_steps[-2] and len(report.crd_steps) == 5
    # one change, one finding: crd.changed keeps what else changed, not the storage version again
    f = by_code(report, "crd.changed")[0]
    assert f.severity is Severity.REVIEW and "Helm never upgrades" in f.message and "v1alpha1: served" not in f.message


def test_kube_compat(report) -> None:
    (k,) = by_code(report, "kube.version-unsupported")
    assert k.severity is Severity.BREAKING and k.new == ">=1.33.0-0" and k.ours == "v1.31.0"
    (rm,) = by_code(report, "kube.api-removed")
    assert rm.path == "policy/v1beta1/PodDisruptionBudget" and rm.suggestion == "policy/v1" and rm.env is None
    (dep,) = by_code(report, "kube.api-deprecated")
    assert dep.path == "flowcontrol.apiserver.k8s.io/v1beta3/FlowSchema" and dep.severity is Severity.REVIEW


def test_chart_metadata_and_upstream_notes(report) -> None:
    (sub,) = by_code(report, "chart.subchart-version")
    assert (sub.old, sub.new, sub.severity) == ("17.0.0", "18.1.0", Severity.REVIEW)
    assert by_code(report, "chart.app-version")[0].new == "2.0"
    assert [(n.version, n.kind, n.text) for n in report.upstream_notes] == [
        ("2.0.0", "changed", "new selector label"), ("2.0.0", "", "plain entry"), ("1.5.0", "added", "optional sidecar")]
    files = dict(report.changelog)
    assert "## 2.0.0" in files["CHANGELOG.md"] and "## 1.5.0" in files["CHANGELOG.md"] and "first" not in files["CHANGELOG.md"]
    assert "Delete the Deployment first." in files["README.md"] and "Other" not in files["README.md"]


def test_inherited_default_change_per_env(report) -> None:
    # prod overrides replicas, dev inherits the sidecar flip: both envs inherit it -> shown once
    flips = [f for f in by_code(report, "values.default-changed") if f.path == "sidecar.enabled"]
    assert len(flips) == 1 and flips[0].env is None and flips[0].severity is Severity.REVIEW


def test_markdown_report_content(report) -> None:
    md = render_markdown(report, diff_file="1.0.0-to-2.0.0.diff")
    assert md.startswith("# Upgrade report: demo 1.0.0 → 2.0.0\n")
    assert "**Verdict:** 🔴 **breaking**" in md
    # actions first, then breaking before review, info collapsed
    assert md.index("## Before merging") < md.index("### 🔴 Breaking") < md.index("### 🟠 Review") < md.index("<details><summary>⚪ Info")
    # prod's replicas override renders the same in OLD and NEW: both environments are reported once
    assert "### dev, prod — release `demo` in namespace `apps`" in md and "### prod" not in md
    assert "```text\nregistry.example/demo:2.0\nregistry.example/side:1\n```" in md
    assert "kubectl apply --server-side --force-conflicts -f helmfile/charts/external/demo-2.0.0/crds/" in md
    assert "[changed] new selector label" in md
    # per-resource path-level edits, the unified diff only in the file
    assert "- `apps/Deployment/apps/demo`" in md and "`spec.template.spec.containers[main].image`: `registry.example/demo:1.0` → `registry.example/demo:2.0`" in md
    assert "```diff" not in md and "[`1.0.0-to-2.0.0.diff`](1.0.0-to-2.0.0.diff)" in md
    assert "Values files: dev: `values/dev.yaml`; prod: none" in md


def test_no_secret_value_anywhere(report) -> None:
    outputs = [render_markdown(report), render_json(report), render_text(report)]
    for text in outputs:
        for secret in ("dev-secret-1", "prod-secret-1", "default-pw"):
            assert secret not in text
    diff = render_diff(report)
    for secret in ("dev-secret-1", "prod-secret-1", "default-pw"):
        assert secret not in diff
    # the Secret changed: the reviewer sees that, never what to
    assert "-  password: '***'" in diff and "+  password: '*** (changed)'" in diff and "+  user: '***'" in diff
    assert "`stringData.password`: `***` → `*** (changed)`" in outputs[0]


def test_json_report_matches_its_schema(report) -> None:
    schema = json.loads((Path(__file__).resolve().parents[1] / "chartkeeper" / "data" / "report.schema.json").read_text())
    data = json.loads(render_json(report))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["schemaVersion"] == 2 and data["verdict"] == "breaking"
    assert data["counts"]["breaking"] == len([f for f in report.findings if f.severity is Severity.BREAKING])
    assert data["imagesToMirror"] == ["registry.example/demo:2.0", "registry.example/side:1"]
    assert data["crds"]["steps"] and data["releases"][0]["resources"]["removed"] == ["core/ConfigMap/apps/demo-old"]
    assert to_json(report)["findings"][0]["severity"] == "breaking"


def test_terminal_summary(report) -> None:
    text = render_text(report)
    first = text.splitlines()[0]
    assert first.startswith("demo 1.0.0 → 2.0.0: BREAKING (") and "breaking" in first
    assert "kube.version-unsupported" in text and "before helmfile apply: kubectl apply" in text


def test_safe_upgrade(tmp_path: Path) -> None:
    values = {"replicas": 1, "selectorLabel": "x", "image": {"repository": "r/d", "tag": "1"}, "sidecar": {"enabled": False, "image": "s"}}
    old = write_chart(tmp_path / "old", "demo", "1.0.0", values=values, templates={"deploy.yaml": DEPLOY})
    new = write_chart(tmp_path / "new", "demo", "1.0.1", values=values, templates={"deploy.yaml": DEPLOY})
    r = analyze_pair(old, new, [ReleaseInput("dev", "demo", "apps", {"replicas": 2})], chart="demo", kube_version="v1.31.0")
    assert r.findings == () and r.verdict == "safe"
    assert "🟢 **safe**" in render_markdown(r) and "No findings." in render_markdown(r)
    assert render_text(r).startswith("demo 1.0.0 → 1.0.1: SAFE (0 breaking, 0 review, 0 info)")


def test_new_version_that_fails_to_render_is_breaking(tmp_path: Path) -> None:
    old = write_chart(tmp_path / "old", "demo", "1.0.0", values={"x": 1}, templates={"cm.yaml": CONFIGMAP})
    new = write_chart(tmp_path / "new", "demo", "2.0.0", values={"x": 1},
                      templates={"cm.yaml": CONFIGMAP + '  req: {{ required "clusterName is required" .Values.clusterName }}\n'})
    r = analyze_pair(old, new, [ReleaseInput("dev", "demo", "apps", {})], chart="demo", kube_version="v1.31.0")
    (f,) = [f for f in r.findings if f.code == "render.failed"]
    assert f.severity is Severity.BREAKING and "clusterName is required" in f.message
    assert r.releases[0].error and "Rendered analysis not available" in render_markdown(r)


def _crd_doc(name: str, versions: list[tuple[str, bool, bool]]) -> str:
    vs = [{"name": n, "served": s, "storage": st} for n, s, st in versions]
    return json.dumps({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": name},
                       "spec": {"group": "example.com", "names": {"kind": "X", "plural": name.split(".")[0]}, "scope": "Namespaced",
                                "versions": vs}})


def test_crd_added_removed_and_template_crd_losing_a_version(tmp_path: Path) -> None:
    tcrd_old = _crd_doc("gadgets.example.com", [("v1alpha1", True, False), ("v1", True, True)])
    tcrd_new = _crd_doc("gadgets.example.com", [("v1", True, True)])
    old = write_chart(tmp_path / "old", "demo", "1.0.0", templates={"crd-gadgets.yaml": tcrd_old, "crd-gone.yaml": _crd_doc("gones.example.com", [("v1", True, True)])})
    new = write_chart(tmp_path / "new", "demo", "2.0.0", templates={"crd-gadgets.yaml": tcrd_new},
                      crds={"fresh.yaml": _crd_doc("freshes.example.com", [("v1", True, True)])})
    r = analyze_pair(old, new, [ReleaseInput("dev", "demo", "apps", {})], chart="demo", kube_version="v1.31.0",
                     crd_folder="charts/demo-2.0.0")
    (added,) = by_code(r, "crd.added")
    assert added.path == "freshes.example.com" and added.severity is Severity.REVIEW and "first install" in added.message
    (removed,) = by_code(r, "crd.removed")
    assert removed.path == "gones.example.com" and removed.severity is Severity.BREAKING
    (changed,) = by_code(r, "crd.changed")
    assert changed.path == "gadgets.example.com" and changed.severity is Severity.BREAKING
    assert dict(changed.details)["versionsRemoved"] == ["v1alpha1"] and "Helm never upgrades" not in changed.message
    # only the crds/ folder needs the manual step
    assert r.crd_steps == ("kubectl apply --server-side --force-conflicts -f charts/demo-2.0.0/crds/",)


def test_subcharts_added_removed_deprecated_and_unreadable_kube_version(tmp_path: Path) -> None:
    a = write_chart(tmp_path / "a", "alpha", "1.0.0", templates={})
    b = write_chart(tmp_path / "b", "beta", "1.0.0", templates={})
    old = write_chart(tmp_path / "old", "demo", "1.0.0", templates={"cm.yaml": CONFIGMAP},
                      dependencies=[{"name": "alpha", "version": "1.0.0"}], subcharts=[a])
    new = write_chart(tmp_path / "new", "demo", "2.0.0", templates={"cm.yaml": CONFIGMAP},
                      dependencies=[{"name": "beta", "version": "1.0.0"}], subcharts=[b],
                      chart_extra={"deprecated": True, "kubeVersion": "newest please"})
    r = analyze_pair(old, new, [ReleaseInput("dev", "demo", "apps", {})], chart="demo", kube_version="v1.31.0")
    assert [(f.path, f.severity) for f in by_code(r, "chart.subchart-added")] == [("beta", Severity.REVIEW)]
    assert [(f.path, f.severity) for f in by_code(r, "chart.subchart-removed")] == [("alpha", Severity.REVIEW)]
    assert by_code(r, "chart.deprecated")[0].severity is Severity.REVIEW
    assert by_code(r, "kube.version-constraint-invalid")[0].new == "newest please"


def test_old_version_that_fails_to_render_is_review(tmp_path: Path) -> None:
    old = write_chart(tmp_path / "old", "demo", "1.0.0",
                      templates={"cm.yaml": CONFIGMAP + '  req: {{ required "name is required" .Values.name }}\n'})
    new = write_chart(tmp_path / "new", "demo", "2.0.0", templates={"cm.yaml": CONFIGMAP})
    r = analyze_pair(old, new, [ReleaseInput("dev", "demo", "apps", {})], chart="demo", kube_version="v1.31.0")
    (f,) = by_code(r, "render.failed-old")
    assert f.severity is Severity.REVIEW and "name is required" in f.message and f.env == "dev"


def test_kustomize_patches_that_do_not_load_are_a_breaking_finding(tmp_path: Path) -> None:
    from chartkeeper.analysis.upgrade import patch_hooks
    from chartkeeper.lockfile import LockEntry
    from chartkeeper.settings import Settings

    old = write_chart(tmp_path / "old", "demo", "1.0.0", templates={"cm.yaml": CONFIGMAP})
    new = write_chart(tmp_path / "new", "demo", "2.0.0", templates={"cm.yaml": CONFIGMAP})
    kdir = tmp_path / "repo" / "patches" / "demo"
    kdir.mkdir(parents=True)
    (kdir / "kustomization.yaml").write_text("patches:\n  - path: missing-file.yaml\n")
    settings = Settings(root=tmp_path / "repo")
    hooks, notes = patch_hooks(settings, LockEntry("demo", "demo", "https://charts.example", "1.0.0"))
    assert hooks is not None and notes == []
    r = analyze_pair(old, new, [ReleaseInput("dev", "demo", "apps", {})], chart="demo", kube_version="v1.31.0", patches=hooks)
    (f,) = by_code(r, "patch.apply-failed")
    assert f.severity is Severity.BREAKING and "missing-file.yaml" in f.message
    assert r.verdict == "breaking" and not r.releases[0].patched


WEB = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: "r/web:{{ .Values.tag }}"
          {{- with .Values.resources }}
          resources: {{- toYaml . | nindent 12 }}
          {{- end }}
"""


def _web_upgrade(tmp_path: Path, old_resources: dict, new_resources: dict):
    old = write_chart(tmp_path / "old", "web", "1.0.0", values={"tag": "1", "resources": old_resources}, templates={"deploy.yaml": WEB})
    new = write_chart(tmp_path / "new", "web", "1.0.1", values={"tag": "2", "resources": new_resources}, templates={"deploy.yaml": WEB})
    return analyze_pair(old, new, [ReleaseInput("prod", "web", "apps", {})], chart="web", kube_version="v1.31.0")


def test_a_new_memory_limit_is_review_and_the_why_names_it(tmp_path: Path) -> None:
    """A Deployment gaining `resources.limits.memory` may be OOM-killed: never "nothing to decide"."""
    r = _web_upgrade(tmp_path, {"requests": {"memory": "64Mi"}}, {"requests": {"memory": "64Mi"}, "limits": {"memory": "128Mi"}})
    (f,) = [f for f in r.findings if f.code == "manifest.changed"]
    assert f.severity is Severity.REVIEW and r.verdict == "needs review"
    assert "spec.template.spec.containers[web].resources.limits.memory 128Mi added" in f.message
    assert f.action and "resource limits" in f.action
    md = render_markdown(r)
    assert "nothing to decide" not in md and "limits.memory 128Mi added" in md


def test_limits_raised_or_only_requests_changed_stay_info(tmp_path: Path) -> None:
    r = _web_upgrade(tmp_path, {"limits": {"memory": "128Mi", "cpu": "500m"}, "requests": {"cpu": "100m"}},
                     {"limits": {"memory": "1Gi", "cpu": "1"}, "requests": {"cpu": "200m"}})
    (f,) = [f for f in r.findings if f.code == "manifest.changed"]
    assert f.severity is Severity.INFO and r.verdict == "safe"


def test_workload_behaviour_edits_at_any_level() -> None:
    from chartkeeper.analysis.manifests import ABSENT, Edit, ResourceChange, behaviour_changes, quantity
    from chartkeeper.resources import ResourceKey

    assert [quantity(q) for q in ("128Mi", "500m", "1.5", "1e3", "2Gi", "lots")] == [2.0**27, 0.5, 1.5, 1000.0, 2.0**31, None]
    pod = "spec.template.spec.containers[app]"
    edits = (
        Edit(f"{pod}.resources", ABSENT, {"limits": {"cpu": "1"}}),  # a whole resources block added
        Edit(f"{pod}.resources.limits.memory", "1Gi", "512Mi"),  # lowered
        Edit(f"{pod}.resources.limits.ephemeral-storage", "1Gi", "not-a-quantity"),  # cannot compare: a person looks
        Edit(f"{pod}.resources.requests.cpu", "1", "100m"),  # requests: not listed
        Edit(f"{pod}.readinessProbe.periodSeconds", 10, 5),
        Edit(f"{pod}.securityContext.runAsNonRoot", ABSENT, True),
        Edit("spec.replicas", 3, 1),
        Edit("spec.strategy.type", "RollingUpdate", "Recreate"),
        Edit(f"{pod}.env.LOG_LEVEL.value", "info", "debug"),  # not a behaviour edit of this kind
    )
    change = ResourceChange(ResourceKey("apps", "Deployment", "apps", "app"), "changed", edits=edits)
    assert behaviour_changes(change) == [
        ("resource limits", f"{pod}.resources.limits.cpu 1 added"),
        ("resource limits", f"{pod}.resources.limits.memory 1Gi → 512Mi"),
        ("resource limits", f"{pod}.resources.limits.ephemeral-storage 1Gi → not-a-quantity"),
        ("probes", f"{pod}.readinessProbe.periodSeconds 10 → 5"),
        ("security context", f"{pod}.securityContext.runAsNonRoot added"),
        ("replicas", "spec.replicas 3 → 1"),
        ("update strategy", "spec.strategy.type RollingUpdate → Recreate"),
    ]
