"""Malformed and hostile files of the user's own deployment, through every command that reads them.

helmfile files, values files, kustomize patches, the vendored Chart.yaml, chartkeeper.yaml and
versions.lock are broken one at a time (python tags, alias bombs, wrong shapes, tabs, paths
leaving the repository). Each command that reads the file must refuse it naming the file, print
no traceback, run nothing, and write nothing. Refusing means exit 2 with one `error:` line, except
for the commands whose job is to report problems: `lint` and `diff` may instead report a
breaking finding naming the file (lint exits 1), and `verify` reports a vendored file that
changed as drift (exit 1)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.deployment import served_demo_deployment
from tests.support.harness import git_state, invoke_cli

pytestmark = pytest.mark.reliability

PWNED = "/tmp/ck-deployment-pwned"
BOMB = "".join(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}" if i else "x"] * 12) + "]\n" for i in range(9))
PYTAG = f"!!python/object/apply:os.system ['touch {PWNED}']\n"

CASES: dict[str, tuple[str, str, list[list[str]]]] = {
    # kind: (file, new content, commands that read it)
    "helmfile.yaml python tag": ("helmfile/helmfile.yaml", "releases: " + PYTAG, [["releases"], ["values", "demo", "-e", "dev"], ["diff", "demo", "1.1.0"], ["bump", "demo", "1.1.0"], ["lint"]]),
    "helmfile.yaml alias bomb": ("helmfile/helmfile.yaml", BOMB + "releases: []\n", [["releases"], ["diff", "demo", "1.1.0"], ["lint"]]),
    "helmfile.yaml a list": ("helmfile/helmfile.yaml", "- a\n- b\n", [["releases"], ["diff", "demo", "1.1.0"], ["lint"]]),
    "helmfile.yaml releases a mapping": ("helmfile/helmfile.yaml", "releases:\n  demo: {chart: x}\n", [["releases"], ["lint"]]),
    "helmfile.yaml tab indentation": ("helmfile/helmfile.yaml", "releases:\n\t- name: demo\n", [["releases"], ["diff", "demo", "1.1.0"], ["lint"]]),
    "environments.yaml python tag": ("helmfile/environments.yaml", "environments: " + PYTAG, [["releases"], ["values", "demo", "-e", "dev"], ["lint"]]),
    "values file python tag": ("helmfile/values/demo.yaml", "image: " + PYTAG, [["values", "demo", "-e", "dev"], ["diff", "demo", "1.1.0"], ["bump", "demo", "1.1.0"], ["lint"]]),
    "values file alias bomb": ("helmfile/values/demo.yaml", BOMB, [["values", "demo", "-e", "dev"], ["diff", "demo", "1.1.0"], ["lint"]]),
    "values file a list": ("helmfile/values/demo.yaml", "- a\n- b\n", [["values", "demo", "-e", "dev"], ["diff", "demo", "1.1.0"], ["lint"]]),
    "kustomization python tag": ("patches/demo/kustomization.yaml", "resources: " + PYTAG, [["diff", "demo", "1.1.0"]]),
    "kustomization alias bomb": ("patches/demo/kustomization.yaml", BOMB, [["diff", "demo", "1.1.0"]]),
    "kustomization a list": ("patches/demo/kustomization.yaml", "- a\n", [["diff", "demo", "1.1.0"]]),
    "kustomization patch leaving the repository": ("patches/demo/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\npatches:\n  - path: ../../../../../../etc/passwd\n",
        [["diff", "demo", "1.1.0"]]),  # (lint skips patches that no release wires in, as here)
    "vendored Chart.yaml python tag": ("helmfile/charts/external/demo-1.0.0/Chart.yaml", "apiVersion: v2\nname: " + PYTAG, [["diff", "demo", "1.1.0"], ["verify"], ["lint"]]),
    "chartkeeper.yaml python tag": ("chartkeeper.yaml", "timeout: " + PYTAG, [["check"], ["verify"], ["sync"]]),
    "chartkeeper.yaml not a mapping": ("chartkeeper.yaml", "- 1\n", [["check"], ["sync"]]),
    "versions.lock python tag": ("helmfile/charts/external/versions.lock", "version: 1\ncharts: " + PYTAG, [["check"], ["sync"], ["verify"], ["bump", "demo", "1.1.0"], ["diff", "demo", "1.1.0"]]),
    "versions.lock version not a version": ("helmfile/charts/external/versions.lock", None, [["check"], ["sync"], ["bump", "demo", "1.1.0"]]),  # type: ignore[dict-item]
}

MATRIX = [(kind, cmd) for kind, (_, _, cmds) in CASES.items() for cmd in cmds]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory):
    with served_demo_deployment(tmp_path_factory.mktemp("hostile-deploy")) as (_, deploy):
        yield deploy


@pytest.mark.parametrize("kind,argv", MATRIX, ids=[f"{k}-{' '.join(c)}" for k, c in MATRIX])
def test_broken_deployment_file_is_refused_cleanly(template: Path, kind: str, argv: list[str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, reliability) -> None:
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")
    monkeypatch.setenv("CHARTKEEPER_HELMFILE", "none")
    monkeypatch.setenv("CHARTKEEPER_CACHE_DIR", str(tmp_path / "cache"))
    deploy = tmp_path / "deploy"
    shutil.copytree(template, deploy, symlinks=True)
    rel, content, _ = CASES[kind]
    target = deploy / rel
    if content is None:
        content = target.read_text().replace('version: "1.0.0"', 'version: "latest-and-greatest"')
    target.write_text(content)
    before = git_state(deploy)
    with reliability.case("hostile", f"{kind} ({' '.join(argv[:1])})"):
        proc = invoke_cli(argv, cwd=deploy)
        both = proc.stdout + proc.stderr
        detail = f"exit {proc.returncode}\n{both[-2500:]}"
        allowed = {"lint": (1, 2), "diff": (0, 1, 2), "verify": (1, 2)}.get(argv[0], (2,))
        assert proc.returncode in allowed, detail
        assert "Traceback" not in both and "internal error" not in both, detail
        assert Path(rel).name in both, f"the output does not name {rel}\n{detail}"
        if proc.returncode != 2:  # reported as a finding: it must be a breaking one, or drift
            assert ("breaking" in both.lower() and Path(rel).name in both) or "drift" in both, detail
        if proc.returncode == 2:
            assert len([ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]) == 1, detail
        assert not Path(PWNED).exists()
        assert git_state(deploy) == before
