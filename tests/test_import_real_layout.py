"""`import` on a repository laid out like a real older deployment: a Go sync tool's `charts.json`, its CSV lock,
charts vendored in unversioned folders, a `.gotmpl` state file, a customer environment layered on `default`.

The CSV lock disagrees with the folders in each of the four ways seen in the field; each is one note on its
chart, the summary counts them, exit 1, and the wrong checksum never reaches `digest:`."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from chartkeeper.lockfile import load_lock
from tests.support.charts import build_index, package_chart, sha256_file, write_chart
from tests.support.harness import invoke_cli
from tests.support.httpserver import ChartRepoServer

EXT = Path("helmfile/charts/external")

STATE = """\
bases:
  - environments.yaml.gotmpl
---
releases:
{releases}
"""

ENVIRONMENTS = """\
environments:
  default:
    values:
      - environments/default.yaml
  customer-a:
    values:
      - environments/default.yaml
      - environments/customer-a.yaml
"""


def _build(tmp_path: Path, server: ChartRepoServer) -> tuple[Path, dict[str, str]]:
    repo = server.root / "stable"
    src = tmp_path / "src"
    published: dict[str, str] = {}
    vendored = {"alpha": "1.1.0", "beta": "v2.0.0", "gamma": "0.3.0", "epsilon": "4.0.0"}
    for name, version in [("alpha", "1.0.0"), *vendored.items(), ("delta", "5.0.0")]:
        folder = write_chart(src, name, version, folder=f"{name}-{version}", templates={"cm.yaml": "kind: ConfigMap\n"})
        published[f"{name}-{version}"] = sha256_file(package_chart(folder, repo))
    build_index(repo)
    root = tmp_path / "deploy"
    for name, version in vendored.items():
        shutil.copytree(src / f"{name}-{version}", root / EXT / name)  # unversioned folders
    hf = root / "helmfile"
    (hf / "environments").mkdir(parents=True)
    (hf / "environments.yaml.gotmpl").write_text(ENVIRONMENTS)
    (hf / "environments" / "default.yaml").write_text("offline:\n  registry: \"\"\n")
    (hf / "environments" / "customer-a.yaml").write_text("offline:\n  registry: harbor.customer-a.example\n")
    releases = "".join(f"  - name: {n}\n    chart: ./charts/external/{n}\n" for n in vendored)
    (hf / "helmfile.yaml.gotmpl").write_text(STATE.format(releases=releases.rstrip("\n")))
    legacy = root / "sync"
    legacy.mkdir()
    (legacy / "charts.json").write_text(json.dumps({
        "repositories": {"stable": f"{server.url}/stable"},
        "charts": {n: {"repository": "stable", "version": v} for n, v in [*vendored.items(), ("delta", "5.0.0")]},
    }, indent=2))
    wrong = "0" * 64
    (legacy / "charts.lock").write_text(
        "# written by chart-sync\n"
        f"stable/alpha,1.0.0,{published['alpha-1.0.0']},2025-01-10T08:00:00Z\n"  # 1: an older version than the folder's
        f"stable/beta,v2.0.0,{wrong},2025-01-10T08:00:00Z\n"  # 2: not the archive's sha256
        # 3: gamma is vendored but has no row
        f"stable/delta,5.0.0,{published['delta-5.0.0']},2025-01-10T08:00:00Z\n"  # 4: a row with no folder
        f"stable/epsilon,4.0.0,{published['epsilon-4.0.0']},2025-01-10T08:00:00Z\n"  # agrees
    )
    return root, published


def test_import_reports_each_disagreement_once_and_pins_what_is_vendored(tmp_path: Path, repo_server: ChartRepoServer) -> None:
    root, published = _build(tmp_path, repo_server)
    proc = invoke_cli(["import", "--charts-json", "sync/charts.json", "--csv-lock", "sync/charts.lock", "--json"], cwd=root)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    notes = {a["entry"]["name"]: a["notes"] for a in data["adopted"]}
    assert notes == {
        "alpha": ["the old lock (charts.lock) says 1.0.0; the folder holds 1.1.0 (pinned 1.1.0, as vendored; "
                  "its checksum, for 1.0.0, is not used)"],
        "beta": [f"the old lock's checksum sha256:{'0' * 64} is not the sha256 of the archive {repo_server.url}/stable "
                 f"publishes for beta v2.0.0 ({published['beta-v2.0.0']}); pinned the published digest"],
        "gamma": ["vendored, but absent from the old lock (charts.lock)"],
        "delta": ["the old lock (charts.lock) lists 5.0.0, but no folder holds it; pinned, not vendored yet "
                  "(`chartkeeper sync` vendors it)"],
        "epsilon": [],
    }
    assert data["disagreements"] == 4 and data["skipped"] == []
    lock = load_lock(root / EXT / "versions.lock")
    pinned = {e.name: (e.version, e.digest, e.path) for e in lock.entries}
    assert pinned == {
        "alpha": ("1.1.0", None, "alpha-1.1.0"),  # the folder's version; the 1.0.0 checksum is not its digest
        "beta": ("v2.0.0", published["beta-v2.0.0"], "beta-v2.0.0"),
        "gamma": ("0.3.0", None, "gamma-0.3.0"),
        "delta": ("5.0.0", published["delta-5.0.0"], "delta-5.0.0"),
        "epsilon": ("4.0.0", published["epsilon-4.0.0"], "epsilon-4.0.0"),
    }
    assert "0" * 64 not in (root / EXT / "versions.lock").read_text()
    state = (root / "helmfile" / "helmfile.yaml.gotmpl").read_text()
    assert "chart: ./charts/external/alpha-1.1.0\n" in state and "chart: ./charts/external/beta-v2.0.0\n" in state
    # What was adopted is what is vendored: verify is clean for every folder.
    proc = invoke_cli(["verify", "alpha", "beta", "gamma", "epsilon"], cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_human_output_counts_the_disagreements(tmp_path: Path, repo_server: ChartRepoServer) -> None:
    root, _ = _build(tmp_path, repo_server)
    proc = invoke_cli(["import", "--charts-json", "sync/charts.json", "--csv-lock", "sync/charts.lock"], cwd=root)
    assert proc.returncode == 1
    assert "  disagrees: vendored, but absent from the old lock (charts.lock)" in proc.stdout
    assert "5 chart(s) adopted into versions.lock, 0 skipped, 4 disagreement(s) with the old records, 0 checksum(s) unverified" in proc.stderr


@pytest.mark.oci
def test_import_checks_checksums_against_an_oci_registry(tmp_path: Path, oci_registry) -> None:
    """For an `oci://` repository the published digest is the chart layer's (the archive's sha256)."""
    ns = "t" + uuid.uuid4().hex[:10]
    src = tmp_path / "src"
    pushed = {}
    for name in ("good", "bad"):
        folder = write_chart(src, name, "1.0.0", folder=name)
        pushed[name] = oci_registry.push_chart(package_chart(folder, tmp_path / "pkg"), ns)
    root = tmp_path / "deploy"
    for name in ("good", "bad"):
        shutil.copytree(src / name, root / EXT / f"{name}-1.0.0")
    (root / "helmfile").mkdir(exist_ok=True)
    (root / "chartkeeper.yaml").write_text(f"plainHttp: [{oci_registry.host}]\nretries: 1\n")
    repo = f"oci://{oci_registry.host}/{ns}"
    (root / "charts.json").write_text(json.dumps({"repositories": {"r": repo},
                                                  "charts": {"good": {"repository": "r", "version": "1.0.0"},
                                                             "bad": {"repository": "r", "version": "1.0.0"}}}))
    (root / "charts.lock").write_text(f"r/good,1.0.0,{pushed['good']['layer']},\nr/bad,1.0.0,sha256:{'1' * 64},\n")
    proc = invoke_cli(["import", "--charts-json", "charts.json", "--csv-lock", "charts.lock", "--json"], cwd=root)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    notes = {a["entry"]["name"]: a["disagreements"] for a in data["adopted"]}
    assert notes["good"] == []
    assert len(notes["bad"]) == 1 and f"publishes for bad 1.0.0 ({pushed['bad']['layer']})" in notes["bad"][0]
    lock = load_lock(root / EXT / "versions.lock")
    assert lock.require("good").digest == pushed["good"]["layer"]
    assert lock.require("bad").digest == pushed["bad"]["layer"]
