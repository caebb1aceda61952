"""Reading helmfile states: environments, bases, sub-helmfiles, releases, chart lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chartkeeper.errors import InputError
from chartkeeper.helmfile import list_environments, load_state, releases_for_chart
from chartkeeper.helmfile.state import StateLoader
from chartkeeper.lint import lint
from chartkeeper.lockfile import load_lock
from chartkeeper.settings import Settings


def test_environments_of_the_entry_file(astrago: Settings, layered: Settings) -> None:
    assert list_environments(astrago) == ["dev", "prod", "airgap"]
    assert list_environments(layered) == ["default", "staging", "production"]


def test_releases_across_tiers_and_environments(astrago: Settings) -> None:
    dev = load_state(astrago, "dev")
    ids = [r.id for r in dev.releases]
    assert sorted(ids) == sorted(
        [
            "gpu-operator/gpu-operator",
            "kube-system/csi-driver-nfs",
            "monitoring/prometheus",
            "keycloak/keycloak",
            "astrago/astrago",
            "harbor/harbor",
        ]
    )
    harbor = dev.release("harbor")
    assert harbor.installed is False and harbor.active is False  # `installed: {{ .Values.harbor.enabled }}`
    assert load_state(astrago, "prod").release("harbor").active is True
    # condition: keycloak.enabled is false in airgap
    assert load_state(astrago, "airgap").release("keycloak").active is False
    assert dev.release("keycloak").active is True


def test_release_fields(astrago: Settings) -> None:
    st = load_state(astrago, "dev")
    gpu = st.release("gpu-operator")
    root = astrago.root
    assert gpu.chart == "../../charts/external/gpu-operator-v25.3.2"
    assert gpu.chart_path == root / "helmfile/charts/external/gpu-operator-v25.3.2"
    assert gpu.version == "v25.3.2"
    assert gpu.needs == ("kube-system/csi-driver-nfs",)
    # commonLabels from the tier's _base.yaml merge under the release's labels
    assert dict(gpu.labels) == {"tier": "infrastructure", "app": "gpu-operator"}
    assert [v.path.name if v.path else "inline" for v in gpu.values] == ["gpu-operator.yaml.gotmpl", "inline"]
    assert [(s.name, s.value) for s in gpu.set] == [("operator.defaultRuntime", "containerd"), ("toolkit.env[0].name", "CONTAINERD_SOCKET")]
    assert gpu.source == root / "helmfile/releases/infrastructure/gpu-operator.yaml"
    # the chart: line is the one bump rewrites
    lines = gpu.chart_file.read_text().splitlines()
    assert lines[gpu.chart_line - 1].strip() == "chart: ../../charts/external/gpu-operator-v25.3.2"
    astrago_rel = st.release("astrago")
    assert astrago_rel.chart_path == root / "helmfile/charts/custom/astrago"
    assert astrago_rel.set[0].values == ("workloads", "datasets")


def test_chart_line_in_a_templated_gotmpl_state(layered: Settings) -> None:
    st = load_state(layered, "staging")
    app = st.release("app")
    text = app.chart_file.read_text().splitlines()
    assert text[app.chart_line - 1].strip() == "chart: ./charts/app"
    db = st.release("db")  # declared in a base file
    assert db.source.name == "base-releases.yaml"
    assert db.chart_file.read_text().splitlines()[db.chart_line - 1].strip() == "chart: ./charts/db"
    # relative paths of a base resolve from the including file's folder
    assert db.chart_path == layered.root / "charts/db"


def test_state_values_and_environment_values(layered: Settings) -> None:
    st = load_state(layered, "production")
    # top-level values are defaults under the environment's values
    assert st.state_values["timeout"] == 900
    assert st.state_values["team"] == "platform"
    assert "team" not in st.env_values
    assert st.helm_defaults["timeout"] == 900 and st.helm_defaults["wait"] is True
    assert st.release("app").namespace == "prod-apps"
    worker = st.release("worker")
    assert worker.namespace == "prod-apps"  # passed down through `helmfiles: values:`


def test_releases_for_chart_maps_lock_entries(astrago: Settings) -> None:
    st = load_state(astrago, "prod")
    lock = load_lock(astrago.lock_file)
    assert [r.name for r in releases_for_chart(st, lock, "gpu-operator")] == ["gpu-operator"]
    assert [r.name for r in releases_for_chart(st, lock, "harbor")] == ["harbor"]
    with pytest.raises(InputError, match="no chart named 'nope'"):
        releases_for_chart(st, lock, "nope")


def test_releases_for_chart_on_the_projects_own_tree() -> None:
    repo = Path(__file__).resolve().parents[2]
    if not (repo / "helmfile" / "helmfile.yaml").exists():
        pytest.skip("the repository's helmfile/ tree is not present")
    from chartkeeper.settings import load_settings

    settings = load_settings(repo)
    lock = load_lock(settings.lock_file)
    for env in list_environments(settings):
        st = load_state(settings, env)
        assert st.releases
        mapped = {e.name: releases_for_chart(st, lock, e.name) for e in lock.entries}
        assert any(mapped.values())
        for rels in mapped.values():
            for r in rels:
                assert r.chart_line is not None
                assert "chart:" in r.chart_file.read_text().splitlines()[r.chart_line - 1]


def test_default_environment_and_skipped_sub_helmfiles(tmp_path: Path) -> None:
    import shutil

    from .conftest import FIXTURES, tree_settings

    shutil.copytree(FIXTURES / "minimal", tmp_path / "m")
    s = tree_settings(tmp_path / "m", "helmfile.yaml")
    assert list_environments(s) == ["dev"]
    dev = load_state(s, "dev")
    assert [r.name for r in dev.releases] == ["r"]
    assert [p.name for p in dev.skipped] == ["helmfile.yaml"]  # sub/ defines no `dev`
    default = load_state(s, "default")  # helmfile always accepts the default environment
    assert sorted(r.name for r in default.releases) == ["r", "s"] and not default.skipped


def test_merge_key_followed_by_an_overriding_key_is_warned(tmp_path: Path) -> None:
    """YAML lets `namespace: b` after `<<: *d` win; helmfile 0.166 refuses the file, so the
    model reads it and says so (lint reports it)."""
    (tmp_path / "c").mkdir()
    (tmp_path / "c/Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (tmp_path / "helmfile.yaml").write_text(
        "templates:\n  d: &d\n    chart: ./c\n    namespace: a\nreleases:\n- name: main\n  <<: *d\n  namespace: b\n"
        "- name: fine\n  <<: *d\n"
    )
    st = StateLoader(tmp_path, "default").load(tmp_path / "helmfile.yaml")
    assert [(r.name, r.namespace) for r in st.releases] == [("main", "b"), ("fine", "a")]
    assert [(f.name, line) for f, line, _ in st.warnings] == [("helmfile.yaml", 8)]
    assert "`namespace:` overrides a key merged in by `<<:`" in st.warnings[0][2]
    settings = Settings(root=tmp_path.resolve(), helmfile_path=Path("helmfile.yaml"))
    found = [f for f in lint(settings).findings if f.code == "lint.helmfile-merge-override"]
    assert [(f.file, f.line) for f in found] == [("helmfile.yaml", 8)]


def test_inherited_and_templated_values_keep_their_lines() -> None:
    """Items `inherit:` brings are written in `templates:`; `valuesTemplate` entries go first."""
    from .conftest import FIXTURES, tree_settings

    st = load_state(tree_settings(FIXTURES / "features" / "inherit", "helmfile.yaml"), "default")
    own = st.release("own")
    assert [(e.line, dict(e.data or {})) for e in own.values] == [(8, {"fromBase": 1}), (23, {"fromRelease": 3})]
    assert [(s.name, s.line) for s in own.set] == [("setFromBase", 10)]
    chained = st.release("chained")
    assert [e.line for e in chained.values] == [8, 16]
    st = load_state(tree_settings(FIXTURES / "features" / "template_fields", "helmfile.yaml"), "default")
    main = st.release("main")
    assert [e.line for e in main.values] == [14, 23]
    assert main.values[0].data == {"name": "main", "tag": "1.27"}


def test_lint_does_not_type_check_sops_ciphertext_in_environment_values(tmp_path: Path) -> None:
    """An encrypted environment secret now reaches `.Environment.Values` (as ciphertext, for
    templates); the values schema's types cannot judge it, so lint does not."""
    (tmp_path / "c").mkdir()
    (tmp_path / "c/Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (tmp_path / "values/schemas").mkdir(parents=True)
    (tmp_path / "values/schemas/values.schema.json").write_text(json.dumps(
        {"type": "object", "properties": {"db": {"type": "object", "properties": {"port": {"type": "integer"}, "host": {"type": "string"}}}}}
    ))
    (tmp_path / "secrets.yaml").write_text(
        "db:\n  port: ENC[AES256_GCM,data:NTQzMg==,iv:aXY=,tag:dGFn,type:int]\n"
        "sops:\n  age: []\n  lastmodified: '2025-09-03T10:00:00Z'\n  mac: ENC[AES256_GCM,data:xyz]\n  version: 3.8.1\n"
    )
    (tmp_path / "helmfile.yaml").write_text(
        "environments:\n  prod:\n    values:\n    - {db: {host: 7}}\n    secrets:\n    - secrets.yaml\n---\n"
        "releases:\n- name: r\n  namespace: ns\n  chart: ./c\n"
    )
    settings = Settings(root=tmp_path.resolve(), helmfile_path=Path("helmfile.yaml"))
    assert load_state(settings, "prod").env_values["db"]["port"].startswith("ENC[")
    found = [(f.path, f.message) for f in lint(settings).findings if f.code == "lint.schema-violation"]
    assert [p for p, _ in found] == ["db.host"]  # a plain value of the wrong type is still caught
