"""The Astrago deployment tree in this repository (helmfile/, patches/): valid, complete, deployable.

Real parts only: the helmfile model reads the tree, the Helm engine renders the custom charts,
and real helm/helmfile/kubectl binaries are used when they are on PATH (skipped otherwise).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from chartkeeper import yamlio
from chartkeeper.lockfile import load_lock, render_lock
from chartkeeper.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
HELMFILE = ROOT / "helmfile"
PATCHES = ROOT / "patches"
ENVS = ["default", "dev", "stage", "prod"]

# The design's release table: name -> (namespace, tier, chart folder relative to helmfile/charts/).
RELEASES = {
    "csi-driver-nfs": ("kube-system", "infrastructure", "external/csi-driver-nfs-4.11.0"),
    "gpu-operator": ("gpu-operator", "infrastructure", "external/gpu-operator-v25.3.2"),
    "flux": ("flux-system", "infrastructure", "external/flux2-2.12.4"),
    "prometheus": ("monitoring", "monitoring", "external/kube-prometheus-stack-45.7.1"),
    "loki-stack": ("monitoring", "monitoring", "external/loki-stack-2.9.10"),
    "gpu-process-exporter": ("monitoring", "monitoring", "custom/gpu-process-exporter"),
    "keycloak": ("keycloak", "security", "external/keycloak-25.2.0"),
    "harbor": ("harbor", "registry", "external/harbor-1.13.1"),
    "mpi-operator": ("mpi-operator", "applications", "external/mpi-operator-1.2.2"),
    "astrago": ("astrago", "applications", "custom/astrago"),
}
CUSTOM = {"astrago": "astrago", "gpu-process-exporter": "monitoring"}


TOOLS = ROOT / ".tools/bin"  # scripts/install-tools.sh puts real helm/helm3/kubectl/helmfile here


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    local = TOOLS / name
    return str(local) if os.access(local, os.X_OK) else None


def _tools_env() -> dict:
    """The environment for subprocesses that look tools up on PATH (the post-renderer runs kubectl)."""
    return dict(os.environ, PATH=f"{os.environ.get('PATH', '')}{os.pathsep}{TOOLS}")


def _yaml_files() -> list[Path]:
    out = []
    for base in (HELMFILE, PATCHES):
        for p in sorted(base.rglob("*")):
            if p.suffix not in (".yaml", ".yml", ".lock") or not p.is_file():
                continue
            if "templates" in p.relative_to(base).parts and "custom" in p.parts:
                continue  # Helm templates are Go templates, checked by rendering
            out.append(p)
    return out


def test_every_yaml_file_of_the_tree_is_valid_yaml() -> None:
    files = _yaml_files()
    assert len(files) > 30
    for f in files:
        docs = yamlio.loads_all(f.read_bytes(), f)
        assert docs and all(d is None or isinstance(d, (dict, list)) for d in docs), f


def test_json_schemas_are_valid() -> None:
    import jsonschema

    schemas = list((HELMFILE / "values/schemas").glob("*.schema.json")) + list((HELMFILE / "charts/custom").glob("*/values.schema.json"))
    assert len(schemas) == 4
    for s in schemas:
        schema = json.loads(s.read_text())
        jsonschema.validators.validator_for(schema).check_schema(schema)


def test_lock_pins_every_external_chart_with_its_upstream() -> None:
    lock = load_lock(HELMFILE / "charts/external/versions.lock")
    assert render_lock(lock) == (HELMFILE / "charts/external/versions.lock").read_text()  # byte-stable
    by_name = {e.name: e for e in lock.entries}
    assert by_name["gpu-operator"].repository == "https://helm.ngc.nvidia.com/nvidia"
    assert by_name["gpu-operator"].version == "v25.3.2"
    assert by_name["keycloak"].repository == "oci://registry-1.docker.io/bitnamicharts"
    assert by_name["harbor"].repository == "https://helm.goharbor.io"
    assert by_name["csi-driver-nfs"].repository == "https://raw.githubusercontent.com/kubernetes-csi/csi-driver-nfs/master/charts"
    externals = {v[2].split("/", 1)[1] for v in RELEASES.values() if v[2].startswith("external/")}
    assert {e.folder for e in lock.entries} == externals
    for e in lock.entries:
        # nothing is vendored in this repository: no invented digests or checksums
        assert e.digest is None and e.tree_checksum is None
        assert e.repository.startswith(("https://", "oci://"))
        assert e.parsed_constraint is not None and e.parsed_constraint.allows(e.parsed_version)
        assert not (HELMFILE / "charts/external" / e.folder).exists()


def test_secrets_files_are_encrypted_examples() -> None:
    for env in ("base", "dev", "stage", "prod"):
        data = yamlio.load_file(HELMFILE / f"environments/{env}/secrets.yaml")
        assert isinstance(data["sops"], dict) and data["sops"]["mac"].startswith("ENC[")
        for key, group in data.items():
            if key != "sops":
                assert all(str(v).startswith("ENC[AES256_GCM,data:") for v in group.values())


# --- the helmfile model reads the tree ----------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    from chartkeeper import helmfile

    return helmfile


@pytest.fixture(scope="module")
def settings():
    return load_settings(ROOT)


def test_environments(model, settings) -> None:
    assert sorted(model.list_environments(settings)) == sorted(ENVS)


@pytest.mark.parametrize("env", ENVS)
def test_tree_parses_in_every_environment(model, settings, env: str) -> None:
    state = model.load_state(settings, env)
    got = {r.name: r for r in state.releases}
    assert set(got) == set(RELEASES)
    for name, (namespace, tier, folder) in RELEASES.items():
        r = got[name]
        assert r.namespace == namespace
        assert dict(r.labels) == {"tier": tier, "app": name}
        assert r.chart_path == (HELMFILE / "charts" / folder).resolve()
        assert r.active
        assert r.skip_deps is True  # from the tier's helmDefaults
        values = [v for v in r.values if v.path is not None]
        assert [v.path for v in values] == [(HELMFILE / f"values/templates/{name}.yaml.gotmpl").resolve()]
    assert got["loki-stack"].needs == ("monitoring/prometheus",)
    assert got["gpu-process-exporter"].needs == ("monitoring/prometheus",)
    assert got["astrago"].needs == ("mpi-operator/mpi-operator",)
    # tiers in install order, releases in their files' order
    order = [r.name for r in state.releases]
    assert order.index("csi-driver-nfs") < order.index("prometheus") < order.index("keycloak") < order.index("harbor") < order.index("astrago")
    assert state.helm_defaults.get("skipDeps") is True
    for name, chart in (("gpu-operator", "gpu-operator"), ("prometheus", "kube-prometheus-stack")):
        r = got[name]
        assert (r.base_dir / r.post_renderer).resolve() == (PATCHES / "kustomize-post-renderer.sh").resolve()
        assert [(r.base_dir / a).resolve() for a in r.post_renderer_args] == [(PATCHES / chart).resolve()]
    assert [r.name for r in state.releases if r.post_renderer] == ["gpu-operator", "prometheus"]


@pytest.mark.parametrize("env", ENVS)
def test_offline_registry_reaches_every_values_template(model, settings, env: str, tmp_path: Path) -> None:
    """One value moves every image: each release's values change when offline.registry is set."""
    copy = _copy_tree(tmp_path)
    before = _all_values(model, load_settings(copy), env)
    base = copy / "helmfile/environments/base/values.yaml"
    base.write_text(base.read_text().replace('registry: ""', "registry: harbor.astrago.local/mirror"))
    after = _all_values(model, load_settings(copy), env)
    for name in RELEASES:
        text = json.dumps(after[name])
        assert "harbor.astrago.local/mirror" in text, name
        assert before[name] != after[name], name
    gpu = after["gpu-operator"]
    assert gpu["operator"]["repository"] == "harbor.astrago.local/mirror/nvidia"
    assert json.dumps(before["gpu-operator"]).count('"nvcr.io/nvidia') >= 3


