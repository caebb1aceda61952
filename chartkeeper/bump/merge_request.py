"""Where to open the merge request for a pushed bump branch.

GitHub: the compare page (`https://github.com/<owner>/<repo>/compare/<base>...<branch>?expand=1`) opens
the pull-request form. GitLab creates the merge request itself from git push options
(`-o merge_request.create -o merge_request.target=… -o merge_request.title=… -o merge_request.description=…`),
which `bump --push --merge-request` sends. Push options are single lines (git refuses a newline in one),
so the description is the report's summary on one line, pointing at the report committed on the branch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from chartkeeper import mdsafe
from chartkeeper.masking import redact

# a push option is one line sent on the wire: keep it well within what servers accept
MAX_DESCRIPTION = 3000


@dataclass(frozen=True)
class Hosting:
    kind: str  # "github", "gitlab" or "" (unknown)
    web: str  # https://host/owner/repo, without credentials; "" when the URL cannot be read


def hosting(url: str) -> Hosting:
    """The forge behind a remote URL (https, ssh://, or scp-like `git@host:owner/repo.git`)."""
    url = url.strip()
    scp = re.match(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+)$", url)
    if "://" in url:
        parts = urlsplit(url)
        host, path = parts.hostname or "", parts.path
    elif scp:
        host, path = scp.group(1), "/" + scp.group(2)
    else:
        return Hosting("", "")  # a local path
    path = path.rstrip("/")
    if path.endswith(".git"):
        path = path[:-4]
    if not host or path.count("/") < 2:
        return Hosting("", "")
    kind = "github" if host == "github.com" or host.startswith("github.") else "gitlab" if "gitlab" in host else ""
    return Hosting(kind, f"https://{host}{path}")


def compare_url(web: str, base: str, branch: str) -> str:
    """GitHub's page that opens a pull request of `branch` into `base`."""
    return f"{web}/compare/{quote(base, safe='/')}...{quote(branch, safe='/')}?expand=1"


def new_merge_request_url(web: str, branch: str, target: str | None) -> str:
    """GitLab's new-merge-request form for `branch` (when the push did not create one)."""
    url = f"{web}/-/merge_requests/new?merge_request%5Bsource_branch%5D={quote(branch, safe='')}"
    return url + (f"&merge_request%5Btarget_branch%5D={quote(target, safe='')}" if target else "")


def summary_line(title: str, verdict: str, counts: dict[str, int], actions: list[str], report: str | None) -> str:
    """The report's first screen on one line: verdict, the numbered actions, where the report is."""
    text = (f"{title}: verdict {verdict} ({counts.get('breaking', 0)} breaking, {counts.get('review', 0)} review, "
            f"{counts.get('info', 0)} info).")
    if actions:
        text += " Before merging: " + " ".join(f"{i}. {a.rstrip('.')}." for i, a in enumerate(actions, 1))
    if report:
        text += f" Full report: {report} on this branch."
    text = " ".join(text.split())  # no newline may reach a push option
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def push_options(title: str, description: str, target: str | None) -> list[str]:
    """GitLab's push options creating the merge request (values are single lines)."""
    opts = ["merge_request.create"]
    if target:
        opts.append(f"merge_request.target={target}")
    opts.append(f"merge_request.title={redact(' '.join(title.split()))}")
    # GitLab renders the description as Markdown: upstream words in the actions stay text
    opts.append(f"merge_request.description={redact(mdsafe.prose(description))}")
    return opts
