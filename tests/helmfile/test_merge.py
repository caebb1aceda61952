"""Helm's merge rules, checked against Helm's own engine (helm_python)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chartkeeper.helmfile.merge import coalesce, leaves, merge_layers, where_of
from tests.support.charts import write_chart

keys = st.sampled_from(["a", "b", "c", "image", "tag"])
scalars = st.one_of(st.integers(-5, 5), st.text("xyz", max_size=3), st.booleans())
values = st.recursive(
    st.one_of(scalars, st.lists(scalars, max_size=3)),
    lambda inner: st.dictionaries(keys, st.one_of(inner, st.none()), max_size=3),
    max_leaves=8,
)
trees = st.dictionaries(keys, values, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(defaults=trees, overrides=st.dictionaries(keys, st.one_of(values, st.none()), max_size=4))
def test_coalesce_matches_helm(tmp_path: Path, defaults: dict, overrides: dict) -> None:
    from helm_python import Chart

    root = write_chart(tmp_path, "c", "0.1.0", values=json.dumps(defaults), folder=f"c{abs(hash(json.dumps([defaults, overrides], sort_keys=True)))}")
    with Chart.load(root) as chart:
        helm = chart.merge_values(overrides)
    assert coalesce(defaults, overrides) == helm


def test_layers_merge_maps_and_replace_lists_with_provenance() -> None:
    a = ({"image": {"repo": "r", "tag": "1"}, "list": [1, 2], "gone": {"x": 1}}, {("image", "repo"): ("a.yaml", 2), ("image", "tag"): ("a.yaml", 3), ("list",): ("a.yaml", 4), ("gone", "x"): ("a.yaml", 6)})
    b = ({"image": {"tag": "2"}, "list": [3], "gone": None}, {("image", "tag"): ("b.yaml", 2), ("list",): ("b.yaml", 3), ("gone",): ("b.yaml", 4)})
    merged, prov = merge_layers([a, b])
    assert merged == {"image": {"repo": "r", "tag": "2"}, "list": [3], "gone": None}
    assert prov[("image", "repo")] == ("a.yaml", 2) and prov[("image", "tag")] == ("b.yaml", 2)
    assert ("gone", "x") not in prov and prov[("gone",)] == ("b.yaml", 4)
    assert where_of(prov, ("list", 0)) == ("b.yaml", 3)
    assert [p for p, _ in leaves(merged)] == [("image", "repo"), ("image", "tag"), ("list",), ("gone",)]
    assert a[0]["image"]["tag"] == "1"  # layers are not modified
