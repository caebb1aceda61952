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
