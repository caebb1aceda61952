"""yamlio reads what Helm's Go YAML reads."""

from chartkeeper import yamlio


def test_a_plain_equals_sign_is_the_string_helm_reads() -> None:
    # A real kube-prometheus-stack 45.7.1 render holds a plain `=`; PyYAML alone cannot construct it.
    assert yamlio.loads("op: =\nops: [=, '!=']\n") == {"op": "=", "ops": ["=", "!="]}
    assert yamlio.loads_all("a: =\n---\nb: x\n") == [{"a": "="}, {"b": "x"}]
