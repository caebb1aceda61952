"""Three-way values analysis on hand-built chart pairs: one test per finding, plus the semantics around them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chartkeeper.analysis.chart_keys import load_universe
from chartkeeper.findings import Finding, Severity
from chartkeeper.analysis.values import ValuesAnalysis, check_overrides
from tests.support.charts import write_chart

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"


def pair(tmp_path: Path, old_values: Any, new_values: Any, *, old_t: dict | None = None, new_t: dict | None = None,
         old_kw: dict | None = None, new_kw: dict | None = None) -> ValuesAnalysis:
    old = write_chart(tmp_path / "old", "demo", "1.0.0", values=old_values, templates=old_t or {"cm.yaml": CM}, **(old_kw or {}))
    new = write_chart(tmp_path / "new", "demo", "2.0.0", values=new_values, templates=new_t or {"cm.yaml": CM}, **(new_kw or {}))
    return ValuesAnalysis(load_universe(old), load_universe(new))


def codes(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.code, []).append(f)
    return out


def only(findings: list[Finding], code: str) -> Finding:
    hits = [f for f in findings if f.code == code]
    assert len(hits) == 1, findings
    return hits[0]


def test_override_of_removed_key_is_breaking(tmp_path: Path) -> None:
    va = pair(tmp_path, {"metrics": {"port": 9100}, "keep": 1}, {"keep": 1})
    f = only(va.analyze({"metrics": {"port": 9200}}, env="dev"), "values.removed-key")
    # reported once, where the key disappeared, with our whole subtree
    assert f.severity is Severity.BREAKING and f.path == "metrics" and f.env == "dev"
    assert f.old == {"port": 9100} and f.ours == {"port": 9200}


def test_override_unknown_in_both_versions_is_breaking_with_a_hint(tmp_path: Path) -> None:
    values = {"operator": {"image": "op"}, "dcgmExporter": {"enabled": True, "config": {"name": ""}}}
    va = pair(tmp_path, values, values)
    # nested under the wrong top-level key: a real mistake the analysis exists to catch
    f = only(va.analyze({"operator": {"dcgmExporter": {"enabled": False}}}), "values.unknown-key")
    assert f.severity is Severity.BREAKING and f.path == "operator.dcgmExporter"
    assert f.suggestion == "dcgmExporter"
    g = only(va.analyze({"dcgmExporter": {"enabeld": False}}), "values.unknown-key")
    assert g.suggestion == "dcgmExporter.enabled"


def test_key_read_by_a_template_but_only_documented_in_a_comment_is_valid(tmp_path: Path) -> None:
    values = "dcgmExporter:\n  enabled: true\n  # config:\n  #   name: custom-metrics\n"
    tpl = CM + "data:\n{{- if .Values.dcgmExporter.config }}\n  name: {{ .Values.dcgmExporter.config.name }}\n{{- end }}\n"
    va = pair(tmp_path, values, values, old_t={"cm.yaml": tpl}, new_t={"cm.yaml": tpl})
    assert va.analyze({"dcgmExporter": {"config": {"name": "custom"}}}) == []


def test_dollar_and_index_references_count(tmp_path: Path) -> None:
    tpl = CM + 'data:\n  a: {{ $.Values.extra.a | quote }}\n  b: {{ index .Values "weird-key" "x" | quote }}\n'
    va = pair(tmp_path, {}, {}, old_t={"cm.yaml": tpl}, new_t={"cm.yaml": tpl})
    assert va.analyze({"extra": {"a": 1}, "weird-key": {"x": 2}}) == []
    assert only(va.analyze({"other": 1}), "values.unknown-key").path == "other"


def test_likely_rename_by_leaf_name_suggests_the_new_path(tmp_path: Path) -> None:
    va = pair(tmp_path, {"exporter": {"serviceMonitor": {"interval": "30s"}}},
              {"exporter": {"monitoring": {"serviceMonitor": {"interval": "30s"}}}})
    f = only(va.analyze({"exporter": {"serviceMonitor": {"interval": "10s"}}}), "values.renamed-key")
    assert f.severity is Severity.BREAKING
    assert f.path == "exporter.serviceMonitor" and f.suggestion == "exporter.monitoring.serviceMonitor"


def test_likely_rename_by_same_default_nearby(tmp_path: Path) -> None:
    va = pair(tmp_path, {"node": {"tolerationKey": "nvidia.com/gpu"}}, {"node": {"taintKey": "nvidia.com/gpu"}})
    f = only(va.analyze({"node": {"tolerationKey": "gpu"}}), "values.renamed-key")
    assert f.suggestion == "node.taintKey"


def test_type_change_at_overridden_path_is_breaking(tmp_path: Path) -> None:
    va = pair(tmp_path, {"tolerations": {"gpu": "x"}, "args": "--a"}, {"tolerations": [], "args": ["--a"]})
    found = codes(va.analyze({"tolerations": {"gpu": "y"}, "args": "--b"}))
    paths = {f.path: f for f in found["values.type-change"]}
    assert set(paths) == {"tolerations", "args"}
    assert all(f.severity is Severity.BREAKING for f in paths.values())
    assert "NEW expects a list, we set a map" in paths["tolerations"].message
    # upstream changed the type and ours still has the old shape
    va2 = pair(tmp_path / "b", {"ports": [80]}, {"ports": {"http": 80}})
    f = only(va2.analyze({"ports": [8080]}), "values.type-change")
    assert "NEW expects a map, we set a list (OLD default was a list)" in f.message
    assert [x for x in va2.analyze({"ports": {"http": 8080}}) if x.code == "values.type-change"] == []


def test_changed_default_we_override_is_review_with_three_values(tmp_path: Path) -> None:
    va = pair(tmp_path, {"image": {"repository": "nvcr.io/nvidia/gpu-operator", "tag": "v25.3.2"}},
              {"image": {"repository": "nvcr.io/nvidia/gpu-operator", "tag": "v26.3.0"}})
    f = only(va.analyze({"image": {"tag": "v25.3.1"}}, env="prod"), "values.default-changed-overridden")
    assert f.severity is Severity.REVIEW and (f.old, f.new, f.ours) == ("v25.3.2", "v26.3.0", "v25.3.1")


def test_changed_default_we_inherit_review_for_behaviour_info_otherwise(tmp_path: Path) -> None:
    va = pair(tmp_path, {"feature": {"enabled": False}, "replicaCount": 1, "logLevel": "info", "image": {"tag": "1"}},
              {"feature": {"enabled": True}, "replicaCount": 2, "logLevel": "debug", "image": {"tag": "2"}})
    found = {f.path: f for f in va.analyze({}) if f.code == "values.default-changed"}
    assert found["feature.enabled"].severity is Severity.REVIEW
    assert found["replicaCount"].severity is Severity.REVIEW
    assert found["image.tag"].severity is Severity.REVIEW
    assert found["logLevel"].severity is Severity.INFO
    # a default we override is not "inherited"
    assert "image.tag" not in {f.path for f in va.analyze({"image": {"tag": "9"}}) if f.code == "values.default-changed"}


def test_override_equal_to_new_default_is_info(tmp_path: Path) -> None:
    va = pair(tmp_path, {"replicas": 1}, {"replicas": 3})
    f = only(va.analyze({"replicas": 3}), "values.override-equals-default")
    assert f.severity is Severity.INFO and f.ours == 3


def test_new_and_removed_keys_are_collapsed_info(tmp_path: Path) -> None:
    va = pair(tmp_path, {"a": 1, "gone": {"x": 1, "y": 2}}, {"a": 1, "fresh": {"x": 1, "y": 2}, "more": True})
    new = only(va.new_keys(), "values.new-keys")
    assert new.severity is Severity.INFO and dict(new.details)["keys"] == ["fresh", "more"]
    assert dict(only(va.removed_keys(), "values.removed-keys").details)["keys"] == ["gone"]


def test_empty_map_defaults_and_null_defaults_hold_user_keys(tmp_path: Path) -> None:
    values = {"podAnnotations": {}, "nodeSelector": {}, "affinity": None}
    va = pair(tmp_path, values, values)
    ours = {"podAnnotations": {"example.com/x": "1"}, "nodeSelector": {"gpu": "true"}, "affinity": {"nodeAffinity": {}}}
    assert va.analyze(ours) == []


def test_schema_free_form_object_holds_user_keys(tmp_path: Path) -> None:
    schema = json.dumps({"type": "object", "properties": {
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "strict": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}}})
    kw = {"files": {"values.schema.json": schema}}
    va = pair(tmp_path, {"labels": {"team": "a"}, "strict": {"a": "x"}}, {"labels": {"team": "a"}, "strict": {"a": "x"}},
              old_kw=kw, new_kw=kw)
    assert va.check_overrides({"labels": {"env": "prod"}}) == []
    assert only(va.check_overrides({"strict": {"b": "y"}}), "values.unknown-key").path == "strict.b"


def test_subchart_values_live_under_alias_and_globals_flow_down(tmp_path: Path) -> None:
    sub_old = write_chart(tmp_path / "s1", "nfd", "0.16.0", values={"worker": {"enabled": True}, "global": {"registry": "k8s.io"}},
                          templates={"cm.yaml": CM})
    sub_new = write_chart(tmp_path / "s2", "nfd", "0.17.0", values={"worker": {"enabled": True}, "master": {"replicas": 1},
                                                                    "global": {"registry": "k8s.io"}}, templates={"cm.yaml": CM})
    dep = [{"name": "nfd", "version": "0.x", "alias": "node-feature-discovery"}]
    va = pair(tmp_path, {"node-feature-discovery": {"worker": {"enabled": False}}},
              {"node-feature-discovery": {"worker": {"enabled": False}}},
              old_kw={"dependencies": dep, "subcharts": [sub_old]}, new_kw={"dependencies": dep, "subcharts": [sub_new]})
    ours = {"node-feature-discovery": {"worker": {"enabled": True}, "master": {"replicas": 2}}, "global": {"registry": "mirror"}}
    found = va.analyze(ours)
    assert [f.code for f in found if f.severity is Severity.BREAKING] == []
    # under the subchart's own name (not its alias) the key is unknown
    assert only(va.check_overrides({"nfd": {"worker": {"enabled": True}}}), "values.unknown-key").path == "nfd"


def test_lists_are_compared_as_values(tmp_path: Path) -> None:
    va = pair(tmp_path, {"args": ["--a", "--b"]}, {"args": ["--a", "--c"]})
    f = only(va.analyze({"args": ["--a", "--x"]}), "values.default-changed-overridden")
    assert f.old == ["--a", "--b"] and f.new == ["--a", "--c"] and f.ours == ["--a", "--x"]
    assert only(va.analyze({"args": ["--a", "--c"]}), "values.override-equals-default")
    assert only(va.analyze({}), "values.default-changed").new == ["--a", "--c"]


SCHEMA_OLD = {"type": "object", "properties": {"replicas": {"type": "integer"}, "mode": {"type": "string"}}}
SCHEMA_NEW = {"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 1},
                                               "mode": {"type": "string", "enum": ["a", "b"]}}}


def test_schema_validation_tells_new_violations_from_old_ones(tmp_path: Path) -> None:
    va = pair(tmp_path, {"replicas": 1, "mode": "a"}, {"replicas": 1, "mode": "a"},
              old_kw={"files": {"values.schema.json": json.dumps(SCHEMA_OLD)}},
              new_kw={"files": {"values.schema.json": json.dumps(SCHEMA_NEW)}})
    found = va.schema_findings({"replicas": 0, "mode": "c"}, env="dev")
    assert {(f.code, f.path, f.severity) for f in found} == {
        ("values.schema-violation", "replicas", Severity.BREAKING), ("values.schema-violation", "mode", Severity.BREAKING)}
    old_bad = va.schema_findings({"replicas": "two"})
    assert [(f.code, f.severity) for f in old_bad] == [("values.schema-violation-existing", Severity.INFO)]


def test_provenance_gives_file_and_line(tmp_path: Path) -> None:
    va = pair(tmp_path, {"a": {"b": 1}}, {"a": {"c": 1}})
    prov = {"a.b": ("values/prod.yaml", 12)}
    f = only(va.analyze({"a": {"b": 2}}, prov), "values.removed-key")
    assert (f.file, f.line) == ("values/prod.yaml", 12)

    class Leaf:
        file = "values/base.yaml"
        line = 3

    g = only(va.analyze({"a": {"b": 2}}, {("a", "b"): Leaf()}), "values.removed-key")
    assert (g.file, g.line) == ("values/base.yaml", 3)


def test_secret_values_never_appear_in_findings(tmp_path: Path) -> None:
    va = pair(tmp_path, {"auth": {"password": "old-default-pw"}, "db": {"token": "t0ken-old"}},
              {"auth": {"password": "new-default-pw"}})
    found = va.analyze({"auth": {"password": "s3cr3t-ours"}, "db": {"token": "t0ken-ours"}})
    text = json.dumps([f.to_json() for f in found])
    for secret in ("old-default-pw", "new-default-pw", "s3cr3t-ours", "t0ken-ours", "t0ken-old"):
        assert secret not in text
    f = only(found, "values.default-changed-overridden")
    assert (f.old, f.new, f.ours) == ("***", "***", "***") and "changed" in f.message


def test_no_change_no_findings(tmp_path: Path) -> None:
    values = {"replicas": 1, "image": {"tag": "1"}, "podAnnotations": {}}
    va = pair(tmp_path, values, values)
    assert va.analyze({"replicas": 2, "podAnnotations": {"a": "b"}}) == []
    assert va.new_keys() == [] and va.removed_keys() == []


def test_check_overrides_for_the_current_version(tmp_path: Path) -> None:
    chart = write_chart(tmp_path, "demo", "1.0.0", values={"replicas": 1, "list": []}, templates={"cm.yaml": CM},
                        files={"values.schema.json": json.dumps({"properties": {"replicas": {"type": "integer"}}})})
    found, unchecked = check_overrides(chart, {"replicas": "x", "list": {"a": 1}, "replicaz": 2, "list2": 1}, {"replicaz": ("v.yaml", 4)})
    assert unchecked == []
    got = {(f.code, f.path) for f in found}
    assert ("values.unknown-key", "replicaz") in got and ("values.unknown-key", "list2") in got
    assert ("values.type-change", "list") in got
    assert ("values.schema-violation", "replicas") not in got  # reported below under the type change as well
    assert any(f.code.startswith("values.schema-violation") and f.path == "replicas" for f in found)
    assert next(f for f in found if f.path == "replicaz").suggestion == "replicas"
    assert next(f for f in found if f.path == "replicaz").file == "v.yaml"
    assert "the chart has no such key" in next(f for f in found if f.path == "replicaz").message
    assert check_overrides(chart, {"replicas": 3}) == ([], [])


def test_defaults_diff_is_dictdiffers_with_yaml_types(monkeypatch) -> None:
    """OLD against NEW defaults go through dictdiffer; a value's YAML type counts, a list is one value."""
    import dictdiffer

    from chartkeeper.analysis import values_diff

    calls = []
    real = dictdiffer.diff
    monkeypatch.setattr(values_diff.dictdiffer, "diff", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    old = {"replicas": 1, "debug": True, "ports": [80, 443], "image": "nginx", "tls": {"a": 1},
           "gone": {"x": {"y": 1}}, "same": {"k": "v"}, "flag": 1}
    new = {"replicas": 1.0, "debug": True, "ports": [80], "image": {"repository": "nginx", "tag": "1"}, "tls": {},
           "added": {"p": {"q": 2}}, "same": {"k": "v"}, "flag": True}
    d = values_diff.diff_defaults(old, new)
    assert calls == [1]
    assert d.added == (("added",), ("added", "p"), ("added", "p", "q"), ("image", "repository"), ("image", "tag"))
    assert d.removed == (("gone",), ("gone", "x"), ("gone", "x", "y"), ("tls", "a"))
    assert sorted(d.changed, key=lambda c: c[0]) == [
        (("flag",), 1, True),  # equal to Python, not to a template
        (("image",), "nginx", {"repository": "nginx", "tag": "1"}),  # a leaf became a map
        (("ports",), [80, 443], [80]),  # the list as one value, no per-index noise
        (("replicas",), 1, 1.0),
        (("tls",), {"a": 1}, {}),  # a map that lost every key is a value of its own
    ]
    assert values_diff.diff_defaults(new, new) == values_diff.DefaultsDiff((), (), ())
