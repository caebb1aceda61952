"""The built-in offline demo: the repository built from examples/demo and `check` on the demo deployment."""

from __future__ import annotations

import json
import shutil
import tarfile
import threading
import time
from pathlib import Path

from chartkeeper import yamlio
from tests.support import demo
from tests.support.charts import sha256_file
from tests.support.deployment import git
from tests.support.harness import invoke_cli

REPO = Path(__file__).resolve().parents[1]
CHARTS = REPO / "examples" / "demo" / "charts"


def test_build_is_a_valid_deterministic_repository(tmp_path: Path) -> None:
    index = demo.build_repository(CHARTS, tmp_path / "a")
    demo.build_repository(CHARTS, tmp_path / "b")
    assert index.read_bytes() == (tmp_path / "b" / "index.yaml").read_bytes()
    entries = yamlio.load_file(index)["entries"]
    assert [e["version"] for e in entries["demo-operator"]] == ["v2.0.0", "v1.2.0", "v1.1.0", "v1.0.0"]
    assert entries["demo-web"][0]["version"] == "2.0.0-rc.1"
    for items in entries.values():
        for e in items:
            archive = tmp_path / "a" / e["urls"][0]
            assert sha256_file(archive) == "sha256:" + e["digest"]
            with tarfile.open(archive) as tar:
                names = tar.getnames()
            assert f"{e['name']}/Chart.yaml" in names and all(n.startswith(e["name"] + "/") for n in names)


def test_check_on_the_demo_deployment(tmp_path: Path) -> None:
    demo.build_repository(CHARTS, tmp_path / "repo")
    url_file = tmp_path / "url"
    server = threading.Thread(target=demo.serve, args=(tmp_path / "repo", url_file), daemon=True)
    server.start()
    for _ in range(100):
        if url_file.exists():
            break
        time.sleep(0.05)
    deploy = tmp_path / "deployment"
    shutil.copytree(REPO / "examples" / "demo" / "deployment", deploy)
    (deploy / "chartkeeper.yaml").write_text(f"mirrors:\n  https://charts.example.invalid/demo: {url_file.read_text().strip()}\n")
    proc = invoke_cli(["check", "--json"], cwd=deploy)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)["charts"]}
    assert (rows["demo-operator"]["wanted"], rows["demo-operator"]["latest"]) == ("v1.2.0", "v2.0.0")
    assert (rows["demo-web"]["wanted"], rows["demo-web"]["latest"]) == ("1.0.1", "1.1.0")
    assert rows["demo-web"]["published"]["wanted"] == "2025-06-30T12:00:00Z"


def test_demo_serve_brings_a_kept_demo_back_and_bump_still_works(tmp_path: Path) -> None:
    """`KEEP=1 scripts/demo.sh` keeps a committed deployment whose mirror names the stopped demo
    server; `scripts/demo.sh serve DIR` serves the kept repository again on the port that mirror
    records, leaving the committed chartkeeper.yaml alone, so `bump` there still works."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    kept = tmp_path / "kept"
    demo.build_repository(CHARTS, kept / "repo")
    deploy = kept / "deployment"
    shutil.copytree(REPO / "examples" / "demo" / "deployment", deploy)
    with socket.socket() as probe:  # a port nothing listens on now, as the stopped demo server's
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = f"# The lock names the real upstream.\nmirrors:\n  https://charts.example.invalid/demo: http://127.0.0.1:{port}\n"
    (deploy / "chartkeeper.yaml").write_text(config)
    proc = subprocess.Popen(["bash", str(REPO / "scripts" / "demo.sh"), "serve", str(kept)], env=dict(os.environ, PYTHON=sys.executable),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        for _ in range(200):
            if (kept / "url").is_file():
                break
            time.sleep(0.05)
        assert (kept / "url").read_text() == f"http://127.0.0.1:{port}\n"
        assert (deploy / "chartkeeper.yaml").read_text() == config
        sync = invoke_cli(["sync"], cwd=deploy)
        assert sync.returncode == 0, sync.stderr
        git(deploy, "init", "-q", "-b", "main")
        git(deploy, "add", "-A")
        git(deploy, "commit", "-q", "-m", "kept demo")
        bump = invoke_cli(["bump", "demo-web", "1.1.0"], cwd=deploy)
        assert bump.returncode == 0, bump.stdout + bump.stderr
        assert git(deploy, "rev-parse", "--verify", "chartkeeper/demo-web-1.1.0")
        assert git(deploy, "status", "--porcelain") == ""
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    bad = subprocess.run(["bash", str(REPO / "scripts" / "demo.sh"), "serve", str(tmp_path / "nothing")], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a kept demo folder" in bad.stderr
