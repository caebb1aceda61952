"""Render the reliability suite's summary.json (tests/support/reliability.py) as docs/reliability.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

TITLES = {
    "fault": ("Faults injected by upstreams", "survived as specified"),
    "hostile": ("Hostile archives and malformed inputs", "rejected cleanly"),
    "kill": ("Kill points (SIGKILL mid-run)", "recovered"),
    "disk": ("Disk full (a small tmpfs, as root)", "failed cleanly"),
    "concurrency": ("Concurrent runs on one deployment", "serialised or refused"),
    "canary": ("Canary secrets planted", "not leaked"),
    "budget": ("Memory and time (huge or hostile input against the budgets)", "ended as specified"),
    "fetch": ("Fetching and crashing at analysis time", "ended as specified"),
    "writes": ("Writing where it should not", "refused before any write"),
    "exec": ("Running the repository's code", "ran nothing of it"),
    "markup": ("Markup into a merge request", "shown as text"),
}

INTRO = """# Reliability

chartkeeper runs against repositories it does not control and on the repository that holds a
production deployment. This page states what it survives, measured by the reliability suite
in `tests/` (real servers on loopback, the real CLI in subprocesses, real git repositories;
nothing of chartkeeper is mocked). Every figure below comes from one run of that suite; a trial
is counted as passed only after all of its assertions held.

What "as specified" means, for every trial:

* **Faults** (HTTP repository and OCI registry): bounded retries where retrying is right (5xx,
  429 with `Retry-After`, resets, timeouts), none where it is not (401/403/404, bad digests, bad
  TLS); one `error:` line naming the repository and the cause; exit code 2; no partial or
  temp file anywhere; the lock and the vendored folders byte-identical afterwards. A server
  that drips one byte a second (index, tags list, chart archive or blob; or even its headers)
  fails as "too slow" within a bound on the elapsed time (the speed floor after `timeout`
  seconds, or the overall `deadline:`), naming the mirror actually contacted.
* **Hostile inputs**: refused with one clear error naming the file or archive member; nothing
  executed; nothing written.
* **Kill points**: `sync` and `bump` are SIGKILLed at seeded random moments across a run. After
  each kill the user's checkout, index, HEAD and current branch are byte-identical, the lock and
  vendored folders are either fully old or fully new, and the next run succeeds and leaves no
  leftovers. `bump --in-place` is killed at each of its named stages; `verify` runs first and
  names a pending swap (exit 1) instead of calling the chart missing, then the documented
  recovery (`bump --in-place` again, or `chartkeeper recover`) finishes or undoes it: old folder
  gone, no staging folder, `verify` exit 0.
* **Disk full**: the deployment on a small tmpfs, filled up before `bump` creates its worktree,
  before `add` unpacks a chart and before it downloads one: one `error:` line saying "no space
  left on <path>", exit 2, nothing changed or left behind, and the same command succeeds once
  space is freed. Mounting needs root; elsewhere these trials are skipped (and count as none tried).
* **Memory and time**: alias bombs of long strings, a `readFile` of `/dev/zero`, a template that
  loops for ever, Ctrl-C during it, a schema nested 200,000 deep or referring to itself, an index
  listing too many versions of one chart, a key given twice in `versions.lock` or
  `chartkeeper.yaml`, a Latin-1 byte in `charts.json`: each run is a child process of its own; exit
  0/1/2, never 3; the file or source named (and the `limits:` key to change); its peak memory
  (`ru_maxrss`) and wall time under the bounds in the table; Ctrl-C ends it within a second; the
  checkout (files, index, HEAD, `git status`) unchanged. Trials set a low limit in
  `chartkeeper.yaml` where that proves the mechanism faster than a huge input would.
* **Fetching at analysis time**: a chart's `values.schema.json` whose `$ref` points at a loopback
  server that accepts connections and never answers, in NEW (`diff`) and in the vendored chart
  (`lint`): the reference is listed as NOT CHECKED, by name; zero connections reach that server;
  the same bounds and checks as above.
* **Canaries**: unique secrets planted in values files, `secrets.yaml`, Secret manifests,
  repository credentials and environment variables, and templated copies: secrets of the
  environment values that a `.gotmpl` values file copies into a container command string, an env
  var value, a ConfigMap, a URL (`https://user:CANARY@…`) and, base64-encoded, a Secret; every
  command run with `--json`, Markdown reports and `-vv`; the whole temp tree, the cache, all
  output, commit messages and the lock are scanned (plain, URL-encoded and base64 forms). A
  canary found anywhere is a leak.
* **Writing where it should not** (`tests/test_hostile_writes.py`): a lock entry whose `path:` lies
  inside another vendored chart, is a reserved name (`.treesums`, `.`, `..`) or leaves its folder
  through a symlink (or its `.treesums`); a `charts.json` naming `../…` or a name the lock refuses;
  a committed `reports -> /outside` symlink; a `patches/<chart>/zero -> /dev/zero` that the kubectl
  engine's copy of the folder would read forever. Refused before the first write: exit 2, one
  `error:` line naming the file (`diff` names it in a breaking finding), `git status` and the
  tree's checksum unchanged, nothing written outside the repository and its temp folder.
