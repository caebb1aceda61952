"""Effective values: helmfile's order, Helm's merge rules, provenance, `set:`."""

from __future__ import annotations

from chartkeeper.helmfile import effective_values, load_state
from chartkeeper.helmfile.merge import coalesce, where_of
from chartkeeper.settings import Settings


def test_astrago_offline_registry_pattern(astrago: Settings) -> None:
    dev = load_state(astrago, "dev")
    air = load_state(astrago, "airgap")
    v_dev = effective_values(dev, dev.release("gpu-operator")).values
    v_air = effective_values(air, air.release("gpu-operator")).values
    assert v_dev["operator"]["repository"] == "nvcr.io/nvidia"
    assert v_air["operator"]["repository"] == "registry.airgap.internal:5000/nvidia"
    assert "imagePullPolicy" not in v_dev["driver"] and v_air["driver"]["imagePullPolicy"] == "IfNotPresent"
    # inline map after the template: maps merge key by key
    assert v_dev["driver"] == {"repository": "nvcr.io/nvidia", "enabled": True, "upgradePolicy": {"autoUpgrade": False}}
    # set: on top; `toolkit.env[0].name` replaces the list from the values file (lists replace)
    assert v_dev["operator"]["defaultRuntime"] == "containerd"
    assert v_dev["toolkit"]["env"] == [{"name": "CONTAINERD_SOCKET"}]


def test_file_values_exclude_set_and_keep_nulls(astrago: Settings) -> None:
    st = load_state(astrago, "dev")
    ev = effective_values(st, st.release("gpu-operator"))
    assert "defaultRuntime" not in ev.file_values["operator"]
    assert ev.file_values["toolkit"]["env"] == [{"name": "CONTAINERD_CONFIG", "value": "/etc/containerd/config.toml"}]
    prom = effective_values(st, st.release("prometheus"))
    assert prom.values["kubeStateMetrics"] is None  # null: deletes the chart default
    assert coalesce({"kubeStateMetrics": {"enabled": True}, "x": 1}, prom.values).get("kubeStateMetrics", "gone") == "gone"


def test_templates_see_helmfile_context(astrago: Settings) -> None:
    prod = load_state(astrago, "prod")
    v = effective_values(prod, prod.release("astrago")).values
    assert v["environment"] == "prod"
    assert v["release"] == "astrago-astrago"
    assert v["banner"] == "Welcome to Astrago"  # readFile, relative to the state file's folder
    assert v["maxUploadBytes"] == 10485760  # an integer, although Helm's engine holds it as a float
    assert v["features"] == ["workloads", "datasets", "billing"]
    assert v["resources"] == {"limits": {"cpu": 8, "memory": "16Gi"}}
    assert v["db"]["password"] == "changeme"  # get with a default
    assert v["nfs"] == {"server": "10.0.0.10", "path": "/nfs/astrago"}
    dev = load_state(astrago, "dev")
    assert effective_values(dev, dev.release("astrago")).values["maxUploadBytes"] == 1048576  # getOrNil | default


def test_environment_variable_in_a_template(astrago: Settings, monkeypatch) -> None:
    monkeypatch.setenv("CK_FIXTURE_ASTRAGO_TAG", "v9.9.9")
    st = load_state(astrago, "dev")
    assert effective_values(st, st.release("astrago")).values["image"]["tag"] == "v9.9.9"


def test_provenance_names_file_and_line(astrago: Settings) -> None:
    st = load_state(astrago, "dev")
    ev = effective_values(st, st.release("csi-driver-nfs"))
    assert ev.provenance[("controller", "replicas")] == ("helmfile/values/csi-driver-nfs.yaml", 2)
    f, line = ev.provenance[("storageClass", "parameters", "server")]
    assert f == "helmfile/releases/infrastructure/csi-driver-nfs.yaml"
    assert "server:" in (astrago.root / f).read_text().splitlines()[line - 1]
    assert where_of(ev.provenance, ("storageClass", "mountOptions", 0)) == ("helmfile/values/csi-driver-nfs.yaml", 9)
    gpu = effective_values(st, st.release("gpu-operator"))
    sf, sline = gpu.provenance[("operator", "defaultRuntime")]
    assert sf == "helmfile/releases/infrastructure/gpu-operator.yaml"
    assert "operator.defaultRuntime" in (astrago.root / sf).read_text().splitlines()[sline - 1]


def test_layered_state_set_variants(layered: Settings) -> None:
    st = load_state(layered, "staging")
    ev = effective_values(st, st.release("app"))
    v = ev.values
    assert v["image"] == {"repository": "example.org/app", "pullPolicy": "IfNotPresent", "tag": "staging-latest"}
    assert v["hosts"] == ["a.example.org", "b.example.org"]
    assert v["config"] == "line one\nline two\n"
    assert v["flags.enabled"] is True  # escaped dot: one key; "true" parsed by Helm's --set rules
    assert v["env"] == {"LOG": "info", "STAGE": "STAGING", "TAG": "staging-latest", "COUNT": 3}
    assert v["resources"]["limits"] == {"cpu": "500m", "memory": None}
    assert v["tolerations"] == []
    assert v["extra"] == {"fromState": "common", "list": ["staging"]}


def test_missing_file_handler_warn_skips_the_file(layered: Settings) -> None:
    st = load_state(layered, "production")
    v = effective_values(st, st.release("app")).values
    assert v["replicas"] == 5 and v["zone2"] == "c" and v["env"]["REGION"] == "eu-1"


def test_release_templates_render_per_release(layered: Settings) -> None:
    st = load_state(layered, "staging")
    api, web = st.release("api"), st.release("web")
    assert dict(api.labels) == {"component": "api"} and web.namespace == "apps-web"
    assert [v.path.name for v in web.values if v.path] == ["web.yaml"]
    assert effective_values(st, web).values == {
        "replicas": 2,
        "port": 80,
        "host": "{{ .Release.Name }}.apps.svc",  # inline maps are not release-templated (as in helmfile)
        # `set:` goes to Helm as written (only `setTemplate` is rendered), checked with helmfile 0.166
        "fullnameOverride": "{{ .Release.Name }}-{{ .Release.Namespace }}",
    }
