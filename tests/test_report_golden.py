"""Golden upgrade report on a real-world-sized operator chart (tests/support/operator_fixture.py).

One `chartkeeper diff` on a helmfile deployment with three environments (two identical), ~200 rendered
resources with version-label churn, a renamed key we override, a masked default pinned in its own commit,
and a CRD losing its storage version. The first screen is compared whole (the golden part); the rest of the
report is checked for what a reviewer relies on, and the Markdown for its size budget.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from chartkeeper.analysis.report import MARKDOWN_BUDGET, render_markdown
from chartkeeper.analysis.upgrade import analyze_upgrade
from chartkeeper.lockfile import load_lock
from chartkeeper.settings import load_settings
from tests.support.deployment import git
from tests.support.harness import invoke_cli
from tests.support.httpserver import ChartRepoServer
from tests.support.operator_fixture import NEW, OPERANDS, operator_deployment

FIRST_SCREEN = """\
# Upgrade report: gpu-operator v24.9.0 → v25.10.0

**Verdict:** 🔴 **breaking** — 2 breaking, 2 to review, {info} info

**Why:** CRD clusterpolicies.nvidia.com: NEW removes v1alpha1, OLD's storage version; objects stored at v1alpha1 must be migrated to v1 before NEW's CRD can be applied (and 3 more to act on).

Chart `gpu-operator` from `{repo}` · cluster v1.31.0 · environments: default, astrago, lab · appVersion v24.9.0 → v25.10.0 · generated {generated}

## Before merging

What to decide or do before this merges, one item per kind of decision; the findings it settles are linked.