def _all_values(model, settings, env: str) -> dict:
    state = model.load_state(settings, env)
    return {r.name: model.effective_values(state, r).values for r in state.releases}


def _copy_tree(dst: Path) -> Path:
    shutil.copytree(HELMFILE, dst / "helmfile")
    shutil.copytree(PATCHES, dst / "patches")
    return dst


# --- the custom charts render with the real Helm engine -----------------------------------------


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("chart", sorted(CUSTOM))
def test_custom_charts_render_and_lint_in_every_environment(model, settings, chart: str, env: str) -> None:
    import helm_python

    from chartkeeper.helm.render import render_chart

    state = model.load_state(settings, env)
    release = state.release(chart)
    values = model.effective_values(state, release).values
    chart_dir = HELMFILE / "charts/custom" / chart
    result = render_chart(chart_dir, values, release=release.name, namespace=release.namespace, kube_version=settings.kube_version)
    kinds = {(m.obj["kind"], m.obj["metadata"]["name"]) for m in result.manifests}
    images = [c["image"] for m in result.manifests if m.obj["kind"] in ("Deployment", "DaemonSet") for c in m.obj["spec"]["template"]["spec"]["containers"]]
    assert images and all(i.startswith("docker.io/astrago/") for i in images)
    if chart == "gpu-process-exporter":
        assert {k for k, _ in kinds} >= {"DaemonSet", "Service", "ServiceMonitor", "ServiceAccount", "Secret"}
    else:
        assert {k for k, _ in kinds} >= {"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim", "Ingress"}
        replicas = next(m.obj["spec"]["replicas"] for m in result.manifests if m.obj["kind"] == "Deployment")
        assert replicas == {"default": 1, "dev": 1, "stage": 2, "prod": 3}[env]
    report = helm_python.lint(str(chart_dir), json.loads(json.dumps(values)), strict=True, namespace=release.namespace)
    assert not report["errors"], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.tools
