"""Where a pushed bump opens its merge request: forge detection from the remote URL, GitHub compare URLs,
GitLab push options (the end-to-end push is in tests/test_bump.py, against a real bare remote)."""

from __future__ import annotations

import pytest

from chartkeeper.bump.merge_request import compare_url, hosting, new_merge_request_url, push_options, summary_line


@pytest.mark.parametrize("url, kind, web", [
    ("https://github.com/acme/deploy.git", "github", "https://github.com/acme/deploy"),
    ("git@github.com:acme/deploy.git", "github", "https://github.com/acme/deploy"),
    ("ssh://git@github.com/acme/deploy", "github", "https://github.com/acme/deploy"),
    ("https://ci:tok3n@gitlab.example.invalid/platform/infra/deploy.git", "gitlab", "https://gitlab.example.invalid/platform/infra/deploy"),
    ("git@gitlab.example.invalid:platform/deploy.git", "gitlab", "https://gitlab.example.invalid/platform/deploy"),
    ("https://git.example.invalid/platform/deploy.git", "", "https://git.example.invalid/platform/deploy"),
    ("/srv/git/deploy.git", "", ""),
    ("../deploy.git", "", ""),
])
def test_hosting(url: str, kind: str, web: str) -> None:
    h = hosting(url)
    assert (h.kind, h.web) == (kind, web)
    assert "tok3n" not in h.web  # credentials in a remote URL never reach the output


def test_urls_and_options() -> None:
    assert compare_url("https://github.com/acme/deploy", "main", "chartkeeper/demo-1.1.0") == \
        "https://github.com/acme/deploy/compare/main...chartkeeper/demo-1.1.0?expand=1"
    assert new_merge_request_url("https://gitlab.example.invalid/p/d", "chartkeeper/x-1", "main") == (
        "https://gitlab.example.invalid/p/d/-/merge_requests/new?merge_request%5Bsource_branch%5D=chartkeeper%2Fx-1"
        "&merge_request%5Btarget_branch%5D=main")
    line = summary_line("bump x 1 → 2", "safe", {"info": 3}, ["Mirror these 2 image(s)\ninto the registry."], "reports/x/1-to-2.md")
    assert line == ("bump x 1 → 2: verdict safe (0 breaking, 0 review, 3 info). Before merging: "
                    "1. Mirror these 2 image(s) into the registry. Full report: reports/x/1-to-2.md on this branch.")
    assert push_options("t", line, None) == ["merge_request.create", "merge_request.title=t", f"merge_request.description={line}"]
    assert len(summary_line("t", "breaking", {}, ["x" * 500] * 20, None)) <= 3000
