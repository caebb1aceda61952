"""The embedded renderer: helmfile semantics on Helm's engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from chartkeeper.errors import InputError
from chartkeeper.helmfile.gotmpl import FuncEnv, UnsupportedTemplate, render, split_template


def _r(text: str, values: dict | None = None, environ: dict | None = None, base: Path = Path(".")) -> str:
    ctx = {"Values": values or {}, "StateValues": values or {}, "Environment": {"Name": "dev", "Values": values or {}}}
    return render(text, ctx, where="t.gotmpl", fenv=FuncEnv(base, environ or {}))


def test_astrago_sample() -> None:
    t = 'repository: {{ .Values.offline.registry | default "nvcr.io" }}/nvidia\n'
    assert _r(t, {"offline": {"registry": ""}}) == "repository: nvcr.io/nvidia\n"
    assert _r(t, {"offline": {"registry": "r:5000"}}) == "repository: r:5000/nvidia\n"
    with pytest.raises(InputError, match='map has no entry for key "registry"'):
        _r(t, {"offline": {}})


def test_missing_keys_fail_inside_with_and_range_too() -> None:
    assert _r("{{ with .Values.a }}{{ .b }}{{ end }}", {"a": {"b": 1}}) == "1"
    with pytest.raises(InputError, match='no entry for key "c"'):
        _r("{{ with .Values.a }}{{ .c }}{{ end }}", {"a": {"b": 1}})
    assert _r("{{ range $k, $v := .Values.m }}{{ $k }}={{ $v.x }};{{ end }}", {"m": {"a": {"x": 1}, "b": {"x": 2}}}) == "a=1;b=2;"
    assert _r("{{ if hasKey .Values \"z\" }}{{ .Values.z.q }}{{ else }}none{{ end }}", {}) == "none"


def test_get_and_get_or_nil() -> None:
    vals = {"a": {"b": "x", "e": ""}}
    assert _r('{{ .Values | get "a.b" }}', vals) == "x"
    assert _r('{{ get "a.b" .Values }}', vals) == "x"
    assert _r('{{ .Values | get "a.z" "dflt" }}', vals) == "dflt"
    assert _r('{{ get "a.e" "dflt" .Values }}', vals) == ""
    assert _r('{{ .Values | getOrNil "a.z" | default "n" }}', vals) == "n"
    with pytest.raises(InputError, match="no value exists"):
        _r('{{ .Values | get "a.z" }}', vals)


def test_env_required_env_read_file(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("hello")
    assert _r('{{ env "X" | default "d" }}', environ={}) == "d"
    assert _r('{{ env "X" }}', environ={"X": 'q"uote'}) == 'q"uote'
    assert _r('{{ requiredEnv "X" }}', environ={"X": "set"}) == "set"
    with pytest.raises(InputError, match="required env var `X` is not set"):
        _r('{{ requiredEnv "X" }}')
    assert _r('{{ readFile "f.txt" | upper }}', base=tmp_path) == "HELLO"
    assert _r('{{ isFile "f.txt" }} {{ isFile "g.txt" }}', base=tmp_path) == "true false"
    with pytest.raises(InputError, match="readFile: g.txt: no such file"):
        _r('{{ readFile "g.txt" }}', base=tmp_path)


def test_unsupported_functions_and_arguments_are_named() -> None:
    with pytest.raises(UnsupportedTemplate, match="`exec`"):
        _r('{{ exec "date" (list) }}')
    with pytest.raises(UnsupportedTemplate, match="`env` with a computed argument"):
        _r("{{ env .Values.name }}", {"name": "X"})
    with pytest.raises(UnsupportedTemplate, match="`nosuchfn` is not defined"):
        _r("{{ nosuchfn 1 }}")
    with pytest.raises(InputError, match="`lookup` is not defined in helmfile"):
        _r('{{ lookup "v1" "Pod" "" "" }}')


def test_numbers_print_like_helmfile() -> None:
    assert _r("{{ .Values.n }} {{ .Values.m }} {{ .Values.f }}", {"n": 10485760, "m": 3, "f": 1.5}) == "10485760 3 1.5"
    assert _r("{{ .Values.n }}", {"n": 1000000}) == "1000000"


def test_strings_and_comments_with_braces_are_left_alone() -> None:
    assert _r('{{/* a }} comment */}}x{{ "}}" }}') == "x}}"
    assert _r("{{ `{{ .Values.raw }}` }}") == "{{ .Values.raw }}"
    assert [k for k, _ in split_template("a{{ b }}c{{- /* d */ -}}e")] == ["text", "action", "text", "comment", "text"]


def test_to_yaml_and_sprig() -> None:
    out = _r("x:\n{{ toYaml .Values.m | indent 2 }}\ny: {{ .Values.l | join \",\" }}", {"m": {"a": 1, "b": [1, 2]}, "l": ["p", "q"]})
    # helmfile's toYaml ends with a newline, which `indent` indents too
    assert out == "x:\n  a: 1\n  b:\n  - 1\n  - 2\n  \ny: p,q"


def test_helmfile_print_quirks_are_kept() -> None:
    # helmfile's toYaml keeps its trailing newline; a nil prints as "<no value>"
    assert _r("{{ toYaml .Values.m | quote }}", {"m": {"k": "v"}}) == '"k: v\\n"'
    assert _r("{{ (toYaml .Values.m) | len }}", {"m": {"k": "v"}}) == "5"
    assert _r('{{ .Values | getOrNil "a.b" }}|{{ .Values.n }}', {"n": None}) == "<no value>|<no value>"
    assert _r("{{ $x := .Values.n }}{{ if $x }}set{{ else }}unset{{ end }}", {"n": None}) == "unset"
    assert _r("{{- .Values.s -}} \n {{ .Values.s }}", {"s": "a"}) == "aa"


def test_get_with_any_default_expression() -> None:
    vals = {"charts": {"a": 1, "b": 2}, "ips": ["10.0.0.1"], "name": "web"}
    assert _r('{{ .Values | get "charts" dict | len }}', vals) == "2"
    assert _r('{{ .Values | get "nothing" dict | len }}', vals) == "0"
    assert _r('{{ .Values | get "ips" list | toJson }}', vals) == '["10.0.0.1"]'
    assert _r('{{ $d := "fb" }}{{ get "no.such" $d .Values }}', vals) == "fb"
    assert _r('{{ get "nope" (printf "%s-x" .Values.name) .Values }}', vals) == "web-x"
    with pytest.raises(InputError, match="no value exists"):
        _r('{{ get "nope" .Values }}', vals)


def test_define_in_the_template_and_helpers_next_to_it(tmp_path: Path) -> None:
    (tmp_path / "_helpers.tpl").write_text('{{- define "img" }}{{ .repo }}:{{ .tag }}{{ end }}\n')
    t = '{{- define "x" -}}\nX\n\n{{- end }}\na: {{ include "x" . }}\nb: {{ include "img" (dict "repo" "r" "tag" "1") }}\n'
    assert _r(t, base=tmp_path) == "\na: X\nb: r:1\n"
    with pytest.raises(InputError, match=r"t.gotmpl:7: .Values.nope"):  # lines after a define stay right
        _r(t + "c: {{ .Values.nope }}\n", base=tmp_path)
