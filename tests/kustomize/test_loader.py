"""Loading kustomization files: what is accepted, what is refused, and how errors read."""

from __future__ import annotations

from pathlib import Path

import pytest

from chartkeeper.errors import InputError
from chartkeeper.kustomize import load_kustomization
from tests.support.charts import write_tree


def _load(tmp_path: Path, files: dict[str, str]):
    write_tree(tmp_path, files)
    return load_kustomization(tmp_path, root=tmp_path)


def test_steps_in_kustomize_order_with_lines(tmp_path: Path) -> None:
    kz = _load(tmp_path, {
        "kustomization.yaml": (
            "resources: [all.yaml]\n"
            "images:\n"
            "- name: nginx\n"
            "  newTag: '2'\n"
            "patches:\n"
            "- target: {kind: Deployment}\n"
            "  patch: |-\n"
            "    - op: replace\n"
            "      path: /spec/replicas\n"
            "      value: 2\n"
            "    - op: remove\n"
            "      path: /spec/paused\n"
            "- path: sm.yaml\n"
            "patchesStrategicMerge:\n"
            "- sm.yaml\n"
            "patchesJson6902:\n"
            "- target: {kind: Service, name: web}\n"
            "  path: ops.json\n"
        ),
        "sm.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: NodePort\n",
        "ops.json": '[{"op": "add", "path": "/spec/type", "value": "NodePort"}]',
    })
    assert [s.label for s in kz.steps] == [
        "patchesStrategicMerge[0]", "patches[0]", "patches[1]", "patchesJson6902[0]", "images[0]",
    ]
    json_patch = kz.steps[1]
    assert json_patch.kind == "json6902" and json_patch.file == "kustomization.yaml"
    assert json_patch.op_lines == (8, 11)
    assert kz.steps[2].kind == "strategic" and kz.steps[2].file == "sm.yaml" and kz.steps[2].line == 1
    assert kz.steps[4].new_tag == "2" and kz.steps[4].line == 3
    assert any("placeholder" in w for w in kz.warnings)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"kustomization.yaml": "patches: [\n"}, "kustomization.yaml: line"),
        ({"kustomization.yaml": "patches:\n- path: missing.yaml\n"}, "patch file missing.yaml not found"),
        ({"kustomization.yaml": "namePrefix: x-\n"}, "`namePrefix` renames every resource"),
        ({"kustomization.yaml": "configMapGenerator: []\n"}, "`configMapGenerator` adds ConfigMaps"),
        ({"kustomization.yaml": "bogus: 1\n"}, "unknown kustomization field `bogus`"),
        ({"kustomization.yaml": "images:\n- name: x\n  newTag: 1.20\n"}, "images[0].newTag must be a string"),
        ({"kustomization.yaml": "patches:\n- patch: '[{\"op\": \"add\", \"path\": \"/a\", \"value\": 1}]'\n"},
         "needs a `target:`"),
        ({"kustomization.yaml": "patches:\n- target: {kind: X}\n  patch: |-\n    - op: frob\n      path: /a\n"},
         "unknown op 'frob'"),
        ({"kustomization.yaml": "patches:\n- path: ../outside.yaml\n"}, "outside the kustomization folder"),
        ({"kustomization.yaml": "patches:\n- path: p.yaml\n", "p.yaml": "kind: Deployment\nmetadata: {name: a}\n"
          "spec:\n  template:\n    spec:\n      $setElementOrder/containers: [{name: a}]\n"},
         "unsupported directive `$setElementOrder/containers`"),
        ({"kustomization.yaml": "patches:\n- target: {labelSelector: 'a in (b'}\n  patch: '[]'\n"},
         "not a valid selector"),
        ({"kustomization.yaml": "resources: [a.yaml, b.yaml]\n", "a.yaml": "kind: ConfigMap\n"},
         "adds resources to the rendered chart"),
        ({"kustomization.yaml": "kind: Component\n"}, "only a Kustomization"),
        ({"kustomization.yaml": "patches: [{patch: 'a: 1', path: b.yaml}]\n"}, "exactly one of"),
    ],
)
def test_malformed_kustomizations_name_the_file(tmp_path: Path, files: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as err:
        _load(tmp_path, files)
    assert message in str(err.value)
    assert "kustomization.yaml" in str(err.value) or "p.yaml" in str(err.value)


def test_missing_and_duplicate_kustomization_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no kustomization.yaml"):
        load_kustomization(tmp_path)
    write_tree(tmp_path, {"kustomization.yaml": "", "Kustomization": ""})
    with pytest.raises(InputError, match="more than one kustomization file"):
        load_kustomization(tmp_path)


def test_ignored_fields_warn(tmp_path: Path) -> None:
    kz = _load(tmp_path, {"kustomization.yml": "sortOptions: {order: fifo}\nbuildMetadata: [originAnnotations]\n"})
    assert kz.steps == ()
    assert any("sortOptions" in w for w in kz.warnings) and any("buildMetadata" in w for w in kz.warnings)
