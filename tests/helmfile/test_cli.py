"""The `releases`, `values` and `env-diff` commands, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chartkeeper.settings import Settings


def ck(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "chartkeeper", "-C", str(settings.root), "--lock", str(settings.lock_path), *args]
    env = {**os.environ, "COLUMNS": "240"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def _configure(settings: Settings) -> None:
    (settings.root / "chartkeeper.yaml").write_text(f"helmfile: {settings.helmfile_path}\n")


def test_releases_json_maps_lock_entries(astrago: Settings) -> None:
    _configure(astrago)
    p = ck(astrago, "releases", "--env", "prod", "--json")
    assert p.returncode == 0, p.stderr
    rows = {r["name"]: r for r in json.loads(p.stdout)["releases"]}
    assert rows["gpu-operator"]["lockEntry"] == "gpu-operator"
    assert rows["gpu-operator"]["chartPath"] == "helmfile/charts/external/gpu-operator-v25.3.2"
    assert rows["gpu-operator"]["values"][0] == "helmfile/values/templates/gpu-operator.yaml.gotmpl"
    assert rows["gpu-operator"]["values"][1].startswith("inline@helmfile/releases/infrastructure/gpu-operator.yaml:")
    assert rows["astrago"]["lockEntry"] == "custom"
    assert rows["harbor"]["active"] is True


def test_releases_table_all_environments(astrago: Settings) -> None:
    _configure(astrago)
    p = ck(astrago, "releases")
    assert p.returncode == 0, p.stderr
    assert "airgap" in p.stdout and "gpu-operator" in p.stdout


def test_values_masks_secrets_and_explains(astrago: Settings) -> None:
    _configure(astrago)
    p = ck(astrago, "values", "keycloak", "--env", "dev", "--explain")
    assert p.returncode == 0, p.stderr
    assert "dev-only-admin" not in p.stdout and "keycloak-db" not in p.stdout
    assert "auth.adminPassword: \"***\"" in p.stdout
    assert "production: true" in p.stdout and "# helmfile/values/keycloak.yaml:3" in p.stdout
    j = ck(astrago, "values", "gpu-operator", "--env", "airgap", "--json")
    assert j.returncode == 0, j.stderr
    rep = json.loads(j.stdout)["releases"][0]
    assert rep["values"]["operator"]["repository"] == "registry.airgap.internal:5000/nvidia"
    where = {e["path"]: (e["file"], e["line"]) for e in rep["explain"]}
    assert where["operator.repository"] == ("helmfile/values/templates/gpu-operator.yaml.gotmpl", 3)


def test_values_reports_sops_files_without_decrypting(astrago: Settings) -> None:
    _configure(astrago)
    hf = astrago.root / "helmfile"
    (hf / "environments/prod/secrets.yaml").write_text(
        "grafana:\n  adminPassword: ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]\n"
        "sops:\n  age: []\n  lastmodified: '2025-09-03T10:00:00Z'\n  mac: ENC[AES256_GCM,data:xyz]\n  version: 3.8.1\n"
    )
    rel = hf / "releases/monitoring/helmfile.yaml"
    rel.write_text(rel.read_text() + "  secrets:\n  - ../../environments/prod/secrets.yaml\n")
    p = ck(astrago, "values", "prometheus", "--env", "prod")
    assert p.returncode == 0, p.stderr
    assert "helmfile/environments/prod/secrets.yaml: encrypted (sops)" in p.stdout
    assert "ENC[" not in p.stdout


def test_env_diff(astrago: Settings) -> None:
    _configure(astrago)
    p = ck(astrago, "env-diff", "dev", "airgap", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    by = {r["release"]: r for r in out["releases"]}
    changes = {c["path"]: c for c in by["gpu-operator/gpu-operator"]["changes"]}
    assert changes["operator.repository"]["a"] == "nvcr.io/nvidia"
    assert changes["operator.repository"]["b"] == "registry.airgap.internal:5000/nvidia"
    assert changes["driver.imagePullPolicy"]["change"] == "added"
    assert by["keycloak/keycloak"]["onlyIn"] == "dev"
    assert by["harbor/harbor"]["onlyIn"] == "airgap"
    one = ck(astrago, "env-diff", "dev", "prod", "csi-driver-nfs", "--fail-on-diff")
    assert one.returncode == 1
    assert "10.10.0.5" in one.stdout and "10.0.0.10" in one.stdout


def test_errors_are_one_line_exit_2(astrago: Settings) -> None:
    _configure(astrago)
    p = ck(astrago, "values", "gpu-operator", "--env", "qa")
    assert p.returncode == 2
    assert "unknown environment(s) qa (the helmfile defines: dev, prod, airgap)" in p.stderr
    p = ck(astrago, "values", "nosuch", "--env", "dev")
    assert p.returncode == 2 and "no release uses chart 'nosuch'" in p.stderr
    p = ck(astrago, "values", "gpu-operator")
    assert p.returncode == 2 and "choose one with --env" in p.stderr


def test_secret_copied_under_a_harmless_key_is_redacted(astrago: Settings) -> None:
    _configure(astrago)
    hf = astrago.root / "helmfile"
    tpl = hf / "values/templates/astrago.yaml.gotmpl"
    tpl.write_text(tpl.read_text() + "dsn: postgres://astrago:{{ .Values.astrago.db.password }}@db:5432/astrago\nnote: pw={{ .Values.astrago.db.password }}\n")
    apps = hf / "releases/applications/helmfile.yaml.gotmpl"
    apps.write_text(apps.read_text().replace(
        "    - ../../environments/{{ .Environment.Name }}/values.yaml\n",
        "    - ../../environments/{{ .Environment.Name }}/values.yaml\n    - ../../environments/base/secrets.yaml\n",
        1,
    ))
    p = ck(astrago, "values", "astrago", "--env", "dev")
    assert p.returncode == 0, p.stderr
    assert "dsn: postgres://" in p.stdout and "***@db:5432/astrago" in p.stdout
    assert "note: pw=***" in p.stdout  # no URL here: only the secrets-file registration hides it
    assert "dev-only-db" not in p.stdout


def test_values_namespace_slash_name_not_installed_and_one_failing_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`values NAMESPACE/NAME` picks one of two same-named releases; a release helmfile does not
    install is not rendered; a release that cannot be read is reported and the others still print."""
    import shutil

    from .conftest import FIXTURES, tree_settings

    shutil.copytree(FIXTURES / "features" / "c", tmp_path / "c")
    shutil.copytree(FIXTURES / "features" / "same_name", tmp_path / "t")
    settings = tree_settings(tmp_path / "t", "helmfile.yaml")
    _configure(settings)
    p = ck(settings, "values", "green/api", "--json")
    assert p.returncode == 0, p.stderr
    assert [(r["namespace"], r["values"]) for r in json.loads(p.stdout)["releases"]] == [("green", {"color": "green"})]
    p = ck(settings, "values", "dormant")
    assert p.returncode == 0, p.stderr
    assert "not rendered: helmfile does not install it" in p.stdout
    hf = settings.root / "helmfile.yaml"
    hf.write_text(hf.read_text() + "- name: api\n  namespace: red\n  chart: ../c\n  values:\n  - broken.yaml.gotmpl\n")
    monkeypatch.setenv("CHARTKEEPER_RENDERER", "embedded")  # the binary would fail on it just the same
    p = ck(settings, "values", "api")
    assert p.returncode == 2
    assert "color: blue" in p.stdout and "color: green" in p.stdout
    assert "# error: broken.yaml.gotmpl:1: .Values.notDefinedHere" in p.stdout
    assert [ln for ln in p.stderr.splitlines() if ln.startswith("error:")] == [
        "error: broken.yaml.gotmpl:1: .Values.notDefinedHere: map has no entry for key \"notDefinedHere\" "
        "(helmfile fails on missing keys; use `getOrNil` or `hasKey`) (release red/api)"
    ]


