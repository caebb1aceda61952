"""Bad helmfile trees fail with one clear line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from chartkeeper.errors import InputError
from chartkeeper.helmfile import effective_values, load_state
from chartkeeper.helmfile.gotmpl import UnsupportedTemplate
from chartkeeper.settings import Settings
from tests.support.charts import write_tree

CHART = {"charts/c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n", "charts/c/values.yaml": "{}\n"}


def _settings(root: Path, entry: str = "helmfile.yaml") -> Settings:
    return Settings(root=root.resolve(), helmfile_path=Path(entry))


def _tree(tmp_path: Path, files: dict[str, str]) -> Settings:
    write_tree(tmp_path, {**CHART, **files})
    return _settings(tmp_path)


def test_unknown_environment_lists_the_defined_ones(tmp_path: Path) -> None:
    s = _tree(tmp_path, {"helmfile.yaml": "environments:\n  dev: {}\n  prod: {}\n"})
    with pytest.raises(InputError, match=r"helmfile.yaml: unknown environment\(s\) qa \(the helmfile defines: dev, prod\)"):
        load_state(s, "qa")


def test_missing_environment_values_file_names_both_files(tmp_path: Path) -> None:
    s = _tree(tmp_path, {"helmfile.yaml": "environments:\n  dev:\n    values:\n    - env/dev.yaml\n"})
    with pytest.raises(InputError, match=r"env/dev.yaml: environment values file not found \(listed in helmfile.yaml\)"):
        load_state(s, "dev")


def test_missing_release_values_file(tmp_path: Path) -> None:
    s = _tree(tmp_path, {"helmfile.yaml": "releases:\n- name: r\n  chart: ./charts/c\n  values:\n  - nope.yaml\n"})
    with pytest.raises(InputError, match=r"nope.yaml: release r values file not found \(listed in helmfile.yaml\)"):
        load_state(s, "default")


def test_missing_sub_helmfile(tmp_path: Path) -> None:
    s = _tree(tmp_path, {"helmfile.yaml": "helmfiles:\n- path: sub/helmfile.yaml\n"})
    with pytest.raises(InputError, match=r"sub/helmfile.yaml: sub-helmfile not found \(listed in helmfile.yaml\)"):
        load_state(s, "default")


def test_cycle_among_sub_helmfiles(tmp_path: Path) -> None:
    s = _tree(
        tmp_path,
        {
            "helmfile.yaml": "helmfiles:\n- a/helmfile.yaml\n",
            "a/helmfile.yaml": "helmfiles:\n- ../b/helmfile.yaml\n",
            "b/helmfile.yaml": "helmfiles:\n- ../a/helmfile.yaml\n",
        },
    )
    with pytest.raises(InputError, match=r"cycle: helmfile.yaml -> a/helmfile.yaml -> b/helmfile.yaml -> a/helmfile.yaml"):
        load_state(s, "default")


def test_nested_bases_are_refused_like_helmfile(tmp_path: Path) -> None:
    s = _tree(tmp_path, {"helmfile.yaml": "bases:\n- b1.yaml\n", "b1.yaml": "bases:\n- b2.yaml\n", "b2.yaml": "{}\n"})
    with pytest.raises(InputError, match="b1.yaml: a base helmfile cannot have `bases:`"):
        load_state(s, "default")


def test_missing_key_in_a_values_template_fails_like_helmfile(tmp_path: Path) -> None:
    s = _tree(
        tmp_path,
        {
            "helmfile.yaml": "environments:\n  dev:\n    values:\n    - {offline: {}}\n---\nreleases:\n- name: r\n  chart: ./charts/c\n  values:\n  - v.yaml.gotmpl\n",
            "v.yaml.gotmpl": "a: 1\nrepository: {{ .Values.offline.registry | default \"nvcr.io\" }}/nvidia\n",
        },
    )
    st = load_state(s, "dev")
    with pytest.raises(InputError, match=r'v.yaml.gotmpl:2: \.Values\.offline\.registry: map has no entry for key "registry"'):
        effective_values(st, st.releases[0])


def test_unsupported_function_is_named_with_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTKEEPER_HELMFILE", str(tmp_path / "no-helmfile-here"))
    s = _tree(
        tmp_path,
        {
            "helmfile.yaml": "releases:\n- name: r\n  chart: ./charts/c\n  values:\n  - v.yaml.gotmpl\n",
            "v.yaml.gotmpl": 'host: {{ exec "hostname" (list) }}\n',
        },
    )
    st = load_state(s, "default")
    with pytest.raises(UnsupportedTemplate) as info:
        effective_values(st, st.releases[0])
    assert "`exec`" in info.value.message and "v.yaml.gotmpl" in info.value.message
    assert info.value.hint and "helmfile" in info.value.hint


def test_bad_condition_and_non_mapping_values(tmp_path: Path) -> None:
    s = _tree(
        tmp_path,
        {"helmfile.yaml": "releases:\n- name: r\n  chart: ./charts/c\n  condition: enabled\n"},
    )
    with pytest.raises(InputError, match="condition: 'enabled' must have the form"):
        load_state(s, "default")
    s = _tree(tmp_path, {"helmfile.yaml": "releases:\n- name: r\n  chart: ./charts/c\n  values:\n  - list.yaml\n", "list.yaml": "- 1\n"})
    st = load_state(s, "default")
    with pytest.raises(InputError, match="list.yaml: a values file must be a mapping"):
        effective_values(st, st.releases[0])


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    s = _tree(tmp_path, {"helmfile.yaml": "releases:\n- name: r\n  chart: [unclosed\n"})
    with pytest.raises(InputError, match=r"helmfile.yaml: line \d+: invalid YAML"):
        load_state(s, "default")