* **Running the repository's code** (`tests/test_hostile_exec.py`): a values template's `exec` with a
  real helmfile on PATH runs nothing without `--allow-exec` (NOT CHECKED, naming the function; exit
  2), a `helmfile` committed inside the repository never runs, and `bump` runs none of the
  repository's git hooks (`core.hooksPath`, `.git/hooks/`) or clean/smudge filters.
* **Markup into a merge request** (`tests/test_hostile_markup.py`): hostile release notes, a NEW
  `CHANGELOG.md` closing fences and `<details>`, a hostile container name and values key; the
  report, parsed by a real CommonMark renderer (markdown-it-py), holds no heading, list item, link
  or HTML element made by upstream text, and shows every hostile string as text.
* **Leaking a credential into a commit** (`tests/test_hostile_credentials.py`, a canary): a
  `CHARTKEEPER_AUTH_*` token, a Docker `config.json` token and a `~/.netrc` password this run never
  uses, copied into rendered values by a template: not in any file of the bump commit (`git grep`
  across the branch), the report, the output or the commit message.

Redaction follows the value: every value masked for its key name, taken from a secrets file (or
an environment's secrets) or read as a credential is registered, and any occurrence of it — or
of its base64, URL-quoted or JSON-escaped form — inside any output is replaced by `***`: values,
`--explain`, rendered manifests, manifest diffs, reports (Markdown, JSON, `.diff`, images list),
errors, `-vv` traces, commit messages and push options. **Values too short or too common to
replace everywhere safely are masked at their key only**: booleans, numbers and digit strings,
strings of fewer than 4 characters, and a short list of common words (`true`, `admin`, `root`,
`changeme`, `password`, …). Where a template copies such a value under another key or into a
longer string, it shows there; give credentials real values.
"""


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (OSError, AttributeError):
        return "unknown"


def _who() -> str:
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return "root (the disk-full trials mount a tmpfs)" if root else "a regular user (the disk-full trials were skipped)"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("summary", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/reliability.md"))
    ap.add_argument("--seconds", type=int, default=0)
    ap.add_argument("--seed", default="")
    ap.add_argument("--kills", default="")
    ap.add_argument("--workers", default="2")
    ap.add_argument("--pytest-args", default="", help="extra pytest arguments the run was given, shown as run")
    args = ap.parse_args()
    data = json.loads(args.summary.read_text())
    figs = data["figures"]
    lines = [INTRO, "## Figures", ""]
    lines.append("| | tried | passed | failed |")
    lines.append("|---|---:|---:|---:|")
    for cat, (title, _) in TITLES.items():
        f = figs.get(cat, {"tried": 0, "passed": 0})
        lines.append(f"| {title} | {f['tried']} | {f['passed']} | {f['tried'] - f['passed']} |")
    canary = figs.get("canary", {"tried": 0, "passed": 0})
    lines.append("")
    lines.append(f"**Canaries leaked: {canary['tried'] - canary['passed']}** (of {canary['tried']} planted-secret checks).")
    lines.append("")
    for cat, (title, verb) in TITLES.items():
        f = figs.get(cat)
        if not f:
            continue
        costed = any("peak_mb" in v for v in f["kinds"].values())
        if costed:  # the child's peak memory and wall time, against the bounds the trial asserted
            lines += [f"### {title}", "", f"| kind | tried | {verb} | peak memory (bound) | wall time (bound) |",
                      "|---|---:|---:|---:|---:|"]
        else:
            lines += [f"### {title}", "", f"| kind | tried | {verb} |", "|---|---:|---:|"]
        for kind, v in f["kinds"].items():
            cost = (f" | {v.get('peak_mb', 0):.0f} MB ({v.get('bound_mb', 0):.0f}) | {v.get('seconds', 0):.1f} s "
                    f"({v.get('bound_s', 0):.0f})") if costed else ""
            lines.append(f"| {kind} | {v['tried']} | {v['passed']}{cost} |")
        lines.append("")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines += [
        "## How these figures were produced",
        "",
        "```",
        f"scripts/reliability.sh --seed {args.seed} --kills {args.kills}" + (f" {args.pytest_args}" if args.pytest_args else ""),
        "```",
        "",
        f"Run {when}: {data['tests_collected']} tests collected, {data['tests_failed']} failed, "
        f"pytest exit status {data['exitstatus']}, {args.seconds} s wall time with {args.workers} workers "
        f"on {os.cpu_count()} CPUs ({platform.system()} {platform.machine()}, Python {platform.python_version()}); "
        f"load average {_load()} when it ended (other processes share the machine: the wall time is an upper bound).",
        f"Run as {_who()}. The same tests run in CI (`.ci/run`, as root) with the same seed and the default "
        "50 kill points per command; `CHARTKEEPER_KILL_SEED` picks other kill points.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
