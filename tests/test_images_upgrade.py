"""Images in upgrades: a bump whose ClusterPolicy moves an operand version lists that image as new (report and
`images.txt` on the branch), and with `images:` mirror settings marks it missing until it is pushed to the
site's registry (the real docker-registry on loopback)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.support.charts import write_chart
from tests.support.deployment import git, make_deployment, publish
from tests.support.harness import invoke_cli
from tests.support.oci import Registry, free_port
from tests.test_images_command import push_image
from tests.test_images_extract import GPU_OPERATOR_TEMPLATES, GPU_OPERATOR_VALUES

NEW_DRIVER = "nvcr.io/nvidia/driver:570.124.06"


@pytest.fixture(autouse=True)
def _no_index_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")


@pytest.fixture
def deploy(repo_server, tmp_path: Path) -> Path:
    new_values = dict(GPU_OPERATOR_VALUES, driver=dict(GPU_OPERATOR_VALUES["driver"], version="570.124.06"))
    charts = [
        write_chart(tmp_path / "src" / "a", "gpu-operator", "v25.3.2", values=GPU_OPERATOR_VALUES, templates=GPU_OPERATOR_TEMPLATES),
        write_chart(tmp_path / "src" / "b", "gpu-operator", "v25.3.4", values=new_values, templates=GPU_OPERATOR_TEMPLATES),
    ]
    publish(repo_server.root, charts)
    return make_deployment(tmp_path / "deploy", repo_server.url, {"gpu-operator": "v25.3.2"})


def _config(root: Path, mirror_host: str, prefix: str) -> None:
    (root / "chartkeeper.yaml").write_text(f"timeout: 5\nretries: 1\nimages:\n  mirror: {mirror_host}/{prefix}\n")
    git(root, "add", "chartkeeper.yaml")
    git(root, "commit", "-q", "-m", "images mirror")


def test_bump_lists_the_new_operand_image_and_marks_it_missing_until_pushed(deploy: Path, oci_registry: Registry) -> None:
    prefix = "site" + uuid.uuid4().hex[:6]
    _config(deploy, oci_registry.host, prefix)
    proc = invoke_cli(["-C", str(deploy), "bump", "gpu-operator", "v25.3.4", "--json"], cwd=deploy,
                   env={"CHARTKEEPER_HELMFILE": "none"})
    assert proc.returncode == 0, proc.stderr
    branch = json.loads(proc.stdout)["branch"]
    stem = "reports/gpu-operator/v25.3.2-to-v25.3.4"
    assert git(deploy, "show", f"{branch}:{stem}.images.txt").splitlines() == [NEW_DRIVER]
    report = json.loads(git(deploy, "show", f"{branch}:{stem}.json"))
    assert report["verdict"] == "breaking"
    mirror = f"{oci_registry.host}/{prefix}/{NEW_DRIVER}"
    assert report["images"]["checked"] is True
    assert report["images"]["new"] == [{
        "image": NEW_DRIVER, "mirror": mirror, "present": False,
        "releases": ["dev/gpu-operator/gpu-operator", "dev/gpu-operator/gpu-operator-canary",
                     "prod/gpu-operator/gpu-operator", "prod/gpu-operator/gpu-operator-canary"],
        "environments": ["dev", "prod"], "sources": ["ClusterPolicy/cluster-policy spec.driver"]}]
    assert [i["image"] for i in report["images"]["dropped"]] == ["nvcr.io/nvidia/driver:550.144.03"]
    missing = [f for f in report["findings"] if f["code"] == "images.missing-from-mirror"]
    assert len(missing) == 1 and missing[0]["severity"] == "breaking"
    assert missing[0]["details"]["copy"] == f"{NEW_DRIVER} {mirror}"
    md = git(deploy, "show", f"{branch}:{stem}.md")
    assert "🔴 **missing**" in md and f"{NEW_DRIVER} {mirror}" in md and "`ClusterPolicy/cluster-policy spec.driver`" in md
    assert "`SOURCE DESTINATION` for `crane copy`" in md
    assert any(a["text"].startswith("Mirror this image the site's registry lacks before deploying") for a in report["actions"])

    # once the site has it, the same analysis marks it present and the finding goes away
    push_image(oci_registry, f"{prefix}/nvcr.io/nvidia/driver", "570.124.06", index=True)
    proc = invoke_cli(["-C", str(deploy), "diff", "gpu-operator", "v25.3.4", "--json"], cwd=deploy,
                   env={"CHARTKEEPER_HELMFILE": "none"})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["images"]["new"][0]["present"] is True
    assert not [f for f in report["findings"] if f["code"].startswith("images.missing")]
    assert report["imagesToMirror"] == [NEW_DRIVER]


def test_diff_without_mapping_does_not_ask_and_check_images_against_a_dead_registry(deploy: Path) -> None:
    proc = invoke_cli(["-C", str(deploy), "diff", "gpu-operator", "v25.3.4", "--json"], cwd=deploy,
                   env={"CHARTKEEPER_HELMFILE": "none"})
    report = json.loads(proc.stdout)
    assert report["images"]["checked"] is False and report["images"]["new"][0]["present"] is None
    assert report["images"]["new"][0]["mirror"] == NEW_DRIVER
    md = invoke_cli(["-C", str(deploy), "diff", "gpu-operator", "v25.3.4", "--format", "md"], cwd=deploy,
                    env={"CHARTKEEPER_HELMFILE": "none"}).stdout
    assert "for `crane copy`" in md and "SOURCE DESTINATION" not in md  # without a mapping: sources only, said so
    # a registry that cannot be reached is never "missing": a review finding with the error
    _config(deploy, f"127.0.0.1:{free_port()}", "mirror")
    proc = invoke_cli(["-C", str(deploy), "diff", "gpu-operator", "v25.3.4", "--json", "--check-images"], cwd=deploy,
                   env={"CHARTKEEPER_HELMFILE": "none"})
    report = json.loads(proc.stdout)
    codes = {f["code"]: f for f in report["findings"]}
    assert "images.missing-from-mirror" not in codes and codes["images.check-failed"]["severity"] == "review"
    assert "refused" in codes["images.check-failed"]["message"]
    # not asked is not lacking: the action says which it is
    (mirror_action,) = [a["text"] for a in report["actions"] if a["text"].startswith("Mirror")]
    assert mirror_action.startswith("Mirror this image the site's registry could not be asked about before deploying"), mirror_action
