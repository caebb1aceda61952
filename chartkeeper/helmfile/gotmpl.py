"""helmfile's Go templates, rendered by the real Helm template engine (no helmfile needed).

helmfile renders `*.gotmpl` files (and, before v1, every state file) with Go's text/template,
sprig, and a few functions of its own, failing on any missing map key. Helm's engine (from
`helm_python`) has the same parser, sprig and `toYaml`/`fromYaml`/`required`/`tpl`, so the
template runs there unchanged except for what differs, which is rewritten action by action
before rendering:

- helmfile fails on a missing key (`missingkey=error`); Helm prints nothing. Every field
  chain (`.Values.a.b`, `$x.a`) becomes `(and (or (hasKey . "a") (fail …)) … .Values.a.b)`,
  which keeps the value and its type, and fails exactly where helmfile fails.
- `env`, `requiredEnv`, `expandenv`, `readFile`, `isFile` with literal arguments are evaluated
  here and replaced by their value; `get`/`getOrNil` with a literal path become sprig's `dig`.
- helmfile's `toYaml` keeps the trailing newline Helm's trims (`| printf "%s\n"` is added), and
  helmfile prints a nil as `<no value>` where Helm's engine erases that text (printing actions
  mark a nil and the mark is turned back into `<no value>`).
- Helm's engine holds numbers as float64 and prints 10485760 as 1.048576e+07; the big integers of
  the context are printed back as helmfile prints them.
- Anything else helmfile-only (`exec`, `readDir`, `fetchSecretValue`…) or a non-literal
  argument is an `UnsupportedTemplate` error that names the function: never a guess.

The context (`.Values`, `.StateValues`, `.Environment.Name/Values`, `.Release…`) is passed
as chart values and handed to the template body with `include`, so `.` and `$` are exactly
helmfile's.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Mapping

from chartkeeper import limits
from chartkeeper.errors import InputError
from chartkeeper.helm.engine import EngineTimeout, bounded, output_too_big, over_limit

HELMFILE_ONLY = {
    "exec": "runs a command",
    "envExec": "runs a command",
    "readDir": "lists a folder",
    "readDirEntries": "lists a folder",
    "fetchSecretValue": "fetches a secret (vals)",
    "expandSecretRefs": "fetches secrets (vals)",
    "setValueAtPath": "mutates values",
    "decryptSecret": "decrypts a secret",
    "harvest": "reads live resources",
}
# Functions Helm has but helmfile does not: helmfile would fail, so must we.
HELM_ONLY = {"lookup", "mustToYaml"}
# helmfile >= 0.160 parses every `_*.tpl` file next to the template (its base folder) before it,
# so `include`/`template` can call their `define`s; a `define` may also sit in the template itself.
_USES_PARTIALS = re.compile(r"\b(include|template)\b")

_GET_MISSING = "__ck_get_missing__"
_FAIL_PREFIX = "ck-missing-key:"


class TemplateError(InputError):
    """A template failed in the embedded renderer (helmfile itself may or may not fail on it)."""


class UnsupportedTemplate(TemplateError):
    """The embedded renderer cannot evaluate this template faithfully."""


# helmfile can, but running it runs the repository's templates (and their `exec`): only when asked
_HELMFILE_HINT = ("a helmfile binary can evaluate it if you allow running the repository's templates: "
                  "`--allow-exec`, or `renderer: helmfile` in chartkeeper.yaml")


@dataclass(frozen=True)
class Token:
    kind: str  # ws, str, raw, char, field, var, ident, num, punct, other
    text: str


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.)*')
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<num>[+-]?(?:0[xXoObB][0-9a-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)i?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>:=|[()|,=])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(body: str) -> list[Token]:
    return [Token(m.lastgroup or "other", m.group()) for m in _TOKEN_RE.finditer(body)]


def split_template(text: str) -> list[tuple[str, str]]:
    """[(kind, raw)] where kind is "text", "comment" or "action" (raw includes the delimiters)."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        j = text.find("{{", i)
        if j < 0:
            out.append(("text", text[i:]))
            break
        if j > i:
            out.append(("text", text[i:j]))
        k = j + 2
        if text.startswith("- ", k) or text.startswith("-\t", k) or text.startswith("-\n", k):
            k += 1
        rest = text[k:].lstrip()
        if rest.startswith("/*"):
            end = text.find("*/", k)
            if end < 0:
                raise ValueError("unclosed comment")
            close = text.find("}}", end)
            if close < 0:
                raise ValueError("unclosed action")
            out.append(("comment", text[j : close + 2]))
            i = close + 2
            continue
        # scan to the closing }} outside string literals
        p = k
        while p < n:
            c = text[p]
            if c == '"':
                p += 1
                while p < n and text[p] != '"':
                    p += 2 if text[p] == "\\" else 1
                p += 1
            elif c == "`":
                e = text.find("`", p + 1)
                p = (e if e >= 0 else n) + 1
            elif c == "'":
                p += 1
                while p < n and text[p] != "'":
                    p += 2 if text[p] == "\\" else 1
                p += 1
            elif text.startswith("}}", p):
                break
            else:
                p += 1
        if p >= n:
            raise ValueError("unclosed action: no matching }}")
        out.append(("action", text[j : p + 2]))
        i = p + 2
    return out


def _go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


@dataclass
class FuncEnv:
    """What helmfile-only functions may read: the process environment and files under base_dir."""

    base_dir: Path
    environ: Mapping[str, str]


def _literal_value(tok: Token) -> str | None:
    if tok.kind == "str":
        return json.loads(tok.text) if "\\" not in tok.text else _unquote_go(tok.text)
    if tok.kind == "raw":
        return tok.text[1:-1]
    return None


def _unquote_go(s: str) -> str:
    try:
        return json.loads(s)
    except ValueError:
        return s[1:-1].encode("utf-8").decode("unicode_escape")


def _strict_chain(base: str, fields: list[str], shown: str, line: int) -> str:
    """`base.f1.f2` that fails like helmfile when a key is missing, keeping the value's type."""
    parts = []
    cur = base
    for f in fields:
        msg = _go_quote(f'{_FAIL_PREFIX}{line}:{shown}: map has no entry for key "{f}"')
        parts.append(f"(or (hasKey {cur} {_go_quote(f)}) (fail {msg}))")
        cur = f"{cur}.{f}" if cur != "." else f".{f}"
    return "(and " + " ".join(parts) + " " + cur + ")"


def rewrite_action(raw: str, fenv: FuncEnv, where: str, line: int = 0) -> str:
    """One `{{ … }}` action rewritten for Helm's engine (see the module docstring)."""
    left = "{{- " if raw.startswith("{{-") and len(raw) > 3 and raw[3].isspace() else "{{"
    inner = raw[len(left) : -2]
    right = "}}"
    stripped = inner.rstrip()
    if stripped.endswith("-") and len(stripped) >= 2 and stripped[-2].isspace():
        inner = stripped[:-1]
        right = " -}}"
    toks = tokenize(inner)
    out: list[str] = []
    i = 0
    sig = [t for t in toks if t.kind != "ws"]

    def next_sig(idx: int) -> tuple[int, Token | None]:
        j = idx + 1
        while j < len(toks) and toks[j].kind == "ws":
            j += 1
        return j, (toks[j] if j < len(toks) else None)

    def is_end(t: Token | None) -> bool:
        return t is None or (t.kind == "punct" and t.text in (")", "|"))

    inserts: dict[int, str] = {}
    prev: Token | None = None
    while i < len(toks):
        if i in inserts:
            out.append(inserts.pop(i))
        t = toks[i]
        if t.kind == "field" and t.text != "." and not (prev is not None and prev.text == ")" and out and not out[-1].isspace()):
            fields = t.text[1:].split(".")
            out.append(_strict_chain(".", fields, t.text, line))
        elif t.kind == "var" and "." in t.text:
            base, *fields = t.text.split(".")
            out.append(_strict_chain(base, fields, t.text, line))
        elif t.kind == "ident" and t.text in ("env", "requiredEnv", "expandenv", "readFile", "isFile"):
            j, arg = next_sig(i)
            k, after = next_sig(j)
            lit = _literal_value(arg) if arg is not None else None
            if lit is None or not is_end(after):
                raise UnsupportedTemplate(
                    f"{where}: `{t.text}` with a computed argument cannot be evaluated by the embedded renderer "
                    "(helmfile evaluates it with `--allow-exec`)",
                    hint="pass a literal argument; or " + _HELMFILE_HINT,
                )
            out.append(_eval_helmfile_func(t.text, lit, fenv, where))
            i = j + 1
            prev = arg
            continue
        elif t.kind == "ident" and t.text in ("get", "getOrNil"):
            j, path_tok = next_sig(i)
            path = _literal_value(path_tok) if path_tok is not None else None
            if not path:
                raise UnsupportedTemplate(
                    f"{where}: `{t.text}` needs a literal, non-empty path for the embedded renderer",
                    hint=_HELMFILE_HINT,
                )
            keys = " ".join(_go_quote(k) for k in path.split("."))
            # helmfile's get(path, [default,] obj): count the operands to know whether a default
            # (any expression: `dict`, `list`, `$var`, `(printf …)`) is given; a piped value is
            # the last operand.
            operands = _operand_count(toks, j + 1, _command_end(toks, i)) + 1
            piped = prev is not None and prev.kind == "punct" and prev.text == "|"
            has_default = operands + (1 if piped else 0) == 3
            if t.text == "getOrNil":
                out.append(f"dig {keys} nil")
            elif has_default:
                out.append(f"dig {keys}")
            else:
                out.append(f"dig {keys} {_go_quote(_GET_MISSING)}")
            i = j + 1
            prev = toks[j]
            continue
        elif t.kind == "ident" and t.text == "toYaml":
            # helmfile's toYaml keeps the trailing newline that Helm's trims
            inserts[_command_end(toks, i)] = ' | printf "%s\\n"'
            out.append(t.text)
        elif t.kind == "ident" and t.text in HELMFILE_ONLY:
            raise UnsupportedTemplate(
                f"{where}: the helmfile function `{t.text}` ({HELMFILE_ONLY[t.text]}) is not available in the embedded renderer "
                "(helmfile evaluates it with `--allow-exec`)",
                hint=_HELMFILE_HINT,
            )
        elif t.kind == "ident" and t.text in HELM_ONLY:
            raise TemplateError(f"{where}: function `{t.text}` is not defined in helmfile templates")
        else:
            out.append(t.text)
        if t.kind != "ws":
            prev = t
        i += 1
    if len(toks) in inserts:
        out.append(inserts.pop(len(toks)))
    body = "".join(out)
    if _prints(sig):
        # helmfile prints a nil as "<no value>"; Helm's engine erases that text, so mark it
        return (
            f"{left} $__ck := ({body}) }}}}{{{{ if kindIs \"invalid\" $__ck }}}}{_NIL}"
            f"{{{{ else }}}}{{{{ $__ck }}}}{{{{ end{right}"
        )
    return left + body + right


_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
_NIL = "__ck_nil__"


def _prints(sig: list[Token]) -> bool:
    """Does this action print its pipeline (not a control keyword, not a variable assignment)?"""
    if not sig:
        return False
    first = sig[0]
    if first.kind == "ident" and first.text in _KEYWORDS:
        return False
    if first.kind == "var" and len(sig) > 1 and sig[1].text in (":=", "=", ","):
        return False
    return True


def _operand_count(toks: list[Token], start: int, end: int) -> int:
    """How many operands toks[start:end] holds (a parenthesised group and `(x).f` count as one)."""
    n = 0
    depth = 0
    prev: Token | None = None
    for t in toks[start:end]:
        if t.kind == "ws":
            prev = t
            continue
        if depth == 0 and not (t.kind == "field" and prev is not None and prev.text == ")"):
            if not (t.kind == "punct" and t.text == ")"):
                n += 1
        if t.kind == "punct" and t.text == "(":
            depth += 1
        elif t.kind == "punct" and t.text == ")":
            depth -= 1
        prev = t
    return n


def _command_end(toks: list[Token], start: int) -> int:
    """Index of the token that ends the command starting at `start` (`|` or an unmatched `)`)."""
    depth = 0
    for j in range(start + 1, len(toks)):
        t = toks[j]
        if t.kind == "punct" and t.text == "(":
            depth += 1
        elif t.kind == "punct" and t.text == ")":
            if depth == 0:
                return j
            depth -= 1
        elif t.kind == "punct" and t.text == "|" and depth == 0:
            return j
    return len(toks)


def _eval_helmfile_func(name: str, arg: str, fenv: FuncEnv, where: str) -> str:
    if name == "env":
        return _go_quote(fenv.environ.get(arg, ""))
    if name == "requiredEnv":
        val = fenv.environ.get(arg)
        if not val:
            raise TemplateError(f"{where}: required env var `{arg}` is not set")
        return _go_quote(val)
    if name == "expandenv":
        return _go_quote(_expand_env(arg, fenv.environ))
    path = Path(arg) if os.path.isabs(arg) else fenv.base_dir / arg
    if name == "isFile":
        return "true" if path.is_file() else "false"
    return _go_quote(_read_file(path, arg, fenv, where))


def _read_file(path: Path, arg: str, fenv: FuncEnv, where: str) -> str:
    """`readFile`'s text: a regular file of at most `limits.yamlBytes` (not /dev/zero, not a pipe)."""
    cap = limits.current().yaml_bytes
    try:
        if not path.is_file():
            if path.exists():
                raise TemplateError(f"{where}: readFile: {arg}: not a regular file")
            raise FileNotFoundError(arg)
        with path.open("rb") as f:
            data = f.read(cap + 1)
    except FileNotFoundError:
        raise TemplateError(f"{where}: readFile: {arg}: no such file (relative to {fenv.base_dir.name}/)") from None
    except OSError as exc:
        raise TemplateError(f"{where}: readFile: {arg}: {exc.strerror}") from None
    if len(data) > cap:
        raise TemplateError(f"{where}: readFile: {arg}: bigger than {limits.size(cap)} ({limits.key_of('yaml_bytes')})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{where}: readFile: {arg}: offset {exc.start}: not UTF-8 text") from None


def _expand_env(s: str, environ: dict[str, str]) -> str:
    # Go's os.ExpandEnv: $VAR and ${VAR}; unset variables expand to "".
    return re.sub(r"\$(?:\{([^}]*)\}|([A-Za-z0-9_]+))", lambda m: environ.get(m.group(1) or m.group(2), ""), s)


# These read the environment or files, but only with a literal argument (anything else is refused).
_IMPURE_RE = re.compile(r"\b(env|requiredEnv|expandenv|readFile|isFile)\s+[\"`]")
_REWRITTEN: dict[tuple[str, str], str] = {}


def rewrite_template(text: str, fenv: FuncEnv, where: str) -> str:
    # A template that reads no environment variable or file rewrites the same way every time.
    pure = not _IMPURE_RE.search(text)
    if pure:
        hit = _REWRITTEN.get((text, where))
        if hit is not None:
            return hit
    out = _rewrite_template(text, fenv, where)
    if pure:
        if len(_REWRITTEN) > 1024:
            _REWRITTEN.clear()
        _REWRITTEN[(text, where)] = out
    return out


def _rewrite_template(text: str, fenv: FuncEnv, where: str) -> str:
    try:
        pieces = split_template(text)
    except ValueError as exc:
        raise TemplateError(f"{where}: template: {exc}") from None
    out = []
    line = 1
    for kind, raw in pieces:
        out.append(rewrite_action(raw, fenv, f"{where}:{line}", line) if kind == "action" else raw)
        line += raw.count("\n")
    return "".join(out)


# --- numbers ---------------------------------------------------------------------------------
# Helm's engine holds every number as float64 and prints 10485760 as 1.048576e+07; helmfile
# holds YAML integers as int. Print-forms of the big integers in the context are mapped back.


def _go_float_repr(x: float) -> str:
    d = Decimal(repr(float(x))).normalize()
    sign, digits, exp = d.as_tuple()
    ds = "".join(map(str, digits))
    e10 = len(ds) + int(exp) - 1
    if e10 < -4 or e10 >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return ("-" if sign else "") + f"{mant}e{'+' if e10 >= 0 else '-'}{abs(e10):02d}"
    return format(float(x), "f").rstrip("0").rstrip(".")


def _big_ints(node: Any, acc: dict[str, str], floats: set[str]) -> None:
    if isinstance(node, dict):
        for v in node.values():
            _big_ints(v, acc, floats)
    elif isinstance(node, list):
        for v in node:
            _big_ints(v, acc, floats)
    elif isinstance(node, bool):
        return
    elif isinstance(node, int) and abs(node) >= 1_000_000:
        acc[_go_float_repr(node)] = str(node)
    elif isinstance(node, float) and node == node and abs(node) >= 1_000_000:
        floats.add(_go_float_repr(node))


# --- the engine -------------------------------------------------------------------------------


def _archive(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=0) as tf:  # stored: never sent anywhere
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo("ck/" + name)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


_CHART_YAML = "apiVersion: v2\nname: ck\nversion: 0.0.1\n"
_ERR_LOC_RE = re.compile(r"\(?ck/templates/_body\.tpl:(\d+)(?::(\d+))?\)?:?\s*")
_PARTIAL_LOC_RE = re.compile(r"\(?ck/templates/_ck_partials\.tpl:\d+(?::\d+)?\)?:?\s*")


def render(text: str, context: dict[str, Any], *, where: str, fenv: FuncEnv) -> str:
    """Render one helmfile template `text` with `context`; errors name `where` and the line."""

    if "{{" not in text:
        return text
    literal = _literal_only(text)
    if literal is not None:
        return literal
    body, partials = prepare(text, fenv, where)
    ctx_json = ctx_key(context)
    cached = _RENDERED.get((body, partials, ctx_json))
    if cached is not None:
        return cached
    out = _render_body(body, context, where, partials)
    if len(_RENDERED) > 16384:
        _RENDERED.clear()
    _RENDERED[(body, partials, ctx_json)] = out
    return out


_LITERAL_ACTION_RE = re.compile(r'\{\{\s*(`[^`]*`|"(?:[^"\\\n]|\\.)*")\s*\}\}')


def _literal_only(text: str) -> str | None:
    """A template whose every action prints a string literal (helmfile's escaping idiom
    {{`{{ .Release.Name }}`}} in a state file), rendered without the engine; else None.
    An action with a trim marker, a comment or anything else is not matched and leaves a
    `{{` between the matches, which sends the template to the engine."""
    out = []
    pos = 0
    for m in _LITERAL_ACTION_RE.finditer(text):
        between = text[pos : m.start()]
        if "{{" in between:
            return None
        out.append(between)
        lit = m.group(1)
        out.append(lit[1:-1] if lit[0] == "`" else _unquote_go(lit))
        pos = m.end()
    tail = text[pos:]
    if "{{" in tail:
        return None
    out.append(tail)
    return "".join(out)


def prepare(text: str, fenv: FuncEnv, where: str) -> tuple[str, str]:
    """(rewritten body, rewritten `define`s of the template and of the `_*.tpl` helpers it may call)."""
    body, defines = extract_defines(text)
    body = rewrite_template(body, fenv, where)
    partials = rewrite_template(defines, fenv, where) if defines else ""
    if _USES_PARTIALS.search(text):
        for helper, htext in helper_files(fenv.base_dir):
            partials += rewrite_template(htext, fenv, helper)
    return body, partials


_HELPERS: dict[tuple[str, int, int], str] = {}


def helper_files(base_dir: Path) -> list[tuple[str, str]]:
    """The `_*.tpl` files of `base_dir`, in helmfile's (glob, name) order: [(name, text)]."""
    out = []
    try:
        names = sorted(p for p in os.listdir(base_dir) if p.startswith("_") and p.endswith(".tpl"))
    except OSError:
        return []
    for name in names:
        path = base_dir / name
        try:
            st = path.stat()
            key = (str(path), st.st_mtime_ns, st.st_size)
            text = _HELPERS.get(key)
            if text is None:
                text = _HELPERS[key] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{name}: cannot read helper template ({exc})") from None
        out.append((name, text))
    return out


_BLOCK_OPENERS = {"if", "range", "with", "define", "block"}


def _action_keyword(raw: str) -> str | None:
    inner = raw[2:-2].strip().lstrip("-").rstrip("-").strip()
    m = re.match(r"[A-Za-z_]+", inner)
    return m.group() if m else None


def extract_defines(text: str) -> tuple[str, str]:
    """Split the top-level `{{ define }}…{{ end }}` blocks out of a template: (rest, defines).

    Helm's engine runs the template inside a `define` of its own, where another `define` is a
    parse error, so they go into a partial file. Each block leaves a comment action with the
    same trim markers (so the whitespace around it renders as helmfile renders it) and the same
    number of lines (so errors after it name the right line).
    """
    if "define" not in text:
        return text, ""
    try:
        pieces = split_template(text)
    except ValueError:
        return text, ""
    rest: list[str] = []
    defines: list[str] = []
    depth = 0
    left = ""
    lines = 0
    for kind, raw in pieces:
        kw = _action_keyword(raw) if kind == "action" else None
        if depth == 0:
            if kw == "define":
                depth = 1
                defines.append(raw)
                left = "{{- " if raw.startswith("{{-") else "{{"
                lines = raw.count("\n")
                continue
            rest.append(raw)
            continue
        defines.append(raw)
        lines += raw.count("\n")
        if kw in _BLOCK_OPENERS:
            depth += 1
        elif kw == "end":
            depth -= 1
            if depth == 0:
                right = " -}}" if raw.rstrip("}").rstrip().endswith("-") else "}}"
                rest.append(left + "/* define" + "\n" * lines + " */" + right)
                defines.append("\n")
    if depth != 0:
        return text, ""  # unbalanced: let the engine report it on the original text
    return "".join(rest), "".join(defines)


# Rendering is a pure function of the rewritten body (which already holds the values of `env`,
# `readFile`…) and the context, so one process renders each distinct pair once.
_RENDERED: dict[tuple[str, str, str], str] = {}


# Templates whose evaluation ran past `limits.templateSeconds`: that evaluation still runs in its
# abandoned thread, so the same template is not started again (with another environment's values,
# say) to pile up on it; it fails at once with the same words.
_TIMED_OUT: dict[tuple[str, str], str] = {}


def _render_body(body: str, context: dict[str, Any], where: str, partials: str = "") -> str:
    import helm_python  # lazy: helm-python-sdk loads a large native library; only commands that render need it

    if (body, partials) in _TIMED_OUT:
        raise TemplateError(f"{where}: {_TIMED_OUT[(body, partials)]} (not tried again)")
    files = {
        "Chart.yaml": _CHART_YAML,
        "templates/_body.tpl": '{{ define "ck.body" }}' + body + "{{ end }}",
        "templates/out.txt": '{{ include "ck.body" .Values.ck }}',
    }
    if partials:
        files["templates/_ck_partials.tpl"] = partials
    try:
        rendered = _engine_render(files, {"ck": _jsonable(context)})
    except helm_python.HelmError as exc:
        raise _template_error(str(exc), where) from None
    except EngineTimeout as exc:
        why = _TIMED_OUT[(body, partials)] = f"the template {exc} ({limits.key_of('template_seconds')})"
        raise TemplateError(f"{where}: {why}") from None
    total = output_too_big(rendered)
    if total is not None:
        raise TemplateError(f"{where}: {over_limit('the template', total)}")
    return _finish(rendered.get("ck/templates/out.txt", ""), context, where)


def _engine_render(files: dict[str, str], values: dict[str, Any]) -> dict[str, str]:
    """One evaluation in the embedded engine, within `limits.templateSeconds` (see helm.engine)."""
    from helm_python import Chart  # lazy: helm-python-sdk loads a large native library; only commands that render need it

    def call() -> dict[str, str]:
        with Chart.load_archive(_archive(files)) as chart:
            return chart.render(values)

    return bounded(call, limits.current().template_seconds)


_E_NOTATION = re.compile(r"\de[+-]\d\d")


def _finish(out: str, context: dict[str, Any], where: str) -> str:
    out = out.replace(_NIL, "<no value>")
    if _GET_MISSING in out.lower():
        raise TemplateError(f"{where}: get: no value exists for a path (use getOrNil or a default)")
    if not _E_NOTATION.search(out):
        return out  # no number printed in Go's exponent form: nothing to map back
    big: dict[str, str] = {}
    floats: set[str] = set()
    _big_ints(context, big, floats)
    if big:
        clash = sorted(set(big) & floats)
        if clash:
            raise UnsupportedTemplate(f"{where}: the number {clash[0]} is both an integer and a float in the values; cannot print it faithfully")
        out = re.sub(
            r"(?<![\w.])-?\d(?:\.\d+)?e[+-]\d\d+(?![\w.])",
            lambda m: big.get(m.group(), m.group()),
            out,
        )
    return out


def render_many(jobs: list[tuple[str, dict[str, Any], str, FuncEnv]]) -> int:
    """Render several templates in one engine call and keep the results for `render` (a warm-up).

    Loading a chart into the engine costs more than rendering it, so a state's values templates
    (and its releases' template fields) go in together, one engine call per set of `define`s
    (templates calling the same `_*.tpl` helpers share one). Anything that fails here is simply
    left for `render`, which reports it. Returns how many results were stored.
    """
    groups: dict[str, list[tuple[str, dict[str, Any], str, str]]] = {}
    seen: set[tuple[str, str, str]] = set()
    for text, context, where, fenv in jobs:
        if "{{" not in text or _literal_only(text) is not None:
            continue  # `render` needs no engine for these
        try:
            body, partials = prepare(text, fenv, where)
        except InputError:
            continue
        ctx_json = ctx_key(context)
        key = (body, partials, ctx_json)
        if key in _RENDERED or key in seen:
            continue
        seen.add(key)
        groups.setdefault(partials, []).append((body, context, ctx_json, where))
    return sum(_render_group(todo, partials) for partials, todo in groups.items())


_SEP = "\x1eck-sep-%d\x1e"


def _split_outputs(text: str, n: int) -> list[str] | None:
    """The `n` results of a batch, or None when a separator is missing or doubled (a template
    printed one: then every result is rendered on its own)."""
    outs = []
    pos = 0
    for i in range(n):
        sep = _SEP % i
        end = text.find(sep, pos)
        if end < 0 or text.count(sep) != 1:
            return None
        outs.append(text[pos:end])
        pos = end + len(sep)
    return outs if pos == len(text) else None


def _render_group(todo: list[tuple[str, dict[str, Any], str, str]], partials: str) -> int:
    import helm_python  # lazy: helm-python-sdk loads a large native library; only commands that render need it

    if len(todo) < 2:
        return 0
    # one file of bodies and one output with a separator between results: an archive entry per
    # template would cost more than the rendering
    files = {"Chart.yaml": _CHART_YAML}
    if partials:
        files["templates/_ck_partials.tpl"] = partials
    files["templates/_ck_bodies.tpl"] = "".join('{{ define "ck.b%d" }}' % i + body + "{{ end }}" for i, (body, _, _, _) in enumerate(todo))
    files["templates/out.txt"] = "".join(
        '{{ include "ck.b%d" (index .Values.ck %d) }}%s' % (i, i, _SEP % i) for i in range(len(todo))
    )
    try:
        rendered = _engine_render(files, {"ck": [_jsonable(c) for _, c, _, _ in todo]})
    except (helm_python.HelmError, EngineTimeout):
        return 0  # `render` reports it, template by template
    if output_too_big(rendered) is not None:
        return 0
    outs = _split_outputs(rendered.get("ck/templates/out.txt", ""), len(todo))
    if outs is None:
        return 0
    stored = 0
    for i, (body, context, ctx_json, where) in enumerate(todo):
        try:
            out = _finish(outs[i], context, where)
        except InputError:
            continue
        _RENDERED[(body, partials, ctx_json)] = out
        stored += 1
    return stored


def ctx_key(context: dict[str, Any]) -> str:
    """The cache key of a context: its JSON (dates and other YAML types as strings). Kept per
    context object for a while: the same context serves a release's warm-up and its files."""
    hit = _CTX_KEYS.get(id(context))
    if hit is not None and hit[0] is context:
        return hit[1]
    try:
        key = json.dumps(context, sort_keys=True, default=str)
    except TypeError:  # map keys of mixed types cannot be sorted
        key = json.dumps(_jsonable(context), sort_keys=True)
    if len(_CTX_KEYS) > 4096:
        _CTX_KEYS.clear()
    _CTX_KEYS[id(context)] = (context, key)
    return key


# id -> (the context itself, so the id cannot be reused while cached; its key)
_CTX_KEYS: dict[int, tuple[dict[str, Any], str]] = {}


def _jsonable(node: Any) -> Any:
    # YAML may give dates/timestamps; helmfile would hold them as strings in templates.
    if isinstance(node, dict):
        return {str(k): _jsonable(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_jsonable(v) for v in node]
    if node is None or isinstance(node, (str, int, float, bool)):
        return node
    return str(node)


def _template_error(msg: str, where: str) -> TemplateError:
    line = ""
    m = _ERR_LOC_RE.search(msg)
    if m:
        line = f":{m.group(1)}"
    text = _PARTIAL_LOC_RE.sub("", _ERR_LOC_RE.sub("", msg))
    text = re.sub(r"^(execution error at|parse error at|template:)\s*", "", text).strip()
    text = text.replace("ck/templates/out.txt", "").strip(" :")
    if _FAIL_PREFIX in text:
        ln, _, text = text.split(_FAIL_PREFIX, 1)[1].partition(":")
        return TemplateError(f"{where}:{ln}: {text} (helmfile fails on missing keys; use `getOrNil` or `hasKey`)")
    fm = re.search(r'function "([^"]+)" not defined', text)
    if fm:
        return UnsupportedTemplate(
            f"{where}{line}: function `{fm.group(1)}` is not defined (not a sprig or helmfile function known to the embedded renderer)",
            hint="if helmfile knows it, " + _HELMFILE_HINT,
        )
    return TemplateError(f"{where}{line}: template: {text}")


Renderer = Callable[[str, dict[str, Any], str, FuncEnv], str]
