"""`add`, `sync`, `verify` and `bundle` end to end against real loopback HTTP and OCI repositories."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

from chartkeeper.lockfile import load_lock
from chartkeeper.vendoring.treesum import tree_checksum
from tests.support.charts import build_index, package_chart, write_chart
from tests.support.harness import assert_clean_failure, invoke_cli, leftovers, popen_cli, tree_state
from tests.support.httpserver import ChartRepoServer

EXT = Path("helmfile/charts/external")
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-%s\ndata:\n  v: {{ .Values.v | quote }}\n"


def _deploy(tmp_path: Path) -> Path:
    root = tmp_path / "deploy"
    (root / EXT).mkdir(parents=True)
    return root


def _publish(repo: Path, name: str, version: str, *, deps: list[dict] | None = None, embed: list[Path] = (), v: str = "x") -> Path:
    src = write_chart(repo.parent / f"src-{uuid.uuid4().hex[:6]}", name, version, values={"v": v},
                      templates={"cm.yaml": CM % name}, dependencies=deps or [], app_version=f"app-{version}")
    if embed:
        (src / "charts").mkdir()
        for e in embed:
            package_chart(e, src / "charts")
    return package_chart(src, repo)


def _lock(root: Path):
    return load_lock(root / EXT / "versions.lock")


def _tgz_requests(server: ChartRepoServer) -> list[str]:
    return [p for p in server.paths_requested() if p.endswith(".tgz")]


def test_add_from_http_with_embedded_subchart_then_sync_is_idempotent(repo_server: ChartRepoServer, tmp_path: Path) -> None:
    sub = write_chart(tmp_path / "subsrc", "redis", "17.1.0", values={"v": "sub"}, templates={"cm.yaml": CM % "redis"})
    _publish(repo_server.root, "webapp", "v1.2.0", deps=[{"name": "redis", "version": "~17.1", "repository": "https://charts.example.invalid"}], embed=[sub])
    build_index(repo_server.root)
    root = _deploy(tmp_path)
    proc = invoke_cli(["add", "webapp", "--repo", repo_server.url, "--version", "v1.2.0", "--constraint", "v1.x", "--json"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    entry = _lock(root).require("webapp")
    folder = root / EXT / "webapp-v1.2.0"
    assert entry.path == "webapp-v1.2.0" and entry.constraint == "v1.x" and entry.app_version == "app-v1.2.0"
    assert entry.digest == "sha256:" + hashlib.sha256((repo_server.root / "webapp-v1.2.0.tgz").read_bytes()).hexdigest()
    assert entry.tree_checksum == tree_checksum(folder)
    assert [(s.name, s.version, s.repository) for s in entry.subcharts] == [("redis", "17.1.0", "https://charts.example.invalid")]
    assert (folder / "charts" / "redis" / "Chart.yaml").is_file() and not list((folder / "charts").glob("*.tgz"))
    assert "repository: file://charts/redis" in (folder / "Chart.yaml").read_text()
    assert json.loads(proc.stdout)["treeChecksum"] == entry.tree_checksum

    before = tree_state(root)
    fetched = len(_tgz_requests(repo_server))
    proc = invoke_cli(["sync"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "webapp: ok (v1.2.0, verified)" in proc.stdout
    assert len(_tgz_requests(repo_server)) == fetched  # a verified chart is not fetched again
    assert tree_state(root) == before

    shutil.rmtree(folder)  # a wiped folder comes back byte for byte from the lock
    proc = invoke_cli(["sync", "--json"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["charts"][0]["action"] == "vendored"
    assert tree_state(root) == before
    assert invoke_cli(["verify"], cwd=root).returncode == 0

    proc = invoke_cli(["add", "webapp", "--repo", repo_server.url, "--version", "v1.2.0"], cwd=root)
    assert_clean_failure(proc, "webapp is already pinned")


def test_wrong_published_digest_writes_nothing(repo_server: ChartRepoServer, tmp_path: Path) -> None:
    _publish(repo_server.root, "demo", "1.0.0")
    index = build_index(repo_server.root)
    data = yaml.safe_load(index.read_text())
    data["entries"]["demo"][0]["digest"] = "0" * 64
    index.write_text(yaml.safe_dump(data))
    root = _deploy(tmp_path)
    before = tree_state(root)
    proc = invoke_cli(["add", "demo", "--repo", repo_server.url, "--version", "1.0.0"], cwd=root)
    line = assert_clean_failure(proc, "sha256:" + "0" * 64)
    real = "sha256:" + hashlib.sha256((repo_server.root / "demo-1.0.0.tgz").read_bytes()).hexdigest()
    assert real in line
    assert tree_state(root) == before
    assert leftovers(root) == []


def test_sync_refuses_an_archive_that_changed_since_it_was_pinned(repo_server: ChartRepoServer, tmp_path: Path) -> None:
    _publish(repo_server.root, "demo", "1.0.0", v="original")
    build_index(repo_server.root)
    root = _deploy(tmp_path)
    assert invoke_cli(["add", "demo", "--repo", repo_server.url, "--version", "1.0.0"], cwd=root).returncode == 0
    pinned = _lock(root).require("demo").digest
    (root / EXT / "demo-1.0.0" / "values.yaml").write_text("v: edited by hand\n")
    for p in repo_server.root.glob("*.tgz"):
        p.unlink()
    _publish(repo_server.root, "demo", "1.0.0", v="republished")  # same version, other bytes
    build_index(repo_server.root)
    before = tree_state(root)
    proc = invoke_cli(["sync"], cwd=root)
    line = assert_clean_failure(proc, "demo", f"does not match the pinned {pinned}")
    assert "archive digest sha256:" in line
    assert line.startswith("error: demo: demo 1.0.0 archive digest"), line  # the chart named once, not "demo: demo:"
    assert tree_state(root) == before  # the drifted folder is left as it was, the lock unchanged
    assert leftovers(root) == []


def test_add_from_oci_and_subchart_missing_from_archive_fetched_from_oci(
    oci_registry, repo_server: ChartRepoServer, tmp_path: Path
) -> None:
    ns = "t" + uuid.uuid4().hex[:8]
    pkg = tmp_path / "pkg"
    nfd = write_chart(tmp_path / "nfdsrc", "node-feature-discovery", "0.17.3", values={"v": "nfd"},
                      templates={"cm.yaml": CM % "nfd"})
    oci_registry.push_chart(package_chart(nfd, pkg), ns)
    oci_registry.push_chart(_publish(pkg, "gpu-operator", "v26.3.0"), ns)
    # HTTP parent whose archive lacks its OCI-hosted dependency (like gpu-operator -> nfd)
    oci_repo = f"oci://{oci_registry.host}/{ns}"
    _publish(repo_server.root, "gpu-stack", "v26.3.0", deps=[{"name": "node-feature-discovery", "version": "0.17.x", "repository": oci_repo, "condition": "nfd.enabled"}])
    build_index(repo_server.root)
    root = _deploy(tmp_path)

    proc = invoke_cli(["add", "gpu-operator", "--repo", oci_repo, "--version", "v26.3.0"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    e = _lock(root).require("gpu-operator")
    assert e.repository == oci_repo and e.digest and e.tree_checksum == tree_checksum(root / EXT / "gpu-operator-v26.3.0")

    proc = invoke_cli(["add", "gpu-stack", "--repo", repo_server.url, "--version", "v26.3.0"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    s = _lock(root).require("gpu-stack")
    nfd_digest = "sha256:" + hashlib.sha256((pkg / "node-feature-discovery-0.17.3.tgz").read_bytes()).hexdigest()
    assert [(x.name, x.version, x.digest, x.repository) for x in s.subcharts] == [("node-feature-discovery", "0.17.3", nfd_digest, oci_repo)]
    folder = root / EXT / "gpu-stack-v26.3.0"
    assert "repository: file://charts/node-feature-discovery" in (folder / "Chart.yaml").read_text()
    helm_python = pytest.importorskip("helm_python")
    rendered = helm_python.Chart.load(str(folder)).render({"nfd": {"enabled": True}}, name="gpu", namespace="gpu-operator")
    assert any("gpu-nfd" in text for text in rendered.values())
    assert invoke_cli(["verify"], cwd=root).returncode == 0

    # Upstream publishes a newer subchart inside the range; re-vendoring from the lock keeps the pinned one.
    newer = write_chart(tmp_path / "nfdsrc2", "node-feature-discovery", "0.17.4", values={"v": "newer"},
                        templates={"cm.yaml": CM % "nfd"})
    oci_registry.push_chart(package_chart(newer, tmp_path / "pkg2"), ns)
    before = tree_state(root)
    shutil.rmtree(folder)
    proc = invoke_cli(["sync", "gpu-stack"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert tree_state(root) == before


def test_bundle_round_trip_into_an_offline_site(repo_server: ChartRepoServer, tmp_path: Path) -> None:
    sub = write_chart(tmp_path / "subsrc", "redis", "17.1.0", templates={"cm.yaml": CM % "redis"})
    _publish(repo_server.root, "webapp", "1.0.0", deps=[{"name": "redis", "version": "17.1.0", "repository": "https://x.invalid"}], embed=[sub])
    _publish(repo_server.root, "other", "v2.0.0")
    build_index(repo_server.root)
    root = _deploy(tmp_path)
    for name, version in (("webapp", "1.0.0"), ("other", "v2.0.0")):
        assert invoke_cli(["add", name, "--repo", repo_server.url, "--version", version], cwd=root).returncode == 0
    proc = invoke_cli(["bundle", str(tmp_path / "carry.tgz"), "--json"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["charts"] == ["other", "webapp"]
    first = (tmp_path / "carry.tgz").read_bytes()
    assert json.loads(proc.stdout)["digest"] == "sha256:" + hashlib.sha256(first).hexdigest()  # hashed as written
    assert invoke_cli(["bundle", str(tmp_path / "again.tgz")], cwd=root).returncode == 0
    assert (tmp_path / "again.tgz").read_bytes() == first  # deterministic

    # The offline site: the deployment repository without the vendored folders, and no upstream.
    repo_server.stop()
    site = tmp_path / "site"
    (site / EXT).mkdir(parents=True)
    shutil.copy(root / EXT / "versions.lock", site / EXT / "versions.lock")
    proc = invoke_cli(["sync", "--from", str(tmp_path / "carry.tgz")], cwd=site)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # progress names the bundle the user gave, never the staging folder it was unpacked into
    assert f"from {tmp_path / 'carry.tgz'}" in proc.stderr and ".chartkeeper-staging" not in proc.stdout + proc.stderr
    assert invoke_cli(["verify"], cwd=site).returncode == 0
    assert (site / EXT / "versions.lock").read_bytes() == (root / EXT / "versions.lock").read_bytes()
    for name in ("webapp-1.0.0", "other-v2.0.0"):
        assert tree_state(site / EXT / name) == tree_state(root / EXT / name)
    assert leftovers(site) == []

    # Unpacked, the bundle is a plain local repository: `add --repo <folder>` reads it.
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    import tarfile

    with tarfile.open(tmp_path / "carry.tgz") as tar:
        tar.extractall(unpacked, filter="data")
    third = tmp_path / "third"
    (third / EXT).mkdir(parents=True)
    proc = invoke_cli(["add", "other", "--repo", (unpacked / "chartkeeper-bundle").as_uri(), "--version", "v2.0.0"], cwd=third)
    assert proc.returncode == 0, proc.stderr
    assert _lock(third).require("other").tree_checksum == _lock(root).require("other").tree_checksum
    # and `sync --from` takes the folder it was unpacked into
    shutil.rmtree(site / EXT / "webapp-1.0.0")
    proc = invoke_cli(["sync", "--from", str(unpacked)], cwd=site)
    assert proc.returncode == 0, proc.stderr
    assert tree_state(site / EXT / "webapp-1.0.0") == tree_state(root / EXT / "webapp-1.0.0")


class _Stall:
    """A fault that holds a download open until released (so a test can kill the client mid-way)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, handler) -> bool:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/gzip")
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        handler.wfile.write(b"\x1f\x8b" + b"\0" * 100)
        handler.wfile.flush()
        self.started.set()
        self.release.wait(30)
        handler.close_connection = True
        return True


