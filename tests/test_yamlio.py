"""yamlio reads what Helm's Go YAML reads."""

import pytest
import yaml

from chartkeeper import limits, yamlio
from chartkeeper.errors import InputError


def test_a_plain_equals_sign_is_the_string_helm_reads() -> None:
    # A real kube-prometheus-stack 45.7.1 render holds a plain `=`; PyYAML alone cannot construct it.
    assert yamlio.loads("op: =\nops: [=, '!=']\n") == {"op": "=", "ops": ["=", "!="]}
    assert yamlio.loads_all("a: =\n---\nb: x\n") == [{"a": "="}, {"b": "x"}]


def test_fast_builder_builds_what_pyyamls_constructor_builds() -> None:
    """The plain-document walk and the per-text scalar tags (yamlio._Loader) give PyYAML's own result,
    and hand merge keys, explicit tags and collection keys back to PyYAML's constructor."""
    docs = [
        "a: 1\nb: [x, 2.5, true, null, '3', 2024-01-02]\nc: {d: '=', e: ~}\n",
        "base: &b {x: 1, y: [1, 2]}\nuse: *b\nmerged:\n  <<: *b\n  z: 3\n",
        "s: !!str 12\nbin: !!binary aGk=\nset: !!set {a: null}\n",
        "? [1, 2]\n: complex key\n",
        "deep: " + "[" * 150 + "]" * 150 + "\n",
        "0x1f: octal 017\nyes: on\n.inf: -.Inf\n",
    ]
    for text in docs:
        ours, theirs = yamlio.loads_all(text) if "? [" not in text else None, None
        try:
            theirs = list(yaml.load_all(text, Loader=yaml.SafeLoader))
        except yaml.YAMLError:
            theirs = "error"
        if ours is None:  # a list as a key: PyYAML refuses it, and so do we (one error, the file named)
            with pytest.raises(InputError):
                yamlio.loads_all(text, "x.yaml")
            assert theirs == "error"
            continue
        assert ours == theirs
    shared = yamlio.loads("a: &x [1]\nb: *x\n")
    assert shared["a"] is shared["b"]  # aliases stay shared, so the alias-bomb guard still sees them


# -- budgets (chartkeeper/limits.py) ------------------------------------------------------------


@pytest.fixture
def small_limits():
    """Budgets small enough to trip with a few lines; the defaults back afterwards."""
    limits.configure(limits.Limits(yaml_nodes=1000, yaml_bytes=10_000, depth=20, schema_bytes=2000))
    yield
    limits.configure(limits.Limits())


def test_an_alias_bomb_of_long_strings_is_counted_in_bytes(small_limits) -> None:
    # 13 nodes, 9 aliases of a 2,000-byte string: 18 KB once expanded, over the 10 KB budget
    text = 's: &s "' + "x" * 2000 + '"\na: &a [*s, *s, *s]\nb: [*a, *a, *a]\n'
    with pytest.raises(InputError, match=r"^v\.yaml: YAML aliases expand past 10,000 bytes of text .*limits\.yamlBytes"):
        yamlio.loads(text, "v.yaml")
    assert yamlio.loads('s: &s "' + "x" * 2000 + '"\na: [*s, *s]\n', "v.yaml")["a"][1] == "x" * 2000


def test_a_document_bigger_than_its_budget_is_refused_before_parsing(small_limits) -> None:
    with pytest.raises(InputError, match=r"^v\.yaml: 12 KiB is more than the 10,000 bytes .*limits\.yamlBytes"):
        yamlio.loads("a: " + "y" * 12_285, "v.yaml")


def test_nesting_deeper_than_the_budget(small_limits) -> None:
    with pytest.raises(InputError, match=r"nests deeper than 20 levels \(limits\.depth"):
        yamlio.loads("a: " + "[" * 25 + "]" * 25, "v.yaml")
    with pytest.raises(InputError, match=r"^s\.json: nests deeper than 20 levels"):
        yamlio.loads_json("[" * 25 + "]" * 25, "s.json")
    with pytest.raises(InputError, match=r"^s\.json: nests deeper than 20 levels"):  # past Python's own stack
        yamlio.loads_json("[" * 200_000 + "]" * 200_000, "s.json", max_bytes=1 << 20)
    with pytest.raises(InputError, match=r"^s\.json: 2,102 bytes is more than the 2,000 bytes .*limits\.schemaBytes"):
        yamlio.loads_json('"' + "z" * 2100 + '"', "s.json")


def test_strict_loading_names_both_lines_of_a_duplicate_key() -> None:
    text = "version: 1\ncharts:\n  - name: a\n    version: 1.0.0\n    path: a\n    version: 1.1.0\n"
    with pytest.raises(InputError, match=r"^versions\.lock: line 6: duplicate key `version` \(first at line 4\)"):
        yamlio.loads_strict(text, "versions.lock")
    # the same key in two mappings, and merge keys, are not duplicates
    ok = "a: &a {x: 1}\nb: {x: 2, <<: *a}\nc:\n  <<: *a\n  y: 3\n"
    assert yamlio.loads_strict(ok, "chartkeeper.yaml") == yamlio.loads(ok)


def test_undecodable_bytes_name_the_file_and_offset() -> None:
    with pytest.raises(InputError, match=r"^charts\.json: offset 7: cannot read 0xe9 \(not UTF-8\)"):
        yamlio.decode(b'{"d": "\xe9"}', "charts.json")
    with pytest.raises(InputError, match=r"^v\.yaml: offset 3: cannot read 0xff"):
        yamlio.loads(b"a: \xff\n", "v.yaml")
