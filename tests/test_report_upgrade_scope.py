"""What the upgrade report speaks about (issue 23): what the upgrade introduces apart from what already holds
with OLD, one decision per kind in the action list, defaults judged by what they render, upstream notes that
fit the upgrade, workload changes first within the size budget. Real charts, the real Helm engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chartkeeper.analysis.report import actions_of, render_json, render_markdown, render_text
from chartkeeper.analysis.upgrade import ReleaseInput, analyze_pair
from chartkeeper.findings import Severity
from tests.support.charts import write_chart
from tests.support.deployment import demo_chart_versions, make_deployment, publish
from tests.support.harness import invoke_cli

# -- 1. introduced vs already true -------------------------------------------------------------------


@pytest.fixture
def unknown_override(tmp_path: Path, repo_server) -> Path:
    """A deployment whose overrides set `tolerations`, a key neither 1.0.0 nor 1.1.0 of the chart has."""
    publish(repo_server.root, demo_chart_versions(tmp_path / "src", "demo", {"1.0.0": {}, "1.1.0": {}}))
    root = make_deployment(tmp_path / "deploy", repo_server.url, {"demo": "1.0.0"})
    (root / "chartkeeper.yaml").write_text("kubeVersion: v1.31.0\n")
    values = root / "helmfile" / "values" / "demo.yaml"
    values.write_text("# overrides for demo\ntolerations:\n  - key: gpu\n")
    return root


def test_a_finding_that_holds_with_old_is_not_the_upgrades(unknown_override: Path) -> None:
    root = unknown_override
    js = invoke_cli(["-C", str(root), "diff", "demo", "1.1.0", "--json", "--fail-on", "breaking"], cwd=root)
    assert js.returncode == 0, js.stderr  # the breaking finding is not this upgrade's
    data = json.loads(js.stdout)
    (unknown,) = [f for f in data["findings"] if f["code"] == "values.unknown-key"]
    assert unknown["introduced"] is False and unknown["severity"] == "breaking"
    assert unknown["path"] == "tolerations" and unknown["file"] == "helmfile/values/demo.yaml" and unknown["line"] == 2
    assert all(f["introduced"] for f in data["findings"] if f is not unknown)
    assert data["verdict"] == "safe" and data["counts"]["breaking"] == 0 and data["counts"]["alreadyTrue"] == 1
    assert not any("tolerations" in a["text"] for a in data["actions"])

    out = root.parent / "out" / "r.md"
    out.parent.mkdir()
    strict = invoke_cli(["-C", str(root), "diff", "demo", "1.1.0", "-o", str(out), "--fail-on", "breaking",
                         "--include-existing"], cwd=root)
    assert strict.returncode == 1, strict.stderr
    md = out.read_text()
    section = md.split("## Already true before this upgrade (1)", 1)[1].split("\n## ", 1)[0]
    assert "`chartkeeper lint`" in section
    assert "`values.unknown-key`" in section and "`tolerations`" in section and "helmfile/values/demo.yaml:2" in section
    assert "🟢 **safe**" in md and "1 already true before this upgrade" in md
    findings = md.split("## Findings", 1)[1].split("## Already true", 1)[0]
    assert "tolerations" not in findings


def test_bump_fail_on_counts_existing_findings_only_when_asked(unknown_override: Path) -> None:
    root = unknown_override
    strict = invoke_cli(["-C", str(root), "bump", "demo", "1.1.0", "--dry-run", "--fail-on", "breaking",
                         "--include-existing"], cwd=root)
    assert strict.returncode == 1, strict.stderr
    assert "verdict safe" in strict.stdout  # the verdict itself leaves the existing finding out


# -- 6. workload changes first, bulk text folded and cut first -----------------------------------------

WEB = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: "registry.example/web:{{ .Values.tag }}"
"""
DASHBOARD = """apiVersion: v1
kind: ConfigMap
metadata:
  name: dashboards
  labels: {grafana_dashboard: "1"}
data:
  overview.json: |
{{ .Files.Get "overview.json" | indent 4 }}
"""


def _dashboard(version: int) -> str:
    panels = [{"id": i, "title": f"panel {i}", "expr": f"rate(http_requests_total{{v=\"{version}\"}}[5m])"}
              for i in range(600)]
    return json.dumps({"title": "overview", "panels": panels}, indent=2)  # ~3,000 lines


def test_a_workload_edit_is_shown_while_a_dashboard_is_folded_and_cut_first(tmp_path: Path) -> None:
    charts = [write_chart(tmp_path / v, "web", v, values={"tag": tag}, templates={"web.yaml": WEB, "dash.yaml": DASHBOARD},
                          files={"overview.json": _dashboard(n)})
              for n, (v, tag) in enumerate((("1.0.0", "1.0"), ("2.0.0", "2.0")))]
    assert len(_dashboard(0).splitlines()) >= 3000
    r = analyze_pair(*charts, [ReleaseInput("prod", "web", "apps", {})], chart="web", kube_version="v1.31.0")
    full = render_markdown(r)
    image = "`spec.template.spec.containers[web].image`: `registry.example/web:1.0` → `registry.example/web:2.0`"
    assert full.index("Changed workloads (1)") < full.index(image) < full.index("<summary>Dashboards, CRD schemas")
    assert "`core/ConfigMap/apps/dashboards`" in full.split("<summary>Dashboards, CRD schemas", 1)[1]
    for budget in (len(full) - 50, len(full) - 400):  # cut a little, cut more: the dashboard goes first
        tight = render_markdown(r, budget=budget)
        assert image in tight and "data.overview.json" not in tight
        folded = tight.split("<summary>Dashboards, CRD schemas", 1)[1].split("</details>", 1)[0]
        assert "more lines, see the diff file" in folded


