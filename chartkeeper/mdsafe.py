"""Text from upstream or from the tree, put into Markdown as text and never as markup.

A report is pasted into a merge request, where Markdown turns text into structure: a release note
saying `### Before merging` would become a heading of ours, `[safe](javascript:…)` a link, a
CHANGELOG line of backticks the end of our code fence, `</details>` the end of our folded block,
`<script>` an element. Every string chartkeeper did not write itself enters the report through one
of these functions (the report code calls nothing else for them):

- `text` for running text and table cells: one line, every character Markdown gives a meaning to
  escaped (so HTML shows as text, brackets make no link, `#`/`-`/`1.` start no block);
- `prose` for a message of ours that quotes names and values in backticks (a finding, an action):
  as `text`, but each backtick-quoted part stays a code span (rebuilt by `code`, so a value holding
  backticks ends nothing early: what is outside a span is escaped either way);
- `code` for names and values shown as code: a code span whose backtick fence is longer than any
  run of backticks inside;
- `fence` for a block of upstream text (a changelog): a fenced block whose fence is longer than any
  run of backticks it holds, so nothing in it can close it (or the `<details>` around it);
- `html` for text inside an HTML element of ours (`<summary>`).
"""

from __future__ import annotations

import html as _html
import re
from typing import Any

# CommonMark gives these a meaning inline (GFM adds `|` in tables, `~` for strikethrough); a
# backslash before any ASCII punctuation makes it a literal character.
_INLINE = re.compile(r"([\\`*_\[\]<>&!|~])")
# ...and these at the start of a line (headings, lists, quotes, setext underlines, code blocks)
_LINE_START = re.compile(r"^(\s*)([#=+\-]|\d+(?=[.)]))")
_BACKTICKS = re.compile(r"`+")


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())  # newlines and indentation would start blocks of their own


def _escape(s: str, *, line_start: bool) -> str:
    s = _INLINE.sub(r"\\\1", s)
    m = _LINE_START.match(s) if line_start else None
    if m:  # `1.` -> `1\.`; `#`, `-`, `+`, `=` -> escaped
        at = m.end() if m.group(2)[0].isdigit() else m.start(2)
        s = s[:at] + "\\" + s[at:]
    return s


def text(value: Any) -> str:
    """`value` as literal Markdown text on one line."""
    return _escape(_one_line(value), line_start=True)


# a code span as CommonMark reads one: a run of backticks, then the next run of the same length
_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")


def prose(value: Any) -> str:
    """One line of text whose backtick-quoted parts are code spans and everything else literal."""
    s = _one_line(value)
    out: list[str] = []
    at = 0
    for m in _SPAN.finditer(s):
        out.append(_escape(s[at:m.start()], line_start=at == 0))
        inner = m.group(2)
        if len(inner) > 2 and inner.startswith(" ") and inner.endswith(" ") and inner.strip():
            inner = inner[1:-1]  # CommonMark's own padding
        out.append(code(inner))
        at = m.end()
    out.append(_escape(s[at:], line_start=at == 0))
    return "".join(out)


def _longest_run(s: str) -> int:
    return max((len(m) for m in _BACKTICKS.findall(s)), default=0)


def code(value: Any, *, in_table: bool = True) -> str:
    """`value` as an inline code span; `in_table` escapes `|` (GFM splits cells before code spans)."""
    s = _one_line(value)
    if not s:
        return ""
    ticks = "`" * (_longest_run(s) + 1)
    if s.startswith("`") or s.endswith("`"):
        s = f" {s} "  # CommonMark strips one space each side
    if in_table:
        s = s.replace("|", "\\|")
    return f"{ticks}{s}{ticks}"


def fence_ticks(body: str) -> str:
    """The backtick fence for a code block holding `body`: longer than any run of backticks in it."""
    return "`" * max(3, _longest_run(body) + 1)


def fence(body: str, info: str = "") -> str:
    """`body` as a fenced code block no line of it can close."""
    ticks = fence_ticks(body)
    return f"{ticks}{info}\n{body.rstrip(chr(10))}\n{ticks}"


def html(value: Any) -> str:
    """`value` as text inside an HTML element of ours (`<summary>…</summary>`)."""
    return _html.escape(_one_line(value), quote=True)
