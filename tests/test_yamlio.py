"""yamlio reads what Helm's Go YAML reads."""

import pytest
import yaml

from chartkeeper import yamlio
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