# -- 2. one decision per kind -----------------------------------------------------------------------


def test_findings_of_one_kind_are_one_action_with_a_table(tmp_path: Path) -> None:
    """Three masked version defaults are one decision, not three near-identical lines."""
    names = ("driver", "toolkit", "dcgm")
    charts = [write_chart(tmp_path / v, "op", v, values={n: {"version": f"{v}-{n}"} for n in names},
                          templates={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: op\n"})
              for v in ("1.0.0", "2.0.0")]
    ours = {n: {"version": "pinned"} for n in names}
    r = analyze_pair(*charts, [ReleaseInput("prod", "op", "ops", ours)], chart="op", kube_version="v1.31.0")
    (act,) = actions_of(r)
    assert act.text.startswith("We pin 3 values whose default NEW changes") and len(act.refs) == 3
    assert act.table[0] == ("Finding", "Path", "Ours", "OLD", "NEW")
    assert {row[1] for row in act.table[1:]} == {f"`{n}.version`" for n in names}
    assert all(row[2:] == ("`pinned`", f"`1.0.0-{row[1][1:-9]}`", f"`2.0.0-{row[1][1:-9]}`") for row in act.table[1:])
    md = render_markdown(r)
    assert "1. We pin 3 values" in md and "   | Finding | Path | Ours | OLD | NEW |" in md and "\n2. " not in md
    (js,) = json.loads(render_json(r))["actions"]
    assert js["table"]["columns"][1] == "Path" and len(js["table"]["rows"]) == 3
    assert render_text(r).count("We pin 3 values") == 1


# -- 5. upstream notes that fit the upgrade ----------------------------------------------------------

PG_README = """# PostgreSQL

## Parameters

Many.

## Upgrading

Back up first.

### To 15.0.0

PostgreSQL 16 by default.

### To 14.0.0

Resources come from presets.

### To 12.0.0

Old news.

#### Upgrading the standby

Older news.
"""
PG_CHANGELOG = "# Changelog\n\n## 15.5.0\n\n- fifteen-five\n\n## 13.0.0\n\n- thirteen\n\n## 12.1.0\n\n- twelve-one\n"


def test_subchart_notes_between_its_two_versions_only(tmp_path: Path) -> None:
    def chart(version: str, pg: str) -> Path:
        sub = write_chart(tmp_path / f"pg-{pg}", "postgresql", pg, values={"enabled": True}, templates={},
                          files={"README.md": PG_README, "CHANGELOG.md": PG_CHANGELOG})
        return write_chart(tmp_path / version, "keycloak", version, values={"postgresql": {"enabled": True}},
                           templates={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kc\n"},
                           dependencies=[{"name": "postgresql", "version": pg}], subcharts=[sub],
                           files={"README.md": "# keycloak\n\n## Upgrading\n\n### To 3.0.0\n\nNew realm import.\n\n"
                                               "### To 1.0.0\n\nAncient.\n"})

    r = analyze_pair(chart("2.0.0", "12.1.0"), chart("3.0.0", "15.5.0"), [ReleaseInput("prod", "kc", "kc", {})],
                     chart="keycloak", kube_version="v1.31.0")
    (sub,) = r.subchart_notes
    assert (sub.name, sub.old, sub.new) == ("postgresql", "12.1.0", "15.5.0")
    md = render_markdown(r)
    notes = md.split("## Upstream notes", 1)[1]
    top, pg = notes.split("### Subchart `postgresql` 12.1.0 → 15.5.0", 1)
    assert "### `keycloak` 2.0.0 → 3.0.0" in top and "New realm import." in top and "Ancient." not in top
    for shown in ("Back up first.", "PostgreSQL 16 by default.", "Resources come from presets.", "fifteen-five", "thirteen"):
        assert shown in pg
    for older in ("Old news.", "Older news.", "twelve-one", "Many."):
        assert older not in pg
    (js,) = json.loads(render_json(r))["subchartNotes"]
    assert js["chart"] == "postgresql" and {c["file"] for c in js["changelog"]} == {"README.md", "CHANGELOG.md"}


# -- 4. severity confirmed by the render -------------------------------------------------------------

APP = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
        - name: app
          image: registry.example/app:1
          securityContext: {{ toYaml .Values.securityContext | nindent 12 }}
          resources: {{ .Values.resources | default (dict "limits" (dict "memory" "192Mi")) | toYaml | nindent 12 }}
          {{- with .Values.lifecycleHooks }}
          lifecycle: {{ toYaml . | nindent 12 }}
          {{- end }}
"""
CLI = """{{- if .Values.cli.enabled }}
apiVersion: batch/v1
kind: Job
metadata:
  name: cli
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: cli
          image: registry.example/cli:1
          args: ["--mode={{ .Values.cli.mode }}"]
{{- end }}
"""


@pytest.fixture(scope="module")
def component_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("component")
    def chart(version: str, mode: str, read_only: bool, resources: dict) -> Path:
        return write_chart(base / version, "app", version, templates={"app.yaml": APP, "cli.yaml": CLI},
                           values={"cli": {"enabled": False, "mode": mode}, "resources": resources,
                                   "securityContext": {"readOnlyRootFilesystem": read_only}, "lifecycleHooks": {}})
    # NEW drops the requests default, and the template then renders a preset memory limit instead
    return (chart("1.0.0", "batch", False, {"requests": {"memory": "128Mi"}}),
            chart("2.0.0", "stream", True, {}))


def _default_changes(r) -> dict[str, object]:
    return {f.path: f for f in r.findings if f.code == "values.default-changed"}


def test_a_default_change_under_a_disabled_component_is_info_not_rendered_here(component_pair) -> None:
    r = analyze_pair(*component_pair, [ReleaseInput("dev", "app", "apps", {}), ReleaseInput("prod", "app", "apps", {})],
                     chart="app", kube_version="v1.31.0")
    off = _default_changes(r)["cli.mode"]
    assert off.severity is Severity.INFO and "not rendered here" in off.message and off.env is None
    assert dict(off.details)["rendered"] is False
    on = _default_changes(r)["securityContext.readOnlyRootFilesystem"]
    assert on.severity is Severity.REVIEW and "not rendered here" not in on.message


def test_the_same_change_under_an_enabled_component_is_review_with_its_rendered_effect(component_pair) -> None:
    ours = {"cli": {"enabled": True}, "lifecycleHooks": {"postStart": {"exec": {"command": ["sh", "-c", "echo > /var/log/x"]}}}}
    r = analyze_pair(*component_pair, [ReleaseInput("prod", "app", "apps", ours)], chart="app", kube_version="v1.31.0")
    mode = _default_changes(r)["cli.mode"]
    assert mode.severity is Severity.REVIEW
    assert 'renders as: batch/Job/apps/cli `spec.template.spec.containers[cli].args`: ["--mode=batch"] → ["--mode=stream"]' \
        in mode.message
    # an inherited security-context change shows, next to it, what our values set on that container
    ro = _default_changes(r)["securityContext.readOnlyRootFilesystem"]
    assert ro.severity is Severity.REVIEW
    assert "our values also set on that container: `spec.template.spec.containers[app].lifecycle`" in ro.message
    # a map default is described by what it renders: requests removed, but a limit added
    res = _default_changes(r)["resources"]
    assert res.severity is Severity.INFO and "spec.template.spec.containers[app].resources.limits" in res.message
    assert '(absent) → {"memory": "192Mi"}' in res.message
    md = render_markdown(r)
    workloads = md.split("Changed workloads", 1)[1].split("\n\n", 2)[1]
    assert "readOnlyRootFilesystem" in workloads
    assert "⚠️ our values or patches also set, on this workload: `spec.template.spec.containers[app].lifecycle`" in workloads


def test_a_pod_change_an_inherited_default_renders_is_reported_once(tmp_path: Path) -> None:
    """`replicas: 1 → 2` is one change: the values finding (with its rendered effect) stays, the workload's
    "changes how its pods run" review of the same field goes."""
    deploy = WEB.replace("spec:\n  selector:", "spec:\n  replicas: {{ .Values.replicas }}\n  selector:")
    charts = [write_chart(tmp_path / v, "web", v, values={"tag": "1.0", "replicas": n}, templates={"web.yaml": deploy})
              for v, n in (("1.0.0", 1), ("2.0.0", 2))]
    r = analyze_pair(*charts, [ReleaseInput("prod", "web", "apps", {})], chart="web", kube_version="v1.31.0")
    (rep,) = [f for f in r.findings if f.code == "values.default-changed"]
    assert rep.severity is Severity.REVIEW and "spec.replicas" in rep.message
    assert [f for f in r.findings if f.code == "manifest.changed" and f.severity is not Severity.INFO] == []
    assert len(actions_of(r)) == 1


def test_a_component_switched_off_by_the_upgrade_is_not_guessed_quiet() -> None:
    from chartkeeper.analysis.rendered_effect import looks_off

    merged = {"cli": {"enabled": False, "mode": "x"}, "web": {"enabled": True, "tls": {"enabled": False, "port": 1}}}
    assert looks_off(merged, ("cli", "mode")) and looks_off(merged, ("web", "tls", "port"))
    assert not looks_off(merged, ("cli", "enabled")) and not looks_off(merged, ("web", "tls", "enabled"))
    assert not looks_off(merged, ("web", "replicas"))
