"""The semantic manifest diff (dyff-like edits, label churn) and one-change-one-finding calibration."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chartkeeper.analysis.actions import calibrate, merge_duplicates, with_actions
from chartkeeper.analysis.manifests import ABSENT, Edit, diff_manifests, manifest_findings, semantic_edits
from chartkeeper.findings import Finding, Severity, verdict


def _deploy(chart: str = "op-1.0.0", image: str = "op:1") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "op", "labels": {"helm.sh/chart": chart, "app.kubernetes.io/version": chart[3:], "app": "op"}},
            "spec": {"selector": {"matchLabels": {"app": "op"}},
                     "template": {"metadata": {"labels": {"app": "op"}, "annotations": {"checksum/config": chart}},
                                  "spec": {"containers": [{"name": "op", "image": image, "args": ["--a", "--b"],
                                                           "env": [{"name": "A", "value": "1"}]}]}}}}


def _sa(chart: str) -> dict:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "op", "labels": {"helm.sh/chart": chart, "chart-ref": f"gpu-{chart}"}}}


def test_named_lists_match_by_name_and_absent_sides() -> None:
    old = _deploy()
    new = copy.deepcopy(old)
    containers = new["spec"]["template"]["spec"]["containers"]
    containers.insert(0, {"name": "sidecar", "image": "side:1"})  # shifts every index: still one edit
    containers[1]["image"] = "op:2"
    containers[1]["args"] = ["--a", "--c"]
    del containers[1]["env"][0]
    edits = semantic_edits(old, new)
    assert sorted(edits, key=lambda e: e.path) == [
        Edit("spec.template.spec.containers[op].args", ["--a", "--b"], ["--a", "--c"]),
        Edit("spec.template.spec.containers[op].env[A]", {"name": "A", "value": "1"}, ABSENT),
        Edit("spec.template.spec.containers[op].image", "op:1", "op:2"),
        Edit("spec.template.spec.containers[sidecar]", ABSENT, {"name": "sidecar", "image": "side:1"}),
    ]
    gone = next(e for e in edits if e.path.endswith("env[A]"))
    assert gone.to_json() == {"path": "spec.template.spec.containers[op].env[A]", "old": {"name": "A", "value": "1"}}


def test_version_label_churn_is_folded_unless_asked() -> None:
    old = [_deploy("op-1.0.0"), _sa("op-1.0.0")]
    new = [_deploy("op-1.1.0", image="op:2"), _sa("op-1.1.0")]
    d = diff_manifests(old, new, namespace="ns", versions=[("1.0.0", "1.1.0")])
    (changed,) = d.changed
    assert [e.path for e in changed.edits] == ["spec.template.spec.containers[op].image"]
    assert {e.path for e in changed.churn} == {"metadata.labels.helm.sh/chart", "metadata.labels.app.kubernetes.io/version",
                                               "spec.template.metadata.annotations.checksum/config"}
    # a label that is the chart version with the version swapped is churn too; the resource is not "changed"
    assert [str(c.key) for c in d.churn_only] == ["core/ServiceAccount/ns/op"]
    assert "helm.sh/chart: op-1.1.0" in changed.diff  # the .diff file keeps everything
    shown = diff_manifests(old, new, namespace="ns", versions=[("1.0.0", "1.1.0")], show_label_churn=True)
    assert len(shown.changed) == 2 and not shown.churn_only
    assert any(e.path == "metadata.labels.chart-ref" for c in shown.changed for e in c.edits)


def test_a_selector_change_is_breaking_and_never_churn() -> None:
    old, new = _deploy(), _deploy()
    new["spec"]["selector"]["matchLabels"]["app.kubernetes.io/version"] = "1.1.0"
    d = diff_manifests([old], [new], namespace="ns", versions=[("1.0.0", "1.1.0")])
    (f,) = manifest_findings(d, env="prod")
    assert f.severity is Severity.BREAKING and "spec.selector changed" in f.message and f.action
    assert dict(f.details)["edits"] == [{"path": "spec.selector.matchLabels.app.kubernetes.io/version", "new": "1.1.0"}]


def test_a_routine_bump_is_safe_and_one_change_is_one_finding() -> None:
    tag = Finding("values.default-changed", Severity.REVIEW, "image.tag: 1 -> 2", path="image.tag", env="dev", old="1", new="2")
    flag = Finding("values.default-changed", Severity.REVIEW, "x.enabled", path="x.enabled", env="dev", old=True, new=False)
    images = Finding("images.new", Severity.REVIEW, "1 new image", env="dev", details=(("images", ["r/op:2"]),))
    routine = calibrate([tag, images], rendered_envs=["dev"])
    assert [f.code for f in routine] == ["images.new"] and verdict(routine) == "safe"
    assert dict(routine[0].details)["fromValues"] == ["image.tag: 1 -> 2"]
    # a flag flipping is a decision: it stays, and gets an action
    decided = with_actions(calibrate([tag, flag, images], rendered_envs=["dev"]))
    assert verdict(decided) == "needs review"
    (f,) = [f for f in decided if f.path == "x.enabled"]
    assert f.action == "Accept NEW's default `x.enabled` = `false`, or pin `true` in our values"
    # where rendering failed, the tag change is kept (nothing else reports it)
    assert calibrate([tag], rendered_envs=[]) == [tag]


def test_findings_of_one_patch_op_are_merged() -> None:
    a = Finding("patch.upstream-changed", Severity.REVIEW, "upstream moved it", path="apps/Deployment/ns/op",
                env="dev", file="patches/op/p.yaml", line=7)
    b = Finding("patch.json6902-path-missing", Severity.BREAKING, "path gone", path="apps/Deployment/ns/op",
                env="dev", file="patches/op/p.yaml", line=7)
    other = Finding("patch.no-op", Severity.INFO, "nothing", path="apps/Deployment/ns/op", env="dev",
                    file="patches/op/p.yaml", line=9)
    merged = merge_duplicates([a, b, other])
    assert [f.code for f in merged] == ["patch.json6902-path-missing", "patch.no-op"]
    assert dict(merged[0].details)["alsoFound"] == ["patch.upstream-changed: upstream moved it"]


def test_actions_for_masked_defaults_name_the_pin_or_the_template() -> None:
    from chartkeeper.analysis.actions import action_for

    pinned = Finding("values.default-changed-overridden", Severity.REVIEW, "m", path="driver.version", new="570", ours="550",
                     file="helmfile/values/gpu.yaml", line=5,
                     details=(("pinned", {"commit": "a1b2c3d4e5", "date": "2024-11-02", "subject": "driver 550 for A100 hosts"}),))
    assert action_for(pinned) == ("Decide on the masked default `driver.version`: keep our `550` at `helmfile/values/gpu.yaml:5` "
                                  "(pinned 2024-11-02 in a1b2c3d4e5 \"driver 550 for A100 hosts\") or take NEW's `570` by deleting the line")
    templated = Finding("values.default-changed-overridden", Severity.REVIEW, "m", path="driver.repository", new="nvcr.io/nvidia",
                        ours="harbor.local/nvidia", details=(("templated", True), ("template", "{{ .Values.offline.registry }}/nvidia"),
                                                             ("templateFile", "helmfile/values/gpu.yaml.gotmpl:3")))
    assert "our template `{{ .Values.offline.registry }}/nvidia`" in action_for(templated)
    assert "deleting the line" not in action_for(templated)


# -- the pruned walk finds what the whole walk finds --------------------------------------------------

_names = st.sampled_from(["a", "b", "c", "name"])
_scalars = st.one_of(st.integers(-2, 2), st.sampled_from(["x", "y", ""]), st.booleans(), st.none())
_manifest_trees = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(_names, inner, max_size=4),
        # named lists (matched by name), sometimes with a name repeated or missing: then plain lists
        st.lists(st.fixed_dictionaries({"name": st.sampled_from(["p", "q", "r"])}, optional={"v": inner}), max_size=3)),
    max_leaves=12)


def _whole_walk(old: dict, new: dict) -> list[Edit]:
    """semantic_edits as it was before pruning: both sides normalised whole, then dictdiffer over all of them."""
    import dictdiffer

    from chartkeeper.analysis.manifests import _normal, _plain, fmt_path

    out = []
    for kind, path, change in dictdiffer.diff(_normal(old), _normal(new), dot_notation=False):
        parts = list(path) if isinstance(path, (list, tuple)) else ([path] if path != "" else [])
        if kind == "change":
            out.append(Edit(fmt_path(parts), _plain(change[0]), _plain(change[1])))
        else:
            for k, v in change:
                out.append(Edit(fmt_path(parts + [k]), ABSENT if kind == "add" else _plain(v),
                                _plain(v) if kind == "add" else ABSENT))
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_names, _manifest_trees, max_size=4), st.data())
def test_pruned_edits_equal_the_whole_walk(old: dict, data: st.DataObject) -> None:
    # NEW: often OLD with a few parts redrawn (what an upgrade looks like), sometimes another tree altogether
    new = data.draw(st.one_of(st.dictionaries(_names, _manifest_trees, max_size=4),
                              st.builds(lambda extra: {**copy.deepcopy(old), **extra},
                                        st.dictionaries(_names, _manifest_trees, max_size=2))))
    assert semantic_edits(old, new) == _whole_walk(old, new)


def test_pruning_keeps_the_order_of_edits_in_a_named_list() -> None:
    old = {"spec": {"versions": [{"name": "v1", "schema": {"a": 1, "b": 2, "c": 3}}, {"name": "v2", "x": 1}]}}
    new = {"spec": {"versions": [{"name": "v2", "x": 2}, {"name": "v1", "schema": {"a": 9, "b": 2, "d": 4}}]}}
    got = [(e.path, e.old, e.new) for e in semantic_edits(old, new)]
    assert got == [("spec.versions[v1].schema.a", 1, 9), ("spec.versions[v1].schema.d", ABSENT, 4),
                   ("spec.versions[v1].schema.c", 3, ABSENT), ("spec.versions[v2].x", 1, 2)]
    assert got == [(e.path, e.old, e.new) for e in _whole_walk(old, new)]