def test_sops_environment_secret_used_in_a_template_is_masked_not_fatal(tmp_path: Path) -> None:
    """An encrypted environment `secrets:` file is never decrypted; a template that reads it
    renders, and the secret part of the value is masked."""
    from tests.support.charts import write_tree

    from .conftest import tree_settings

    write_tree(
        tmp_path,
        {
            "c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n",
            "helmfile.yaml": "environments:\n  prod:\n    values:\n    - {db: {host: db}}\n    secrets:\n    - secrets.yaml\n---\n"
            "releases:\n- name: app\n  namespace: ns\n  chart: ./c\n  values:\n  - v.yaml.gotmpl\n",
            "secrets.yaml": "db:\n  password: ENC[AES256_GCM,data:cGFzcw==,iv:aXY=,tag:dGFn,type:str]\n"
            "sops:\n  age: []\n  lastmodified: '2025-09-03T10:00:00Z'\n  mac: ENC[AES256_GCM,data:xyz]\n  version: 3.8.1\n",
            "v.yaml.gotmpl": "url: pg://app:{{ .Values.db.password }}@{{ .Values.db.host }}\nhost: {{ .Values.db.host }}\n",
        },
    )
    settings = tree_settings(tmp_path, "helmfile.yaml")
    _configure(settings)
    p = ck(settings, "values", "app", "--env", "prod")
    assert p.returncode == 0, p.stderr
    assert "url: pg://" in p.stdout and "***@db" in p.stdout and "host: db" in p.stdout
    assert "ENC[" not in p.stdout and "cGFzcw" not in p.stdout


def test_vals_references_are_noted_as_resolved_at_deploy_time(tmp_path: Path) -> None:
    from tests.support.charts import write_tree

    from .conftest import tree_settings

    write_tree(
        tmp_path,
        {
            "c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n",
            "helmfile.yaml": "releases:\n- name: app\n  namespace: ns\n  chart: ./c\n  values:\n  - v.yaml\n",
            "v.yaml": "db:\n  url: ref+vault://secret/app#/url\n  pool: 5\n",
        },
    )
    settings = tree_settings(tmp_path, "helmfile.yaml")
    _configure(settings)
    p = ck(settings, "values", "app")
    assert p.returncode == 0, p.stderr
    assert "# db.url: a vals reference (ref+…), resolved by helmfile at deploy time" in p.stdout
    assert "url: ref+vault://secret/app#/url" in p.stdout
    j = ck(settings, "values", "app", "--json")
    assert json.loads(j.stdout)["releases"][0]["deployTimeRefs"] == ["db.url"]
