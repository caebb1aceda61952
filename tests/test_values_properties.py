"""Property-based tests (hypothesis) for the three-way values differ (issue 8)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chartkeeper.analysis.chart_keys import ChartInfo, build_universe, iter_leaves
from chartkeeper.findings import Severity
from chartkeeper.analysis.values import ValuesAnalysis

key = st.from_regex(r"[a-z][a-zA-Z0-9]{0,6}", fullmatch=True)
scalar = st.one_of(st.booleans(), st.integers(-5, 5), st.text("abc", max_size=3), st.none())
tree = st.recursive(scalar, lambda inner: st.dictionaries(key, inner, min_size=1, max_size=4), max_leaves=12)
values_map = st.dictionaries(key, tree, max_size=5)


def _chart(values: dict[str, Any], version: str = "1.0.0") -> ChartInfo:
    return ChartInfo(name="c", version=version, app_version=None, kube_version=None, chart_type="application",
                     metadata={"name": "c", "version": version}, values=values, schema=None,
                     templates={}, crds={}, files={})


def _subset(defaults: dict[str, Any], picks: list[bool]) -> dict[str, Any]:
    """An override tree that sets some of the existing scalar leaves (to other values)."""
    out: dict[str, Any] = {}
    for (path, value), take in zip(iter_leaves(defaults), picks):
        if not take or not path or isinstance(value, dict):
            continue
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[path[-1]] = "overridden"
    return out


@given(values_map, st.lists(st.booleans(), max_size=40))
@pytest.mark.slow  # 100 analyses each; CI runs them
@settings(max_examples=100, deadline=None)
def test_unchanged_chart_never_breaks_overrides_of_its_own_keys(defaults: dict[str, Any], picks: list[bool]) -> None:
    uni = build_universe(_chart(defaults))
    analysis = ValuesAnalysis(uni, build_universe(_chart(defaults, "1.0.1")))
    findings = analysis.analyze(_subset(defaults, picks))
    assert [f for f in findings if f.severity is Severity.BREAKING] == []
    assert analysis.added_paths == [] and analysis.removed_paths == []


@given(values_map, values_map, values_map)
@pytest.mark.slow  # 100 analyses each; CI runs them
@settings(max_examples=100, deadline=None)
def test_analysis_is_total_and_findings_are_well_formed(old: dict[str, Any], new: dict[str, Any], ours: dict[str, Any]) -> None:
    analysis = ValuesAnalysis(build_universe(_chart(old)), build_universe(_chart(new, "2.0.0")))
    for f in analysis.analyze(ours):
        assert f.code.startswith("values.")
        assert isinstance(f.severity, Severity)
        assert f.message and "\n" not in f.message
        f.to_json()  # serialisable shape


@given(values_map, key)
@settings(max_examples=100, deadline=None)
def test_override_of_a_key_neither_version_has_is_breaking(defaults: dict[str, Any], extra: str) -> None:
    name = "zz" + extra
    if name in defaults:  # the generated defaults happen to hold it: not this property
        return
    analysis = ValuesAnalysis(build_universe(_chart(defaults)), build_universe(_chart(defaults, "1.0.1")))
    findings = analysis.analyze({name: {"x": 1}})
    hits = [f for f in findings if f.path and f.path.startswith(name)]
    assert hits and all(f.severity is Severity.BREAKING for f in hits)


def _leaf_walk_oracle(old: dict[str, Any], new: dict[str, Any]) -> tuple[list, list, list]:
    """The defaults diff computed the plain way (every key path, every NEW leaf against OLD)."""
    from chartkeeper.analysis.chart_keys import get_path
    from chartkeeper.analysis.values_diff import key_paths, same_value

    added = sorted(key_paths(new) - key_paths(old))
    removed = sorted(key_paths(old) - key_paths(new))
    changed = []
    for path, nv in iter_leaves(new):
        has, ov = get_path(old, path)
        if path and has and not same_value(ov, nv):
            changed.append((path, repr(ov), repr(nv)))
    for path, ov in iter_leaves(old):
        has, nv = get_path(new, path)
        if path and has and isinstance(nv, dict) and nv and not isinstance(ov, dict):
            changed.append((path, repr(ov), repr(nv)))  # a leaf that became a map
    return added, removed, sorted(changed)


leafy = st.one_of(scalar, st.lists(st.integers(0, 2), max_size=2), st.just({}), st.floats(0, 2).map(round))
defaults_tree = st.dictionaries(
    st.sampled_from("abcd"), st.recursive(leafy, lambda inner: st.dictionaries(st.sampled_from("abcd"), inner, max_size=3),
                                          max_leaves=10), max_size=4)


@given(defaults_tree, defaults_tree)
@pytest.mark.slow  # CI runs them
@settings(max_examples=300, deadline=None)
def test_dictdiffer_defaults_diff_matches_a_plain_leaf_walk(old: dict[str, Any], new: dict[str, Any]) -> None:
    from chartkeeper.analysis.values_diff import diff_defaults

    d = diff_defaults(old, new)
    added, removed, changed = _leaf_walk_oracle(old, new)
    assert (list(d.added), list(d.removed)) == (added, removed)
    assert sorted((p, repr(a), repr(b)) for p, a, b in d.changed) == changed
