"""`chartkeeper check`: the pure assessment table, and the real CLI against real sources."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from chartkeeper.lockfile import LockEntry
from chartkeeper.check.outdated import assess
from chartkeeper.sources.base import ChartRelease, VersionListing
from chartkeeper.sources.credentials import env_key
from chartkeeper.versions import ChartVersion
from tests.support.charts import package_chart, write_chart
from tests.support.harness import assert_clean_failure, invoke_cli
from tests.support.httpserver import ChartRepoServer
from tests.support.repo import make_repo

CSI = ["v4.8.0", "v4.9.0", "v4.10.0", "4.11.0", "4.12.0", "4.13.0", "4.13.4", "4.14.0-rc.1"]


def _listing(versions: list[str]) -> VersionListing:
    rel = [ChartRelease("c", ChartVersion.parse(v), created=f"2025-01-{i + 1:02d}T00:00:00Z") for i, v in enumerate(versions)]
    return VersionListing(tuple(sorted(rel, key=lambda r: r.version, reverse=True)))


@pytest.mark.parametrize(
    "published, current, constraint, pre, wanted, latest, update, behind, status",
    [
        # the csi-driver-nfs case: v-prefix dropped at 4.11.0
        (CSI, "v4.9.0", None, False, "4.13.4", "4.13.4", "minor", 5, "update"),
        (CSI, "v4.9.0", "v4.x", False, "4.13.4", "4.13.4", "minor", 5, "update"),
        (CSI, "v4.9.0", ">=4.9 <5", False, "4.13.4", "4.13.4", "minor", 5, "update"),
        (CSI, "v4.9.0", "~4.9", False, "v4.9.0", "4.13.4", None, 5, "held"),
        (CSI, "v4.9.0", "4.10.x", False, "v4.10.0", "4.13.4", "minor", 5, "update"),
        (CSI, "4.13.4", None, False, "4.13.4", "4.13.4", None, 0, "current"),
        # prereleases only with --pre (or when the constraint names one)
        (CSI, "4.13.4", None, True, "4.14.0-rc.1", "4.14.0-rc.1", "minor", 1, "update"),
        (CSI, "4.13.0", ">=4.14.0-0", False, "4.14.0-rc.1", "4.13.4", "minor", 1, "update"),
        # never a downgrade, even pinned to a prerelease or to something unpublished
        (CSI, "4.14.0-rc.1", None, False, "4.14.0-rc.1", "4.14.0-rc.1", None, 0, "current"),
        (["1.0.0"], "2.0.0", "^2", False, "2.0.0", "2.0.0", None, 0, "current"),
        # caret and tilde across majors
        (["25.3.0", "v25.3.2", "v25.10.1", "26.0.0"], "v25.3.0", "v25.x", False, "v25.10.1", "26.0.0", "minor", 3, "update"),
        (["25.3.0", "v25.3.2", "v25.10.1", "26.0.0"], "v25.3.0", "~25.3", False, "v25.3.2", "26.0.0", "patch", 3, "update"),
        (["61.9.0", "61.9.3", "62.0.0"], "61.9.0", "^61", False, "61.9.3", "62.0.0", "patch", 2, "update"),
        (["1.2.3+build.1", "1.2.4+build.2"], "1.2.3+build.1", None, False, "1.2.4+build.2", "1.2.4+build.2", "patch", 1, "update"),
    ],
)
def test_assess_table(published, current, constraint, pre, wanted, latest, update, behind, status) -> None:
    entry = LockEntry(name="c", chart="c", repository="https://x.invalid", version=current, constraint=constraint)
    row, _, _ = assess(entry, _listing(published), pre=pre)
    assert (row.wanted, row.latest, row.update, row.behind, row.status) == (wanted, latest, update, behind, status)


def test_assess_reports_dates_and_unpublished_pin() -> None:
    entry = LockEntry(name="c", chart="c", repository="r", version="v4.9.5")
    row, _, _ = assess(entry, _listing(CSI), pre=False)
    assert row.wanted_published == "2025-01-07T00:00:00Z" and not row.current_published


# --- the CLI end to end --------------------------------------------------------------------


def _deploy(root: Path, entries: list[dict], config: str = "") -> Path:
    lock = root / "helmfile" / "charts" / "external" / "versions.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lines = ["version: 1", "charts:"]
    for e in entries:
        first = True
        for k, v in e.items():
            lines.append(("  - " if first else "    ") + f'{k}: "{v}"')
            first = False
    lock.write_text("\n".join(lines) + "\n")
    if config:
        (root / "chartkeeper.yaml").write_text(config)
    return root


def _check(root: Path, *args: str, env: dict | None = None, verbose: bool = False):
    return invoke_cli(["-C", str(root), *(["-v"] if verbose else []), "check", *args], cwd=root, env=env)


def _rows(proc) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads(proc.stdout)["charts"]}


@pytest.fixture
def web(repo_server: ChartRepoServer) -> ChartRepoServer:
    make_repo(repo_server.root, {"csi-driver-nfs": CSI, "demo-web": ["1.0.0", "1.0.1", "1.1.0", "2.0.0"]},
              extra={"demo-web-2.0.0": {"created": "2025-10-01T08:00:00Z"}})
    return repo_server


def test_check_http_local_and_oci_together(web: ChartRepoServer, oci_registry, tmp_path: Path) -> None:
    make_repo(tmp_path / "bundle", {"demo-db": ["0.1.0", "0.2.0"]})
    ns = "c" + uuid.uuid4().hex[:8]
    for v in ("v1.0.0", "v1.1.0", "v2.0.0"):
        oci_registry.push_chart(package_chart(write_chart(tmp_path / "src" / v, "demo-operator", v), tmp_path / "pkg"), ns,
                                created=f"2025-0{v[1]}-1{v[3]}T00:00:00Z")
    root = _deploy(tmp_path / "deploy", [
        {"name": "nfs", "chart": "csi-driver-nfs", "repository": web.url, "version": "v4.9.0", "constraint": "v4.x"},
        {"name": "demo-web", "repository": web.url, "version": "1.0.0", "constraint": "~1.0"},
        {"name": "demo-db", "repository": str(tmp_path / "bundle"), "version": "0.2.0"},
        {"name": "demo-operator", "repository": f"oci://{oci_registry.host}/{ns}", "version": "v1.0.0", "constraint": "v1.x"},
    ])
    proc = _check(root, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = _rows(proc)
    assert (rows["nfs"]["wanted"], rows["nfs"]["update"], rows["nfs"]["behind"]) == ("4.13.4", "minor", 5)
    assert rows["demo-web"]["wanted"] == "1.0.1" and rows["demo-web"]["latest"] == "2.0.0"
    assert rows["demo-web"]["published"] == {"wanted": "2025-09-03T10:00:00Z", "latest": "2025-10-01T08:00:00Z"}
    assert rows["demo-db"]["status"] == "current" and rows["demo-db"]["update"] is None
    op = rows["demo-operator"]
    assert (op["wanted"], op["latest"], op["update"], op["latestUpdate"]) == ("v1.1.0", "v2.0.0", "minor", "major")
    assert op["published"] == {"wanted": "2025-01-11T00:00:00Z", "latest": "2025-02-10T00:00:00Z"}
    assert json.loads(proc.stdout)["summary"] == {"total": 4, "updates": 3, "held": 0, "errors": 0}
    # the index of the shared HTTP repository was downloaded once for two charts
    assert web.paths_requested().count("/index.yaml") == 1

    assert _check(root, "--fail-on-update", "--json").returncode == 1
    assert _check(root, "demo-db", "--fail-on-update").returncode == 0

    table = _check(root)
    assert table.returncode == 0
    for text in ("nfs (csi-driver-nfs)", "v4.9.0 [v4.x]", "4.13.4", "demo-operator", "v2.0.0", "2025-09-03"):
        assert text in table.stdout


def test_prereleases_only_with_pre(web: ChartRepoServer, tmp_path: Path) -> None:
    root = _deploy(tmp_path / "d", [{"name": "csi-driver-nfs", "repository": web.url, "version": "4.13.4"}])
    assert _rows(_check(root, "--json"))["csi-driver-nfs"]["status"] == "current"
    assert _rows(_check(root, "--json", "--pre"))["csi-driver-nfs"]["wanted"] == "4.14.0-rc.1"


def test_failing_source_is_reported_and_others_go_on(web: ChartRepoServer, tmp_path: Path) -> None:
    with ChartRepoServer(tmp_path / "broken") as broken, ChartRepoServer(tmp_path / "slow") as slow:
        make_repo(broken.root, {"demo-web": ["1.0.0"]})
        make_repo(slow.root, {"demo-web": ["1.0.0"]})
        broken.faults["/index.yaml"] = lambda h: (h.send_response(500), h.send_header("Content-Length", "0"), h.end_headers(), True)[-1]
        slow.faults["/index.yaml"] = lambda h: (time.sleep(2), False)[-1]
        root = _deploy(tmp_path / "d", [
            {"name": "good", "chart": "demo-web", "repository": web.url, "version": "1.0.0"},
            {"name": "bad", "chart": "demo-web", "repository": broken.url, "version": "1.0.0"},
            {"name": "stuck", "chart": "demo-web", "repository": slow.url, "version": "1.0.0"},
        ], config="retries: 0\ntimeout: 0.5\n")
        started = time.monotonic()
        proc = _check(root, "--json")
        assert time.monotonic() - started < 10
        assert proc.returncode == 2
        rows = _rows(proc)
        assert rows["good"]["status"] == "update" and rows["good"]["wanted"] == "2.0.0"
        assert rows["bad"]["status"] == "error" and "HTTP 500" in rows["bad"]["error"]
        assert rows["stuck"]["status"] == "error" and "timed out" in rows["stuck"]["error"]
        assert_clean_failure(proc, "bad", "stuck", "2 of 3")


def test_malformed_index_is_an_error_row(repo_server: ChartRepoServer, tmp_path: Path) -> None:
    (repo_server.root / "index.yaml").write_text("entries:\n  demo:\n  - name: demo\n    version: {1.0\n")
    root = _deploy(tmp_path / "d", [{"name": "demo", "repository": repo_server.url, "version": "1.0.0"}])
    proc = _check(root)
    assert_clean_failure(proc, "malformed index")
    assert "demo" in proc.stdout and "error" in proc.stdout


def test_unknown_chart_name_and_invalid_lock(web: ChartRepoServer, tmp_path: Path) -> None:
    root = _deploy(tmp_path / "d", [{"name": "demo-web", "repository": web.url, "version": "1.0.0"}])
    assert_clean_failure(_check(root, "ghost"), "ghost", "demo-web")
    lock = root / "helmfile/charts/external/versions.lock"
    lock.write_text(lock.read_text().replace('version: "1.0.0"', 'version: "1.0"'))
    assert_clean_failure(_check(root), "charts[0].version")


def test_auth_401_then_success_with_credentials(web: ChartRepoServer, tmp_path: Path) -> None:
    web.require_auth = ("ci", "Sup3r-secret-pw")
    root = _deploy(tmp_path / "d", [{"name": "demo-web", "repository": web.url, "version": "1.0.0"}], config="retries: 0\n")
    failed = _check(root, verbose=True)
    assert_clean_failure(failed, "HTTP 401")
    assert "Credentials" in failed.stderr  # the hint, with --verbose
    key = env_key(web.url)
    ok = _check(root, "--json", env={key + "_USERNAME": "ci", key + "_PASSWORD": "Sup3r-secret-pw"})
    assert ok.returncode == 0, ok.stderr
    assert "Sup3r-secret-pw" not in ok.stdout + ok.stderr
    statuses = [h.get("Authorization") is not None for _, p, h in web.requests if p == "/index.yaml"]
    assert statuses == [False, True]


def test_mirror_answers_but_the_upstream_is_shown(web: ChartRepoServer, tmp_path: Path) -> None:
    upstream = "https://charts.example.invalid/csi"
    root = _deploy(tmp_path / "d", [{"name": "nfs", "chart": "csi-driver-nfs", "repository": upstream, "version": "v4.9.0"}],
                   config=f"mirrors:\n  {upstream}: {web.url}\n")
    proc = _check(root, "--json")
    assert proc.returncode == 0, proc.stderr
    row = _rows(proc)["nfs"]
    assert row["repository"] == upstream and row["wanted"] == "4.13.4"


def test_warm_run_revalidates_with_304(web: ChartRepoServer, tmp_path: Path) -> None:
    root = _deploy(tmp_path / "d", [{"name": "demo-web", "repository": web.url, "version": "1.0.0"}])
    cold = _check(root, "--json")
    warm = _check(root, "--json")
    assert cold.stdout == warm.stdout
    assert web.not_modified == 1


def test_verbose_counts_invalid_versions(repo_server: ChartRepoServer, tmp_path: Path) -> None:
    make_repo(repo_server.root, {"demo": ["1.0.0", "1.1.0", "nightly", "1.2"]})
    root = _deploy(tmp_path / "d", [{"name": "demo", "repository": repo_server.url, "version": "1.0.0"}])
    proc = _check(root, verbose=True)
    assert proc.returncode == 0
    assert "skipped 2 invalid version(s): " in proc.stderr and "nightly" in proc.stderr
    assert "invalid" not in _check(root).stderr


def test_empty_lock(tmp_path: Path) -> None:
    root = _deploy(tmp_path / "d", [])
    proc = _check(root, "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["charts"] == []


def test_markdown_dependency_dashboard(web: ChartRepoServer, tmp_path: Path) -> None:
    root = _deploy(tmp_path / "d", [
        {"name": "nfs", "chart": "csi-driver-nfs", "repository": web.url, "version": "v4.9.0", "constraint": "~4.9"},
        {"name": "demo-web", "repository": web.url, "version": "1.0.0"},
    ])
    # an upgrade report already written where `bump` puts it: the dashboard links it
    report = root / "reports" / "demo-web" / "1.0.0-to-2.0.0.md"
    report.parent.mkdir(parents=True)
    report.write_text("# Upgrade report\n")
    proc = _check(root, "--format", "md")
    assert proc.returncode == 0, proc.stderr
    md = proc.stdout
    assert md.startswith("## Chart dependency dashboard\n")
    assert "2 charts pinned: 1 with an update, 1 held back by their constraint." in md
    assert "| Chart | Current | Wanted | Latest | Update | Age | Report |" in md
    web_row = next(line for line in md.splitlines() if line.startswith("| demo-web |"))
    assert "`2.0.0`" in web_row and "🔴 major" in web_row and "days |" in web_row
    assert "[1.0.0 → 2.0.0](reports/demo-web/1.0.0-to-2.0.0.md)" in web_row
    nfs_row = next(line for line in md.splitlines() if line.startswith("| nfs (csi-driver-nfs) |"))
    assert "`v4.9.0` `~4.9`" in nfs_row and "held (minor)" in nfs_row and "`4.13.4`" in nfs_row
    # updates come first; --json and --format md together are a usage error
    assert md.index("| demo-web |") < md.index("| nfs (csi-driver-nfs) |")
    both = _check(root, "--format", "md", "--json")
    assert both.returncode == 2 and "--json" in both.stderr


def test_off_a_terminal_tables_use_the_whole_line_and_errors_are_notes_below(web: ChartRepoServer, tmp_path: Path) -> None:
    """CI logs and `| tee`: no 80-column wrapping of URLs and errors; an error is a numbered note."""
    import os
    import subprocess
    import sys

    long_path = "/".join(["a-rather-long-path-segment"] * 4)
    root = _deploy(tmp_path / "d", [
        {"name": "demo-web", "repository": web.url, "version": "1.0.0"},
        {"name": "gone", "chart": "demo-web", "repository": f"{web.url}/{long_path}", "version": "1.0.0"},
    ], config="retries: 0\n")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    proc = subprocess.run([sys.executable, "-m", "chartkeeper", "-C", str(root), "check"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stdout.splitlines()
    gone = [ln for ln in lines if ln.startswith("gone")]
    assert len(gone) == 1 and f"{web.url}/{long_path}" in gone[0] and "see note 1" in gone[0], proc.stdout
    notes = [ln for ln in lines if ln.strip().startswith("1. gone:")]
    assert len(notes) == 1 and "404" in notes[0], proc.stdout  # the whole error, on one line, below the table
    assert max(len(ln) for ln in lines) > 120  # nothing was cut at 80 columns
