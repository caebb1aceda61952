"""`chartkeeper diff CHART [VERSION|CONSTRAINT]`: analyse an upgrade without changing anything.

Exit codes: 0 the report was produced (whatever its verdict), 1 with `--fail-on` when a finding
reaches that severity, 2 bad input or an unreachable upstream (or no helmfile state without
`--defaults-only`), 3 a bug.
"""

from __future__ import annotations

from dataclasses import replace
import sys
from pathlib import Path

from chartkeeper.analysis.report import images_txt, render_diff, render_json, render_markdown, render_text
from chartkeeper import helmfile
from chartkeeper.analysis.upgrade import analyze_upgrade
from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, InputError
from chartkeeper.fsutil import atomic_write_text
from chartkeeper.lockfile import load_lock
from chartkeeper.masking import redact
from chartkeeper.output import output_file
from chartkeeper.upgrade.fetch import resolve_upgrade
from chartkeeper.vendoring.stage import SourcePool

FORMATS = ("text", "md", "json")
ENGINES = {"auto": "auto", "embedded": "embedded", "helm": "helm"}


def images_file_for(report: Path) -> Path:
    """The images list beside a report, named after it: two reports in one folder keep their own."""
    return report.with_name(f"{report.stem}.images.txt")


def run(
    ctx: AppContext,
    chart: str,
    target: str | None = None,
    envs: list[str] | None = None,
    fmt: str | None = None,
    output: Path | None = None,
    engine: str = "auto",
    pre: bool = False,
    fail_on: str | None = None,
    include_existing: bool = False,
    as_json: bool = False,
    show_label_churn: bool = False,
    check_images: bool = False,
    defaults_only: bool = False,
    allow_unchecked: bool = False,
) -> int:
    if check_images:  # ask the site's registry for the new images even without `images:` mapping
        ctx = AppContext(replace(ctx.settings, check_images=True), ctx.out)
    out = ctx.out
    if as_json:
        fmt = "json"
    if fmt is None:
        fmt = "json" if output is not None and output.suffix == ".json" else "md" if output is not None else "text"
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    if engine not in ENGINES:
        raise InputError(f"--engine {engine}: expected one of embedded, helm")
    if fail_on not in (None, "breaking", "review"):
        raise InputError(f"--fail-on {fail_on}: expected breaking or review")
    path = output_file(output, "--output") if output is not None else None

    lock = load_lock(ctx.settings.lock_file)
    entry = lock.require(chart)
    no_state = not helmfile.has_state(ctx.settings)
    if no_state and not defaults_only:
        # Without the state, every key the deployment overrides would read as "we inherit it".
        raise InputError(
            f"no helmfile state at {ctx.settings.helmfile_path}: the analysis would know the chart defaults only, "
            "not what the deployment overrides",
            hint="set `helmfile:` in chartkeeper.yaml (or run inside the deployment repository), "
                 "or pass --defaults-only to analyse the chart defaults alone",
        )
    if envs and not no_state:
        helmfile.wanted_environments(ctx.settings, envs)  # refused before the chart is fetched
    # One listing and one download of NEW for the whole command (chartkeeper.upgrade).
    with SourcePool(ctx.settings) as pool, \
            resolve_upgrade(ctx.settings, entry, target, pool=pool, pre=pre, allow_downgrade=True, out=out) as up:
        if up.target.up_to_date:
            out.info(f"{entry.name} is already at {entry.version}: nothing to compare")
            return EXIT_OK
        new = up.new_chart()
        report = analyze_upgrade(ctx.settings, lock, entry, new.folder, new.release.version.text, envs or None,
                                 upstream_releases=up.upstream_releases, engine=ENGINES[engine], out=out,
                                 show_label_churn=show_label_churn)

    if no_state:  # said on the terminal too, whatever the format: this is not the deployment's analysis
        out.warn(f"analysed {entry.name} with the chart defaults only: no helmfile state at "
                 f"{ctx.settings.helmfile_path} (--defaults-only); overrides of the deployment are not known")
    # the full manifest diff goes to a file of its own next to the Markdown report, which links it (machines
    # read the edits in the JSON; the unified diff costs more than the whole semantic analysis on big charts)
    diff_text = render_diff(report) if output is not None and fmt == "md" else ""
    diff_file = report.diff_file_name if diff_text else None
    # the renderers redact each report as a whole: a secret a template copied anywhere in a manifest is hidden too
    body = {"md": lambda r: render_markdown(r, diff_file=diff_file), "json": render_json, "text": render_text}[fmt](report)
    if path is not None:
        atomic_write_text(path, body)
        extra = []
        if report.images_to_mirror:
            images = images_file_for(path)
            atomic_write_text(images, redact(images_txt(report)))
            extra.append(images.name)
        if diff_file:
            atomic_write_text(path.with_name(diff_file), diff_text)
            extra.append(diff_file)
        if not out.json_mode:
            out.text(render_text(report).rstrip("\n"))
        out.info(f"report written to {output}" + (f" (and {', '.join(extra)})" if extra else ""))
    elif fmt == "text":
        out.text(body.rstrip("\n"))
    else:
        if fmt == "md":
            out.info(render_text(report).rstrip("\n"))
        sys.stdout.write(body)
    if report.not_checked and not allow_unchecked:
        # the section NOT CHECKED of the report lists them; a verdict cannot speak for what was not looked at
        out.warn(f"{len(report.not_checked)} check(s) could not run: exit 2 (--allow-unchecked accepts that)")
        return EXIT_ERROR
    # findings already true with OLD are not this upgrade's: they count only with --include-existing
    return EXIT_FINDINGS if report.reaches(fail_on, include_existing=include_existing) else EXIT_OK