def test_sync_killed_mid_download_then_rerun_to_a_clean_state(repo_server: ChartRepoServer, tmp_path: Path) -> None:
    for name in ("alpha", "beta", "gamma"):
        _publish(repo_server.root, name, "1.0.0", v=name)
    build_index(repo_server.root)
    root = _deploy(tmp_path)
    for name in ("alpha", "beta", "gamma"):
        assert invoke_cli(["add", name, "--repo", repo_server.url, "--version", "1.0.0"], cwd=root).returncode == 0
    clean = tree_state(root)
    # alpha stays vendored, beta is being replaced (hand-edited), gamma is gone
    (root / EXT / "beta-1.0.0" / "values.yaml").write_text("v: hand edit\n")
    shutil.rmtree(root / EXT / "gamma-1.0.0")
    stall = _Stall()
    repo_server.faults["/beta-1.0.0.tgz"] = stall
    proc = popen_cli(["sync"], cwd=root)
    try:
        assert stall.started.wait(30), "sync never reached the download"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        stall.release.set()
    # killed mid-download: the old beta folder is untouched and whole, nothing half-written in its place
    assert (root / EXT / "beta-1.0.0" / "values.yaml").read_text() == "v: hand edit\n"
    assert (root / EXT / "beta-1.0.0" / "Chart.yaml").is_file()
    del repo_server.faults["/beta-1.0.0.tgz"]
    # what a kill inside an atomic write of the lock or a manifest leaves
    (root / EXT / ".versions.lock.k1ll3d00.tmp").write_text("version: 1\n")
    (root / EXT / ".treesums" / ".beta.sums.k1ll3d00.tmp").write_text("#")
    proc2 = invoke_cli(["sync"], cwd=root)
    assert proc2.returncode == 0, proc2.stderr
    assert tree_state(root) == clean
    assert leftovers(root) == []
    assert invoke_cli(["verify"], cwd=root).returncode == 0


