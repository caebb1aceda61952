"""`chartkeeper lint` on the repository's deployment tree and on broken copies of it.

Each broken copy changes one thing the way a person would (a path, a value, a patch) and must
produce the finding that names it; the intact tree passes with the external charts reported as
not vendored yet.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chartkeeper.findings import Severity
from chartkeeper.settings import load_settings
from tests.support.charts import write_chart
from tests.support.harness import invoke_cli

ROOT = Path(__file__).resolve().parent.parent
PINNED = {"csi-driver-nfs", "flux2", "gpu-operator", "harbor", "keycloak", "kube-prometheus-stack", "loki-stack", "mpi-operator"}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the deployment tree (helmfile/ and patches/) to break."""
    shutil.copytree(ROOT / "helmfile", tmp_path / "helmfile")
    shutil.copytree(ROOT / "patches", tmp_path / "patches")
    return tmp_path


def _lint(root: Path, envs: list[str] | None = None):
    from chartkeeper.lint import lint

    return lint(load_settings(root), envs)


def _codes(report, severity: Severity | None = None) -> set[str]:
    return {f.code for f in report.findings if severity is None or f.severity is severity}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return invoke_cli(["-C", str(root), "lint", *args], cwd=root)


# --- the intact tree -------------------------------------------------------------------------------


def test_the_repository_tree_passes_with_external_charts_not_vendored() -> None:
    report = _lint(ROOT)
    problems = [f for f in report.findings if f.severity is not Severity.INFO]
    assert problems == [], "\n".join(f"{f.code}: {f.message}" for f in problems)
    not_vendored = [f for f in report.findings if f.code == "lint.not-vendored"]
    assert {f.path for f in not_vendored} == PINNED
    assert report.environments == ("default", "dev", "stage", "prod")
    assert len(report.releases) == 10
    # the custom charts were really linted and rendered in every environment
    for env in report.environments:
        assert f"render astrago/astrago ({env})" in report.checked
        assert f"render monitoring/gpu-process-exporter ({env})" in report.checked
        assert f"schema values ({env})" in report.checked
    assert not report.has_problems