1. Migrate the objects of `clusterpolicies.nvidia.com` stored at v1alpha1 to v1, then patch `status.storedVersions`, before applying NEW's CRDs (steps under CRDs) ([F1](#f1))
2. Fix our override `operator.replicaCount` at `helmfile/values/gpu-operator.yaml:3`: NEW ignores it; probably moved to `operator.replicas` ([F2](#f2))
3. Check the new replicas of Deployment gpu-operator against what it needs in production ([F3](#f3))
4. Decide on the masked default `driver.version`: keep our `550.54.15` at `helmfile/values/gpu-operator.yaml:5` (pinned 2024-11-02 in {pin} "driver 550 for A100 hosts") or take NEW's `570.86.10` by deleting the line ([F4](#f4))
5. Mirror these 41 images into the air-gapped registry before deploying (listed under Images to mirror, and in the report's `.images.txt`)
6. Apply these CRDs first (Helm never upgrades `crds/`): `kubectl apply --server-side --force-conflicts -f helmfile/charts/external/gpu-operator-v25.10.0/crds/`

## Findings

What this upgrade changes, by severity; each row says where our side of it is.
"""


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("golden")
    (base / "repo").mkdir()
    with ChartRepoServer(base / "repo") as server:
        root = operator_deployment(base / "deploy", base / "repo", server.url)
        out = base / "out" / "report.md"
        out.parent.mkdir()
        proc = invoke_cli(["-C", str(root), "diff", "gpu-operator", NEW, "--format", "md", "--output", str(out)], cwd=root)
        assert proc.returncode == 0, proc.stderr
        js = invoke_cli(["-C", str(root), "diff", "gpu-operator", NEW, "--json"], cwd=root)
        assert js.returncode == 0, js.stderr
        settings = load_settings(root)
        lock = load_lock(settings.lock_file)
        new_dir = base / "src" / NEW / "gpu-operator"  # the NEW chart as published (the CLI fetches the same)
        report = analyze_upgrade(settings, lock, lock.require("gpu-operator"), new_dir, NEW, None)
        yield {"root": root, "url": server.url, "md": out.read_text(), "out": out.parent, "stdout": proc.stdout,
               "json": json.loads(js.stdout), "report": report}


def test_first_screen_is_the_golden_one(operator) -> None:
    md = operator["md"]
    pin = git(operator["root"], "log", "-1", "--format=%H", "--grep", "driver 550")[:10]
    info = operator["json"]["counts"]["info"]
    generated = re.search(r"· generated (\S+)\n", md).group(1)
    expected = FIRST_SCREEN.format(repo=operator["url"], generated=generated, pin=pin, info=info)
    assert md[: len(expected)] == expected
    # the same actions in the JSON and on the terminal
    assert [a["text"] for a in operator["json"]["actions"]][1].endswith("probably moved to `operator.replicas`")
    assert "before merging:\n  1. Migrate the objects of `clusterpolicies.nvidia.com`" in operator["stdout"]


def test_identical_environments_are_reported_once(operator) -> None:
    md = operator["md"]
    assert "### default, astrago — release `gpu-operator` in namespace `gpu-operator`" in md
    assert "### lab — release `gpu-operator` in namespace `gpu-operator`" in md
    assert md.count("### default") == 1 and "### astrago" not in md
    assert operator["json"]["environmentGroups"] == [["default", "astrago"], ["lab"]]


def test_label_churn_is_folded_and_edits_are_path_level(operator) -> None:
    md = operator["md"]
    churn_only = 4 * len(OPERANDS)  # ServiceAccount, Role, RoleBinding, ConfigMap per operand: labels only
    assert f"{churn_only} resource(s): chart version labels only (folded; `--show-label-churn` lists them)." in md
    assert "helm.sh/chart" not in md and "app.kubernetes.io/version" not in md
    # named list items by name, values OLD -> NEW, (absent) where a field is new
    assert ("  - `spec.template.spec.containers[devicePlugin].image`: `nvcr.io/nvidia/k8s/deviceplugin:v1.0.1` → "
            "`nvcr.io/nvidia/k8s/deviceplugin:v1.1.1`") in md
    assert "`spec.template.spec.containers[devicePlugin].env[NVIDIA_DRIVER_CAPABILITIES]`: `(absent)` →" in md
    # the unified diff is in the file next to the report, churn included
    diff = (operator["out"] / "v24.9.0-to-v25.10.0.diff").read_text()
    assert "-    helm.sh/chart: gpu-operator-v24.9.0" in diff and "+    helm.sh/chart: gpu-operator-v25.10.0" in diff
    assert "[`v24.9.0-to-v25.10.0.diff`](v24.9.0-to-v25.10.0.diff)" in md


def test_rename_blame_and_crd_findings(operator) -> None:
    by = {}
    for f in operator["json"]["findings"]:
        by.setdefault(f["code"], []).append(f)
    (ren,) = by["values.renamed-key"]
    assert ren["path"] == "operator.replicaCount" and ren["suggestion"] == "operator.replicas" and ren["line"] == 3
    (masked,) = by["values.default-changed-overridden"]
    pin = masked["details"]["pinned"]
    assert pin["subject"] == "driver 550 for A100 hosts" and pin["date"] == "2024-11-02" and pin["author"] == "Site Admin"
    (gone,) = by["crd.storage-version-removed"]
    assert gone["severity"] == "breaking" and gone["old"] == "v1alpha1" and gone["new"] == "v1"
    assert "crd.changed" not in by  # one change, one finding
    # every review/breaking finding says what to do
    assert all(f.get("action") for f in operator["json"]["findings"] if f["severity"] != "info")
    # inherited operand versions are reported with the images they produce, not one finding per tag
    assert not [f for f in by.get("values.default-changed", []) if f["path"].endswith(".version")]
    md = operator["md"]
    steps = md[md.index("## CRDs"):]
    assert "| `clusterpolicies.nvidia.com` | changed (crds/) | v1, **v1alpha1** | **v1** | storage version v1alpha1 removed: migrate first |" in steps
    assert steps.index("kubectl patch crd clusterpolicies.nvidia.com --subresource=status") < steps.index("kubectl apply --server-side")


def test_json_report_validates(operator) -> None:
    schema = json.loads((Path(__file__).resolve().parents[1] / "chartkeeper" / "data" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(operator["json"])


def test_markdown_size_budget(operator) -> None:
    report = operator["report"]
    whole = render_markdown(report, budget=10**9)
    assert len(whole) > MARKDOWN_BUDGET  # the fixture is big enough for the budget to matter
    md = operator["md"]
    assert len(md) <= MARKDOWN_BUDGET
    assert "more, see the JSON report" in md or "more lines, see the diff file" in md
    # the first screen is never what gets cut
    assert md.index("## Before merging") < md.index("## Findings") and "6. Apply these CRDs first" in md
    tight = render_markdown(report, budget=20_000)
    assert len(tight) <= 20_000 and tight.startswith("# Upgrade report: gpu-operator v24.9.0 → v25.10.0")


def test_kube_prometheus_stack_sized_report_stays_under_the_budget(tmp_path: Path) -> None:
    """bench/diff_bench.py's chart (281 templates, a 6,852-line values.yaml, 3 subcharts, 8 CRDs, 3 environments)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("diff_bench", Path(__file__).resolve().parents[1] / "bench" / "diff_bench.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    tree, _, _ = bench.build_tree(tmp_path / "bench", 50)
    out = tmp_path / "out" / "report.md"
    out.parent.mkdir()
    proc = invoke_cli(["-C", str(tree), "diff", "big", "2.0.0", "--format", "md", "--output", str(out)], cwd=tree)
    assert proc.returncode == 0, proc.stderr
    md = out.read_text()
    assert len(md) <= MARKDOWN_BUDGET
    assert md.startswith("# Upgrade report: big 1.0.0 → 2.0.0\n") and "## Before merging\n" in md
    # dev, stage and prod pin different replicas: three sections; the churn of unchanged resources is folded
    assert all(f"### {e} — release `monitoring`" in md for e in ("dev", "stage", "prod"))
    assert "chart version labels only" in md and "helm.sh/chart" not in md
    assert (out.parent / "1.0.0-to-2.0.0.diff").stat().st_size > 100_000  # the long tail is in the file
