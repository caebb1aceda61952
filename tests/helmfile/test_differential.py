"""The embedded model against the real helmfile: `write-values` for every release and environment.

Skipped only when no helmfile binary is found (PATH or this project's .tools/bin);
`.ci/run` installs one with scripts/install-tools.sh. The embedded renderer is compared alone
(helmfile is never run without the opt-in); only `exec_fallback` and the fallback tests opt in.
"""

from __future__ import annotations

from pathlib import Path

import shutil
from typing import Iterator

import pytest

from chartkeeper.helmfile import effective_values, list_environments, load_state
from chartkeeper.helmfile.binary import allow_helmfile, list_releases, write_values
from chartkeeper.helmfile.gotmpl import UnsupportedTemplate
from chartkeeper.settings import Settings

from .conftest import FIXTURES, REPO, tree_settings

pytestmark = pytest.mark.tools

# (fixture, entry file, environments checked besides the listed ones)
TREES = [
    ("astrago", "helmfile/helmfile.yaml", []),
    ("layered", "helmfile.yaml.gotmpl", []),
    ("minimal", "helmfile.yaml", ["default"]),
]


def _helmfile() -> Path:
    found = shutil.which("helmfile") or (REPO / ".tools/bin/helmfile" if (REPO / ".tools/bin/helmfile").exists() else None)
    if found is None:
        pytest.skip("no helmfile binary (run scripts/install-tools.sh)")
    return Path(found)


@pytest.fixture
def allow_exec() -> Iterator[None]:
    """What `--allow-exec` does for one command: helmfile may render what the embedded renderer cannot."""
    allow_helmfile(True)
    yield
    allow_helmfile(False)


def _cases() -> list[tuple[str, Settings]]:
    cases = [(name, tree_settings(FIXTURES / name, entry), extra) for name, entry, extra in TREES]
    if (REPO / "helmfile" / "helmfile.yaml").exists():
        cases.append(("project", tree_settings(REPO, "helmfile/helmfile.yaml"), []))
    return cases


@pytest.mark.parametrize("name,settings,extra", _cases(), ids=lambda x: x if isinstance(x, str) else "")
def test_embedded_values_equal_helmfile_write_values(
    name: str, settings: Settings, extra: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    exe = _helmfile()
    monkeypatch.delenv("CK_FIXTURE_ASTRAGO_TAG", raising=False)
    envs = list(dict.fromkeys(list_environments(settings) + extra))
    for env in envs:
        state = load_state(settings, env)
        ours = {(r.namespace, r.name): effective_values(state, r).file_values for r in state.releases if r.active}
        theirs = write_values(exe, state.entry, env)
        assert sorted(ours) == sorted(theirs), f"{name} {env}: releases differ"
        for key, vals in ours.items():
            assert vals == theirs[key], f"{name} {env} {key[0]}/{key[1]}"


# One small tree per feature class (tests/fixtures/helmfile/features/): (folder, entry)
FEATURES = [
    ("get_default", "helmfile.yaml"),
    ("include_define", "helmfile.yaml"),
    ("read_file", "helmfile.yaml"),
    ("template_fields", "helmfile.yaml"),
    ("namespace", "helmfile.yaml"),
    ("helmfile_d", "helmfile.yaml"),  # no helmfile.yaml: the helmfile.d/ folder next to it
    ("inherit", "helmfile.yaml"),
    ("sub_env", "helmfile.yaml"),
    ("kube_context", "helmfile.yaml"),
    ("same_name", "helmfile.yaml"),
    ("exec_fallback", "helmfile.yaml.gotmpl"),  # rendered by the helmfile binary where needed
]


@pytest.mark.parametrize("name,entry", FEATURES, ids=[f[0] for f in FEATURES])
def test_feature_tree_equals_helmfile(name: str, entry: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Every environment: values leaf by leaf as `helmfile write-values` writes them, and each
    release's namespace and installed flag as `helmfile list` prints them."""
    exe = _helmfile()
    monkeypatch.setenv("CHARTKEEPER_HELMFILE", str(exe))  # the fallback finds the same binary
    settings = tree_settings(FIXTURES / "features" / name, entry)
    if name == "exec_fallback":  # not without the opt-in: the `exec` is named, nothing runs
        with pytest.raises(UnsupportedTemplate, match="`exec`"):
            load_state(settings, list_environments(settings)[0])
        request.getfixturevalue("allow_exec")
    for env in list_environments(settings):
        state = load_state(settings, env)
        ours = {(r.namespace, r.name): effective_values(state, r).file_values for r in state.releases if r.active}
        theirs = write_values(exe, state.entry, env)
        assert sorted(ours) == sorted(theirs), f"{name} {env}: releases differ"
        for key, vals in ours.items():
            assert vals == theirs[key], f"{name} {env} {key[0]}/{key[1]}"
        if name == "exec_fallback":  # the fallback really ran
            assert sorted(p.name for p in state.rendered_by_helmfile) == ["helmfile.yaml.gotmpl", "sub.yaml"]
            assert effective_values(state, state.release("valued")).sources[-1] == "(rendered by helmfile)"
        listed = sorted((r["namespace"], r["name"], r["installed"]) for r in list_releases(exe, state.entry, env))
        assert sorted((r.namespace, r.name, r.installed) for r in state.releases) == listed, f"{name} {env}: list differs"


def test_helmfile_renders_what_the_embedded_renderer_cannot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allow_exec: None) -> None:
    """`exec` is helmfile-only: with a helmfile binary the values come from `helmfile write-values`."""
    exe = _helmfile()
    monkeypatch.setenv("CHARTKEEPER_HELMFILE", str(exe))
    from tests.support.charts import write_tree

    write_tree(
        tmp_path,
        {
            "charts/c/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n",
            "charts/c/values.yaml": "{}\n",
            "helmfile.yaml": "releases:\n- name: r\n  namespace: ns\n  chart: ./charts/c\n  values:\n  - v.yaml.gotmpl\n"
            "  set:\n  - name: s\n    value: x\n",
            "v.yaml.gotmpl": 'greeting: {{ exec "echo" (list "-n" "hello") }}\nplain: 1\n',
        },
    )
    settings = tree_settings(tmp_path, "helmfile.yaml")
    st = load_state(settings, "default")
    ev = effective_values(st, st.releases[0])
    assert ev.file_values == {"greeting": "hello", "plain": 1}
    assert ev.values == {"greeting": "hello", "plain": 1, "s": "x"}
    assert ev.sources[-1] == "(rendered by helmfile)"
    monkeypatch.setenv("CHARTKEEPER_RENDERER", "embedded")
    from chartkeeper.helmfile.gotmpl import UnsupportedTemplate

    st = load_state(settings, "default")
    with pytest.raises(UnsupportedTemplate, match="`exec`"):
        effective_values(st, st.releases[0])


def test_renderer_helmfile_mode_matches_embedded(monkeypatch: pytest.MonkeyPatch, allow_exec: None) -> None:
    _helmfile()
    settings = tree_settings(FIXTURES / "astrago", "helmfile/helmfile.yaml")
    st = load_state(settings, "airgap")
    rel = st.release("gpu-operator")
    embedded = effective_values(st, rel)
    monkeypatch.setenv("CHARTKEEPER_RENDERER", "helmfile")
    via_binary = effective_values(st, rel)
    assert via_binary.values == embedded.values
    assert via_binary.file_values == embedded.file_values
