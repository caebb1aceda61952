"""Hostile YAML and malformed versions.lock files: refused with a clear error, nothing executed.

Every file chartkeeper reads goes through `yamlio`; these documents are the classic attacks
on YAML loaders (alias bombs, recursive aliases, tags that construct Python objects) and the
ways a hand-edited lock goes wrong. Property tests check that `parse_lock` is total (a Lock
or an InputError, never another exception) and that whatever it accepts renders back to
the same lock."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chartkeeper import yamlio
from chartkeeper.errors import InputError
from chartkeeper.lockfile import parse_lock, render_lock

pytestmark = pytest.mark.reliability


def _laughs(levels: int, width: int) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _merge_bomb() -> str:
    lines = ["a0: &a0 {k0: v, k1: v, k2: v, k3: v, k4: v, k5: v, k6: v, k7: v, k8: v, k9: v}"]
    for i in range(1, 9):
        refs = ", ".join(f"m{j}: *a{i - 1}" for j in range(10))
        lines.append(f"a{i}: &a{i} {{{refs}}}")
    return "\n".join(lines) + "\n"


HOSTILE_YAML = {
    "billion-laughs (lists)": _laughs(10, 10),
    "billion-laughs (mappings)": _merge_bomb(),
    "billion-laughs (merge keys)": "a: &a {x: 1, y: 2}\n" + "".join(
        f"b{i}: &b{i}\n  <<: *{'a' if i == 0 else f'b{i - 1}'}\n  l{i}: [{', '.join(['*a'] * 20)}]\n" for i in range(30)
    ) + "top: [" + ", ".join(["*b29"] * 5000) + "]\n",
    "recursive alias": "a: &a [*a, *a]\n",
    "deep nesting": "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "python/object/apply": '!!python/object/apply:os.system ["touch {canary}"]\n',
    "python/object/new": '!!python/object/new:subprocess.check_output [["touch", "{canary}"]]\n',
    "python/name": "x: !!python/name:os.system\n",
    "python/module": "x: !!python/module:os\n",
    "local tag": "x: !<tag:yaml.org,2002:python/object:os.PathLike> {}\n",
    "invalid utf-8": b"a: \xff\xfe\xfa\n".decode("latin-1"),
    "tab indentation": "a:\n\tb: 1\n",
    "unclosed flow": "charts: [\n",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_YAML))
def test_hostile_yaml_is_refused_and_nothing_runs(kind: str, tmp_path: Path, reliability) -> None:
    canary = tmp_path / "executed"
    text = HOSTILE_YAML[kind].replace("{canary}", str(canary))
    with reliability.case("hostile", f"yaml: {kind}"):
        with pytest.raises(InputError) as exc:
            yamlio.loads(text.encode("latin-1") if kind == "invalid utf-8" else text, "values.yaml")
        msg = str(exc.value)
        assert msg.startswith("values.yaml: ") and "\n" not in msg
        assert not canary.exists()


@pytest.mark.parametrize("kind", sorted(HOSTILE_YAML))
def test_hostile_yaml_as_a_lock_is_refused(kind: str, tmp_path: Path, reliability) -> None:
    canary = tmp_path / "executed"
    text = HOSTILE_YAML[kind].replace("{canary}", str(canary))
    with reliability.case("hostile", f"versions.lock: {kind}"):
        with pytest.raises(InputError) as exc:
            parse_lock(text, tmp_path / "versions.lock")
        assert str(exc.value).startswith("versions.lock") and "\n" not in str(exc.value)
        assert not canary.exists()


GOOD = {
    "name": "demo",
    "repository": "https://charts.example.invalid/stable",
    "version": "1.2.3",
    "digest": "sha256:" + "a" * 64,
}

MALFORMED_LOCKS = {
    "a list at the top": ("- a\n- b\n", "must be a mapping"),
    "a scalar at the top": ("hello\n", "must be a mapping"),
    "charts not a list": ("version: 1\ncharts: {a: 1}\n", "charts: must be a list"),
    "entry not a mapping": ("version: 1\ncharts: [3]\n", "charts[0]"),
    "missing version": ("version: 1\ncharts:\n  - {name: demo, repository: x}\n", "charts[0].version"),
    "missing repository": ("version: 1\ncharts:\n  - {name: demo, version: 1.2.3}\n", "charts[0].repository"),
    "version not a version": ("version: 1\ncharts:\n  - {name: demo, repository: x, version: latest}\n", "charts[0].version"),
    "version two parts": ('version: 1\ncharts:\n  - {name: demo, repository: x, version: "25.3"}\n', "not a valid chart version"),
    "version read as a float": ("version: 1\ncharts:\n  - {name: demo, repository: x, version: 1.10}\n", "must be quoted"),
    "version a mapping": ("version: 1\ncharts:\n  - {name: demo, repository: x, version: {a: 1}}\n", "charts[0].version"),
    "version with 5000 digits": (f"version: 1\ncharts:\n  - {{name: demo, repository: x, version: \"{'9' * 5000}.0.0\"}}\n", "charts[0].version"),
    "constraint not a constraint": ("version: 1\ncharts:\n  - {name: demo, repository: x, version: 1.2.3, constraint: '>>1'}\n", "charts[0].constraint"),
    "digest not sha256": ("version: 1\ncharts:\n  - {name: demo, repository: x, version: 1.2.3, digest: md5:abc}\n", "charts[0].digest"),
    "absolute path": ("version: 1\ncharts:\n  - {name: demo, repository: x, version: 1.2.3, path: /etc}\n", "charts[0].path"),
    "path leaving the folder": ("version: 1\ncharts:\n  - {name: demo, repository: x, version: 1.2.3, path: ../../x}\n", "charts[0].path"),
    "name with a slash": ("version: 1\ncharts:\n  - {name: ../demo, repository: x, version: 1.2.3}\n", "charts[0].name"),
    "duplicate names": ("version: 1\ncharts:\n  - {name: demo, repository: x, version: 1.2.3}\n  - {name: demo, repository: y, version: 1.2.4}\n", "pinned twice"),
    "shared folder": ("version: 1\ncharts:\n  - {name: a, repository: x, version: 1.2.3, path: f}\n  - {name: b, repository: y, version: 1.2.4, path: f}\n", "share the vendored folder"),
    "future schema": ("version: 99\ncharts: []\n", "version: 99"),
    "unknown field": ("version: 1\ncharts:\n  - {name: demo, repository: x, version: 1.2.3, script: 'rm -rf /'}\n", "unknown field"),
    "fetched not a time": ("version: 1\ncharts:\n  - {name: demo, repository: x, version: 1.2.3, fetched: yesterday}\n", "charts[0].fetched"),
    "subcharts not a list": ("version: 1\ncharts:\n  - {name: demo, repository: x, version: 1.2.3, subcharts: 5}\n", "subcharts"),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED_LOCKS))
def test_malformed_lock_names_file_entry_and_field(kind: str, tmp_path: Path, reliability) -> None:
    text, needle = MALFORMED_LOCKS[kind]
    with reliability.case("hostile", f"versions.lock: {kind}"):
        with pytest.raises(InputError) as exc:
            parse_lock(text, tmp_path / "versions.lock")
        msg = str(exc.value)
        assert msg.startswith("versions.lock"), msg
        assert needle in msg, msg
        assert "\n" not in msg and len(msg) < 400, msg


# --- properties ----------------------------------------------------------------------------

scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12), st.sampled_from(["1.2.3", "v1.2.3", "1.10", "~1.2", "sha256:" + "b" * 64, "demo", "../x", "/abs"]),
)
value = st.recursive(scalar, lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=8), kids, max_size=3)), max_leaves=8)
entry_keys = st.sampled_from(["name", "chart", "repository", "version", "constraint", "digest", "path", "appVersion",
                              "fetched", "treeChecksum", "subcharts", "bogus"])
entry = st.one_of(
    st.fixed_dictionaries({k: st.just(v) for k, v in GOOD.items()}, optional={k: value for k in ["chart", "constraint", "path", "appVersion", "fetched", "subcharts"]}),
    st.dictionaries(entry_keys, value, max_size=6),
    value,
)
lock_doc = st.one_of(
    st.fixed_dictionaries({"version": st.one_of(st.just(1), value), "charts": st.lists(entry, max_size=3)}),
    value,
)


@given(lock_doc)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_parse_lock_is_total_and_what_it_accepts_round_trips(doc: object) -> None:
    text = yaml.safe_dump(doc, sort_keys=False)
    try:
        lock = parse_lock(text, Path("versions.lock"))
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    again = parse_lock(render_lock(lock), Path("versions.lock"))
    assert again.entries == tuple(sorted(lock.entries, key=lambda e: e.name)) or set(again.entries) == set(lock.entries)
    assert render_lock(again) == render_lock(lock)


@given(st.binary(max_size=200))
@settings(max_examples=200)
def test_parse_lock_survives_random_bytes(data: bytes) -> None:
    try:
        parse_lock(data.decode("utf-8", errors="replace"), Path("versions.lock"))
    except InputError:
        pass