@pytest.mark.parametrize("kind", ["dotdot", "symlink-etc", "hardlink", "device", "bomb"])
def test_hostile_archive_served_over_http_is_refused_with_nothing_written(repo_server: ChartRepoServer, tmp_path: Path, kind: str) -> None:
    import gzip
    import io
    import tarfile

    from tests.support.charts import raw_archive

    chart_yaml = b"apiVersion: v2\nname: evil\nversion: 1.0.0\n"

    def info(name: str, type_: bytes, link: str = "") -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type, ti.linkname = type_, link
        return ti

    if kind == "bomb":
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
            ti = tarfile.TarInfo("evil/Chart.yaml")
            ti.size = len(chart_yaml)
            tar.addfile(ti, io.BytesIO(chart_yaml))
            big = tarfile.TarInfo("evil/templates/big.yaml")
            big.size = 40 << 20
            tar.addfile(big, io.BytesIO(b"\0" * big.size))
        data = buf.getvalue()
    else:
        member = {
            "dotdot": ("evil/../../../tmp/owned", b"x"),
            "symlink-etc": info("evil/templates/passwd", tarfile.SYMTYPE, "/etc/passwd"),
            "hardlink": info("evil/shadow", tarfile.LNKTYPE, "/etc/shadow"),
            "device": info("evil/null", tarfile.CHRTYPE),
        }[kind]
        data = raw_archive([("evil/Chart.yaml", chart_yaml), member])
    (repo_server.root / "evil-1.0.0.tgz").write_bytes(data)
    build_index(repo_server.root)
    root = _deploy(tmp_path)
    before = tree_state(root)
    proc = invoke_cli(["add", "evil", "--repo", repo_server.url, "--version", "1.0.0"], cwd=root,
                   env={"CHARTKEEPER_MAX_CHART_BYTES": str(16 << 20)})
    assert_clean_failure(proc, "evil-1.0.0.tgz: refused")
    assert tree_state(root) == before and leftovers(root) == []