@pytest.mark.parametrize("chart", sorted(CUSTOM))
def test_custom_charts_pass_helm_lint_binary(chart: str) -> None:
    helm = _tool("helm") or _tool("helm3")
    if helm is None:
        pytest.skip("no helm binary (scripts/install-tools.sh installs one)")
    out = subprocess.run([helm, "lint", "--strict", str(HELMFILE / "charts/custom" / chart)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# --- the patches, through the real post-renderer and kustomize ------------------------------------


def _kustomize_available() -> bool:
    return bool(_tool("kustomize") or _tool("kubectl"))


@pytest.mark.tools
def test_post_renderer_applies_the_gpu_operator_patch() -> None:
    if not _kustomize_available():
        pytest.skip("no kustomize or kubectl binary")
    rendered = (
        "---\n# Source: gpu-operator/templates/operator.yaml\napiVersion: apps/v1\nkind: Deployment\n"
        "metadata:\n  name: gpu-operator\n  namespace: gpu-operator\nspec:\n  selector: {matchLabels: {app: gpu-operator}}\n"
        "  template:\n    metadata: {labels: {app: gpu-operator}}\n    spec:\n      containers:\n"
        "        - name: gpu-operator\n          image: nvcr.io/nvidia/gpu-operator:v25.3.2\n"
        "          resources: {limits: {cpu: 500m, memory: 350Mi}}\n"
        "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: gpu-operator, namespace: gpu-operator}\n"
    )
    out = subprocess.run([str(PATCHES / "kustomize-post-renderer.sh"), str(PATCHES / "gpu-operator")], input=rendered, capture_output=True, text=True, env=_tools_env())
    assert out.returncode == 0, out.stderr
    docs = [d for d in yamlio.loads_all(out.stdout) if d]
    dep = next(d for d in docs if d["kind"] == "Deployment")
    assert dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert any(d["kind"] == "ServiceAccount" for d in docs)


@pytest.mark.tools
def test_post_renderer_points_prometheus_at_the_extra_scrape_configs() -> None:
    if not _kustomize_available():
        pytest.skip("no kustomize or kubectl binary")
    rendered = (
        "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata:\n  name: prometheus-kube-prometheus-prometheus\n"
        "  namespace: monitoring\nspec:\n  replicas: 1\n"
    )
    out = subprocess.run([str(PATCHES / "kustomize-post-renderer.sh"), str(PATCHES / "kube-prometheus-stack")], input=rendered, capture_output=True, text=True, env=_tools_env())
    assert out.returncode == 0, out.stderr
    docs = [d for d in yamlio.loads_all(out.stdout) if d]
    assert [d["kind"] for d in docs] == ["Prometheus"]
    assert docs[0]["spec"]["additionalScrapeConfigs"] == {
        "name": "gpu-process-exporter-scrape-configs",
        "key": "scrape-configs.yaml",
        "optional": True,
    }
    assert docs[0]["spec"]["replicas"] == 1


@pytest.mark.parametrize("env", ENVS)
def test_the_prometheus_patch_names_the_secret_the_exporter_renders(model, settings, env: str) -> None:
    from chartkeeper.helm.render import render_chart

    state = model.load_state(settings, env)
    release = state.release("gpu-process-exporter")
    values = model.effective_values(state, release).values
    result = render_chart(HELMFILE / "charts/custom/gpu-process-exporter", values, release=release.name, namespace=release.namespace, kube_version=settings.kube_version)
    secret = next(m.obj for m in result.manifests if m.obj["kind"] == "Secret")
    patch = yamlio.load_file(PATCHES / "kube-prometheus-stack/prometheus-additional-scrape-configs.yaml")
    ref = patch["spec"]["additionalScrapeConfigs"]
    assert secret["metadata"]["name"] == ref["name"]
    jobs = yamlio.loads(secret["stringData"][ref["key"]])
    assert [j["job_name"] for j in jobs] == ["astrago-workloads"]
    # the exporter and Prometheus share the namespace the Secret must be in
    assert release.namespace == state.release("prometheus").namespace == "monitoring"


@pytest.mark.tools
def test_post_renderer_refuses_a_kustomization_with_resources(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - x.yaml\n")
    out = subprocess.run([str(PATCHES / "kustomize-post-renderer.sh"), str(tmp_path)], input="", capture_output=True, text=True, env=_tools_env())
    assert out.returncode != 0 and "must not list resources" in out.stderr


# --- the real helmfile binary accepts the tree --------------------------------------------------


def _helmfile_cmd() -> list[str] | None:
    helmfile = _tool("helmfile")
    if helmfile is None:
        return None
    # helmfile 0.16x calls `helm version --client`, which Helm v4 rejects: prefer a Helm 3 binary
    helm3 = _tool("helm3")
    return [helmfile] + (["--helm-binary", helm3] if helm3 else [])


@pytest.mark.tools
@pytest.mark.parametrize("env", ENVS)
def test_helmfile_binary_lists_and_builds_the_tree(env: str, tmp_path: Path) -> None:
    cmd = _helmfile_cmd()
    if cmd is None:
        pytest.skip("no helmfile binary (scripts/install-tools.sh installs one)")
    run_env = dict(os.environ, HELM_CACHE_HOME=str(tmp_path / "cache"), HELM_DATA_HOME=str(tmp_path / "data"))
    listed = subprocess.run(cmd + ["-e", env, "list", "--output", "json"], cwd=HELMFILE, capture_output=True, text=True, env=run_env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {r["name"] for r in rows} == set(RELEASES)
    for r in rows:
        assert r["namespace"] == RELEASES[r["name"]][0]
        assert f"tier:{RELEASES[r['name']][1]}" in r["labels"]
    built = subprocess.run(cmd + ["-e", env, "build"], cwd=HELMFILE, capture_output=True, text=True, env=run_env)
    assert built.returncode == 0, built.stderr
    tiers = subprocess.run(cmd + ["-e", env, "-l", "tier=monitoring", "list", "--output", "json"], cwd=HELMFILE, capture_output=True, text=True, env=run_env)
    assert tiers.returncode == 0, tiers.stderr
    assert {r["name"] for r in json.loads(tiers.stdout)} == {"prometheus", "loki-stack", "gpu-process-exporter"}


@pytest.mark.tools
def test_helmfile_binary_templates_the_custom_charts(tmp_path: Path) -> None:
    cmd = _helmfile_cmd()
    if cmd is None:
        pytest.skip("no helmfile binary (scripts/install-tools.sh installs one)")
    run_env = dict(os.environ, HELM_CACHE_HOME=str(tmp_path / "cache"), HELM_DATA_HOME=str(tmp_path / "data"))
    out = subprocess.run(cmd + ["-e", "prod", "-l", "app=astrago", "template"], cwd=HELMFILE, capture_output=True, text=True, env=run_env)
    assert out.returncode == 0, out.stderr
    deployment = next(d for d in yamlio.loads_all(out.stdout) if d and d.get("kind") == "Deployment")
    assert deployment["spec"]["replicas"] == 3


# --- the CI workflow of the deployment repository ------------------------------------------------

WORKFLOW = ROOT / ".github/workflows/helmfile-validation.yml"


def _workflow() -> dict:
    data = yamlio.load_file(WORKFLOW)
    return data


def test_validation_workflow_triggers_on_the_tree_and_runs_lint_and_verify() -> None:
    wf = _workflow()
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as true
    for event in ("pull_request", "push"):
        assert {"helmfile/**", "patches/**"} <= set(on[event]["paths"])
    steps = wf["jobs"]["validate"]["steps"]
    scripts = "\n".join(s.get("run", "") for s in steps)
    assert "chartkeeper lint" in scripts and "chartkeeper verify" in scripts
    assert any(str(s.get("uses", "")).startswith("actions/checkout@") for s in steps)


def test_workflow_vendors_the_pinned_charts_after_verify_and_before_lint() -> None:
    # On GitHub the runner has network: the charts this tree pins but does not carry are synced
    # before lint, so a pull request that bumps a pin is linted against the real chart.
    runs = [s.get("run", "") for s in _workflow()["jobs"]["validate"]["steps"]]
    at = lambda cmd: next(i for i, r in enumerate(runs) if cmd in r)  # noqa: E731
    assert at("chartkeeper verify") < at("chartkeeper sync") < at("chartkeeper lint")


def _step(name_part: str) -> str:
    return next(s["run"] for s in _workflow()["jobs"]["validate"]["steps"] if name_part in s.get("name", ""))


def _shim(tmp_path: Path, root: Path) -> dict:
    """`chartkeeper` and `python` on PATH as the workflow's runner would have them."""
    import sys

    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "chartkeeper"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m chartkeeper -C "{root}" "$@"\n')
    shim.chmod(0o755)
    (bindir / "python").symlink_to(sys.executable)
    return dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")


def test_workflow_verify_step_allows_not_vendored_only_when_told(tmp_path: Path) -> None:
    script = _step("verify")
    env = _shim(tmp_path, ROOT)
    strict = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert strict.returncode == 1  # this repository's charts are pinned, not vendored
    allowed = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=dict(env, ALLOW_NOT_VENDORED="true"), capture_output=True, text=True)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "not vendored yet" in allowed.stdout


def test_workflow_lint_step_passes_on_the_tree_and_fails_on_a_broken_copy(tmp_path: Path) -> None:
    script = _step("lint")
    ok = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=_shim(tmp_path, ROOT), capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads((tmp_path / "lint.json").read_text())["ok"] is True
    broken = _copy_tree(tmp_path / "broken")
    values = broken / "helmfile/environments/prod/values.yaml"
    values.write_text(values.read_text().replace("replicas: 3", "replicas: 0"))
    run_dir = tmp_path / "run2"
    run_dir.mkdir()
    bad = subprocess.run(["bash", "-e", "-c", script], cwd=run_dir, env=_shim(run_dir, broken), capture_output=True, text=True)
    assert bad.returncode == 1
    assert "lint.schema-violation" in (run_dir / "lint.json").read_text()


@pytest.mark.tools
def test_helmfile_binary_runs_the_post_renderer_from_a_tier_helmfile(tmp_path: Path) -> None:
    """The `../../../patches/...` paths hold when helmfile runs a tier's sub-helmfile from its folder."""
    cmd = _helmfile_cmd()
    if cmd is None or not _kustomize_available():
        pytest.skip("needs helmfile and kubectl (scripts/install-tools.sh installs them)")
    copy = _copy_tree(tmp_path / "repo")
    patch = copy / "patches/astrago"
    patch.mkdir()
    (patch / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\npatches:\n"
        "  - path: annotate.yaml\n    target:\n      kind: Deployment\n      name: astrago\n"
    )
    (patch / "annotate.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: astrago\n  annotations:\n    astrago.io/patched: \"yes\"\n"
    )
    release = copy / "helmfile/releases/applications/astrago.yaml"
    release.write_text(
        release.read_text()
        + "    postRenderer: ../../../patches/kustomize-post-renderer.sh\n    postRendererArgs:\n      - ../../../patches/astrago\n"
    )
    run_env = dict(_tools_env(), HELM_CACHE_HOME=str(tmp_path / "cache"), HELM_DATA_HOME=str(tmp_path / "data"))
    out = subprocess.run(cmd + ["-e", "dev", "-l", "app=astrago", "template"], cwd=copy / "helmfile", capture_output=True, text=True, env=run_env)
    assert out.returncode == 0, out.stderr
    deployment = next(d for d in yamlio.loads_all(out.stdout) if d and d.get("kind") == "Deployment")
    assert deployment["metadata"]["annotations"]["astrago.io/patched"] == "yes"
