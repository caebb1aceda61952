"""The README's offline example, bump step: the demo deployment as a git repository, bumped on a branch."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

from tests.support import demo
from tests.support.harness import git_state, invoke_cli

REPO = Path(__file__).resolve().parents[1]


def test_demo_bump_end_to_end(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")
    demo.build_repository(REPO / "examples" / "demo" / "charts", tmp_path / "repo")
    url_file = tmp_path / "url"
    threading.Thread(target=demo.serve, args=(tmp_path / "repo", url_file), daemon=True).start()
    for _ in range(100):
        if url_file.exists() and url_file.read_text().strip():
            break
        time.sleep(0.05)
    deploy = tmp_path / "deployment"
    shutil.copytree(REPO / "examples" / "demo" / "deployment", deploy)
    (deploy / "helmfile/charts/external/.gitkeep").unlink(missing_ok=True)
    (deploy / "chartkeeper.yaml").write_text(f"mirrors:\n  https://charts.example.invalid/demo: {url_file.read_text().strip()}\n")
    assert invoke_cli(["sync"], cwd=deploy).returncode == 0
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "demo deployment"]):
        subprocess.run(["git", *args], cwd=deploy, check=True)
    before = git_state(deploy)

    proc = invoke_cli(["bump", "demo-operator", "--json"], cwd=deploy)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert (res["old"], res["new"], res["branch"]) == ("v1.0.0", "v1.2.0", "chartkeeper/demo-operator-v1.2.0")
    assert res["report"] == "reports/demo-operator/v1.0.0-to-v1.2.0.md" and res["ready"] is True, res
    assert git_state(deploy) == before
    report = subprocess.run(
        ["git", "show", f"{res['branch']}:{res['report']}"], cwd=deploy, capture_output=True, text=True, check=True
    ).stdout
    assert report.startswith("# Upgrade report: demo-operator v1.0.0 → v1.2.0")
    hf = subprocess.run(["git", "show", f"{res['branch']}:helmfile/helmfile.yaml"], cwd=deploy, capture_output=True, text=True).stdout
    assert "chart: ./charts/external/demo-operator-v1.2.0\n" in hf and "demo-web-1.0.0" in hf