def test_cli_json_and_exit_code_on_the_intact_tree(tree: Path) -> None:
    out = _cli(tree, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is True and data["version"] == 1
    assert data["counts"]["breaking"] == 0 and data["counts"]["review"] == 0
    assert {f["code"] for f in data["findings"]} == {"lint.not-vendored"}
    human = _cli(tree)
    assert human.returncode == 0
    assert "not vendored yet" in human.stdout and "- ok" in human.stdout


def test_cli_errors_exit_2(tree: Path) -> None:
    out = _cli(tree, "--env", "qa")
    assert out.returncode == 2
    assert "qa" in out.stderr and "not defined" in out.stderr
    (tree / "helmfile/charts/external/versions.lock").write_text("version: 1\ncharts:\n  - name: x\n")
    out = _cli(tree)
    assert out.returncode == 2 and "charts[0]" in out.stderr


# --- broken copies -------------------------------------------------------------------------------


def test_release_pointing_at_a_missing_folder(tree: Path) -> None:
    _edit(tree / "helmfile/releases/applications/astrago.yaml", "../../charts/custom/astrago", "../../charts/custom/astrago-core")
    report = _lint(tree, ["dev"])
    found = [f for f in report.findings if f.code == "lint.missing-chart"]
    assert found and "astrago/astrago" in found[0].message and "astrago-core" in found[0].message
    assert found[0].file == "helmfile/releases/applications/astrago.yaml" and found[0].line == 4
    out = _cli(tree, "--env", "dev")
    assert out.returncode == 1


def test_release_pointing_at_an_unpinned_external_folder(tree: Path) -> None:
    _edit(tree / "helmfile/releases/infrastructure/gpu-operator.yaml", "gpu-operator-v25.3.2", "gpu-operator-v26.3.0")
    report = _lint(tree)
    unpinned = [f for f in report.findings if f.code == "lint.unpinned-chart"]
    assert unpinned and "gpu-operator-v26.3.0" in unpinned[0].message
    # the pin lost its only release
    assert any(f.code == "lint.unused-pin" and f.path == "gpu-operator" for f in report.findings)


def test_remote_chart_is_refused(tree: Path) -> None:
    _edit(tree / "helmfile/releases/registry/harbor.yaml", "../../charts/external/harbor-1.13.1", "harbor/harbor")
    assert "lint.remote-chart" in _codes(_lint(tree, ["prod"]), Severity.BREAKING)


def test_schema_violation_in_one_environment(tree: Path) -> None:
    _edit(tree / "helmfile/environments/stage/values.yaml", "replicas: 2", 'replicas: "two"')
    report = _lint(tree)
    violations = [f for f in report.findings if f.code == "lint.schema-violation"]
    assert [(f.env, f.path) for f in violations] == [("stage", "astrago.replicas")]
    assert "'two' is not of type 'integer'" in violations[0].message


def test_schema_catches_an_unknown_environment_key(tree: Path) -> None:
    _edit(tree / "helmfile/environments/prod/values.yaml", "  highAvailability:", "  highAvailabilty:")
    report = _lint(tree, ["prod"])
    assert any(f.code == "lint.schema-violation" and "highAvailabilty" in f.message for f in report.findings)


def test_override_of_a_nonexistent_key_in_a_custom_chart(tree: Path) -> None:
    tpl = tree / "helmfile/values/templates/gpu-process-exporter.yaml.gotmpl"
    tpl.write_text(tpl.read_text() + "serviceMonitor:\n  scrapeTimeout: 10s\n".replace("serviceMonitor:\n", "serviceMonitr:\n"))
    report = _lint(tree, ["dev"])
    unknown = [f for f in report.findings if f.code == "values.unknown-key"]
    assert unknown, [f.code for f in report.findings]
    assert unknown[0].path == "serviceMonitr"
    assert unknown[0].file == "helmfile/values/templates/gpu-process-exporter.yaml.gotmpl" and unknown[0].line
    assert unknown[0].env == "dev" and unknown[0].severity is Severity.BREAKING


def test_patch_on_a_missing_target(tree: Path) -> None:
    patches = tree / "patches/astrago"
    patches.mkdir()
    (patches / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\npatches:\n"
        "  - path: worker-replicas.yaml\n    target:\n      kind: Deployment\n      name: astrago-worker\n"
        "  - path: core-annotations.yaml\n    target:\n      kind: Deployment\n      name: astrago\n"
    )
    (patches / "worker-replicas.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: astrago-worker\nspec:\n  replicas: 2\n")
    (patches / "core-annotations.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: astrago\n  annotations:\n    astrago.io/patched: \"true\"\n"
    )
    release = tree / "helmfile/releases/applications/astrago.yaml"
    release.write_text(
        release.read_text()
        + "    postRenderer: ../../../patches/kustomize-post-renderer.sh\n    postRendererArgs:\n      - ../../../patches/astrago\n"
    )
    report = _lint(tree, ["prod"])
    missing = [f for f in report.findings if "target" in f.code and f.severity is Severity.BREAKING]
    assert missing, [(f.code, f.message) for f in report.findings]
    assert all("astrago-worker" in (f.message + str(f.path)) for f in missing)
    assert not any("core-annotations" in f.message for f in missing)


def test_patch_folder_not_wired_and_missing_patch_file(tree: Path) -> None:
    _edit(tree / "helmfile/releases/infrastructure/gpu-operator.yaml", "    postRenderer:", "    # postRenderer:")
    _edit(tree / "helmfile/releases/infrastructure/gpu-operator.yaml", "    postRendererArgs:\n      - ../../../patches/gpu-operator\n", "")
    (tree / "patches/kube-prometheus-stack/prometheus-additional-scrape-configs.yaml").unlink()
    report = _lint(tree)
    assert any(f.code == "lint.patch-not-wired" and "gpu-operator" in f.message for f in report.findings)
    assert any(
        f.code == "lint.missing-file" and "prometheus-additional-scrape-configs.yaml" in f.message for f in report.findings
    )


def test_vendored_chart_release_without_skip_deps(tree: Path) -> None:
    # vendor a (test-made) chart into csi-driver-nfs's pinned folder with the keys our values set
    values = (ROOT / "helmfile/values/templates/csi-driver-nfs.yaml.gotmpl").read_text()
    assert "storageClass:" in values
    write_chart(
        tree / "helmfile/charts/external",
        "csi-driver-nfs",
        "4.11.0",
        folder="csi-driver-nfs-4.11.0",
        values={
            "image": {k: {"repository": ""} for k in ("nfs", "csiProvisioner", "csiResizer", "csiSnapshotter", "livenessProbe", "nodeDriverRegistrar", "externalSnapshotter")} | {"baseRepo": ""},
            "imagePullSecrets": [],
            "controller": {"replicas": 1},
            "storageClass": {"create": False, "name": "", "annotations": {}, "parameters": {}, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate", "mountOptions": []},
        },
        templates={"sc.yaml": "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: {{ .Values.storageClass.name }}\nprovisioner: nfs.csi.k8s.io\n"},
    )
    report = _lint(tree, ["dev"])
    assert "lint.skipdeps-missing" not in _codes(report)
    assert not any(f.code == "lint.not-vendored" and f.path == "csi-driver-nfs" for f in report.findings)
    assert "render kube-system/csi-driver-nfs (dev)" in report.checked

    _edit(tree / "helmfile/releases/infrastructure/_base.yaml", "  skipDeps: true", "  skipDeps: false")
    report = _lint(tree, ["dev"])
    found = [f for f in report.findings if f.code == "lint.skipdeps-missing"]
    assert [f.message.split(" uses")[0] for f in found] == ["release kube-system/csi-driver-nfs"]
    assert found[0].severity is Severity.BREAKING
    # not vendored charts of the same tier are not flagged: helmfile never touches a missing folder
    _edit(tree / "helmfile/releases/infrastructure/csi-driver-nfs.yaml", "    labels:", "    skipDeps: true\n    labels:")
    assert "lint.skipdeps-missing" not in _codes(_lint(tree, ["dev"]))


def test_stale_folder_and_unused_pin(tree: Path) -> None:
    (tree / "helmfile/charts/external/gpu-operator-v24.9.2").mkdir()
    _edit(tree / "helmfile/releases/applications/_base.yaml", "  - mpi-operator.yaml\n", "")
    report = _lint(tree)
    assert any(f.code == "lint.stale-folder" and "gpu-operator-v24.9.2" in f.message for f in report.findings)
    assert [f.path for f in report.findings if f.code == "lint.unused-pin"] == ["mpi-operator"]


def test_missing_values_file(tree: Path) -> None:
    (tree / "helmfile/values/templates/harbor.yaml.gotmpl").unlink()
    report = _lint(tree, ["dev"])
    assert report.has_problems
    bad = [f for f in report.findings if f.severity is Severity.BREAKING]
    assert any("harbor.yaml.gotmpl" in f.message for f in bad), [(f.code, f.message) for f in bad]


def test_plaintext_secret_is_flagged_without_printing_it(tree: Path) -> None:
    (tree / "helmfile/environments/dev/secrets.yaml").write_text("astrago:\n  databasePassword: hunter2-canary\n")
    report = _lint(tree, ["dev"])
    found = [f for f in report.findings if f.code == "lint.secret-not-encrypted"]
    assert found and "astrago.databasePassword" in found[0].message
    out = _cli(tree, "--json", "--env", "dev")
    assert out.returncode == 1
    assert "hunter2-canary" not in out.stdout + out.stderr
    assert "lint.secret-not-encrypted" in out.stdout


def test_custom_chart_that_does_not_render(tree: Path) -> None:
    _edit(tree / "helmfile/charts/custom/astrago/templates/service.yaml", "{{ .Values.service.port }}", "{{ .Values.service.port | required }}")
    report = _lint(tree, ["stage"])
    assert {"lint.chart-lint"} <= _codes(report, Severity.BREAKING) or {"lint.render-failed"} <= _codes(report, Severity.BREAKING)


def test_tier_environment_layering_that_drifted(tree: Path) -> None:
    # the tier helmfiles layer .helmfile/environments.yaml; forget dev's own file there
    _edit(tree / "helmfile/.helmfile/environments.yaml", "      - ../../environments/dev/values.yaml\n", "")
    report = _lint(tree, ["dev", "prod"])
    drift = [f for f in report.findings if f.code == "lint.environment-mismatch"]
    assert drift and {f.env for f in drift} == {"dev"}


def test_without_a_lock_every_external_release_is_unpinned(tree: Path) -> None:
    (tree / "helmfile/charts/external/versions.lock").unlink()
    report = _lint(tree, ["dev"])
    unpinned = {f.message.split()[1] for f in report.findings if f.code == "lint.unpinned-chart"}
    assert unpinned == {
        "kube-system/csi-driver-nfs", "gpu-operator/gpu-operator", "flux-system/flux", "monitoring/prometheus",
        "monitoring/loki-stack", "keycloak/keycloak", "harbor/harbor", "mpi-operator/mpi-operator",
    }
    assert "lint.not-vendored" not in _codes(report)


def test_human_output_keeps_bracketed_paths(tree: Path) -> None:
    import os

    out = subprocess.run(
        [sys.executable, "-m", "chartkeeper", "-C", str(tree), "lint", "--env", "dev"],
        capture_output=True, text=True, env=dict(os.environ, COLUMNS="300"),
    )
    assert "[helmfile/charts/external/versions.lock]" in out.stdout  # not eaten as rich markup


def test_a_site_that_enables_its_encrypted_secrets_still_lints_clean(tree: Path) -> None:
    """The documented way to enable secrets.yaml (docs/deployment.md, "Secrets") keeps lint green."""
    _edit(tree / "helmfile/helmfile.yaml", "      - environments/dev/values.yaml\n", "      - environments/dev/values.yaml\n    secrets:\n      - environments/dev/secrets.yaml\n")
    _edit(
        tree / "helmfile/.helmfile/environments.yaml",
        "      - ../../environments/dev/values.yaml\n",
        "      - ../../environments/dev/values.yaml\n    secrets:\n      - ../../environments/dev/secrets.yaml\n",
    )
    report = _lint(tree, ["dev"])
    assert not report.has_problems, [(f.code, f.message) for f in report.findings if f.severity is not Severity.INFO]


def test_a_local_chart_in_a_folder_named_like_a_patch_folder_gets_no_patches(tree: Path) -> None:
    """`patches/gpu-operator/` belongs to the gpu-operator release (its postRendererArgs say so), not to a
    local chart that happens to live in a folder named `gpu-operator`."""
    write_chart(tree / "helmfile/charts/custom", "gpu-operator-addons", "0.1.0", folder="gpu-operator", templates={
        "deployment.yaml": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-exporter\n"
            "spec:\n  selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: x}}\n"
            "    spec:\n      containers: [{name: x, image: registry.example/x:1}]\n"
        ),
    })
    release = tree / "helmfile/releases/applications/astrago.yaml"
    release.write_text(release.read_text() + (
        "  - name: gpu-operator-addons\n    namespace: gpu-operator\n    chart: ../../charts/custom/gpu-operator\n"
    ))
    report = _lint(tree, ["prod"])
    assert any("gpu-operator-addons" in c for c in report.checked), report.checked
    assert not any(c.startswith("patches ") and "gpu-operator-addons" in c for c in report.checked)
    assert not [f for f in report.findings if f.code.startswith("patch.")], [f.message for f in report.findings]
