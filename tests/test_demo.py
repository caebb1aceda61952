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
from tests.support.harness import run_cli

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
    proc = run_cli(["check", "--json"], cwd=deploy)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)["charts"]}
    assert (rows["demo-operator"]["wanted"], rows["demo-operator"]["latest"]) == ("v1.2.0", "v2.0.0")
    assert (rows["demo-web"]["wanted"], rows["demo-web"]["latest"]) == ("1.0.1", "1.1.0")
    assert rows["demo-web"]["published"]["wanted"] == "2025-06-30T12:00:00Z"
