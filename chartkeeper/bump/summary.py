"""The upgrade analysis as `bump` needs it: report texts, images to mirror, verdict and counts.

The analysis itself is `chartkeeper.analysis.upgrade.analyze_upgrade`; this module only runs it
for a bump and keeps what the branch, the commit message and the terminal output need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from chartkeeper.analysis import report as report_mod
from chartkeeper.analysis.upgrade import analyze_upgrade
from chartkeeper.findings import sort_findings
from chartkeeper.masking import redact

if TYPE_CHECKING:
    from chartkeeper.lockfile import Lock
    from chartkeeper.settings import Settings
    from chartkeeper.upgrade.fetch import Upgrade
    from chartkeeper.upgrade.target import Target


@dataclass(frozen=True)
class Analysis:
    markdown: str
    json_text: str
    verdict: str  # "breaking", "needs review" or "safe"
    counts: dict[str, int]  # by severity value
    diff_text: str = ""  # the full manifest diff, committed next to the report (`<old>-to-<new>.diff`)
    preview: str = ""  # the Markdown as `--dry-run` prints it: no diff file exists to link to
    images: tuple[str, ...] = ()  # new images to mirror into the air-gapped registry
    crd_steps: tuple[str, ...] = ()  # commands to run before `helmfile apply`
    envs: tuple[str, ...] = ()
    top: tuple[str, ...] = ()  # a few one-line findings for the terminal
    actions: tuple[str, ...] = ()  # the report's "Before merging" list
    not_checked: tuple[str, ...] = ()  # checks that could not run ("what [env]: why"), never findings
    report: Any = field(default=None, compare=False)  # the analysis' own object

    def reaches(self, level: str | None, *, include_existing: bool = False) -> bool:
        """True when findings reach `level` (`breaking` or `review`) for `--fail-on`; findings already
        true with OLD count only with `include_existing` (`--include-existing`)."""
        if self.report is not None:
            return bool(self.report.reaches(level, include_existing=include_existing))
        if level is None:
            return False
        if level == "breaking":
            return self.counts.get("breaking", 0) > 0
        return self.counts.get("breaking", 0) + self.counts.get("review", 0) > 0


def _relative(text: str, root: Path) -> str:
    """Reports are committed: no path of this machine (or of the temporary worktree) goes in them."""
    for prefix in {str(root), str(root.resolve())}:
        text = text.replace(prefix.rstrip("/") + "/", "").replace(prefix.rstrip("/"), ".")
    return text


def analyze(
    settings: "Settings", lock: "Lock", target: "Target", upgrade: "Upgrade", envs: Sequence[str] = (), *, out: Any = None
) -> Analysis:
    """The analysis of `target` (its entry as `lock` in this tree has it) against NEW as `upgrade` staged it."""
    new = upgrade.new_chart()
    rep = analyze_upgrade(settings, lock, target.entry, new.folder, new.release.version.text, list(envs) or None,
                          upstream_releases=upgrade.upstream_releases, out=out)
    findings = sort_findings(rep.findings)
    # everything below is committed or printed: every secret the analysis met is hidden in it (the
    # report renderers redact what they return; the other texts are redacted here)
    diff = _relative(report_mod.render_diff(rep), settings.root)
    return Analysis(
        markdown=_relative(report_mod.render_markdown(rep, diff_file=rep.diff_file_name if diff else None), settings.root),
        preview=_relative(report_mod.render_markdown(rep), settings.root),
        json_text=_relative(report_mod.render_json(rep), settings.root),
        diff_text=diff,
        verdict=rep.verdict,
        counts=dict(rep.counts),
        images=tuple(redact(i) for i in rep.images_to_mirror),
        crd_steps=tuple(redact(s) for s in rep.crd_steps),
        envs=tuple(rep.envs),
        top=tuple(redact(f"{f.severity.value}: {f.message}") for f in findings[:5]),
        actions=tuple(redact(a.text) for a in report_mod.actions_of(rep)),
        not_checked=tuple(redact(n.line()) for n in rep.not_checked),
        report=rep,
    )
