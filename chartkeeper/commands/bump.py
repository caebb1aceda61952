"""`chartkeeper bump [CHART] [VERSION|CONSTRAINT]`: a reviewed upgrade on its own git branch."""

from __future__ import annotations

from dataclasses import replace
import json

from chartkeeper import helmfile
from chartkeeper.bump.run import BumpOptions, BumpResult, bump_all, bump_one
from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_ERROR, EXIT_OK, InputError, unnamed

FAIL_ON = ("breaking", "review")


def run(
    ctx: AppContext,
    *,
    chart: str | None = None,
    target: str | None = None,
    all_charts: bool = False,
    pre: bool = False,
    allow_downgrade: bool = False,
    base: str | None = None,
    push: bool = False,
    remote: str | None = None,
    merge_request: bool = False,
    fail_on: str | None = None,
    include_existing: bool = False,
    dry_run: bool = False,
    in_place: bool = False,
    allow_dirty: bool = False,
    envs: list[str] | None = None,
    check_images: bool = False,
    allow_unchecked: bool = False,
) -> int:
    if check_images:  # ask the site's registry for the new images even without `images:` mapping
        ctx = AppContext(replace(ctx.settings, check_images=True), ctx.out)
    if fail_on is not None and fail_on not in FAIL_ON:
        raise InputError(f"--fail-on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    if all_charts and (chart or target):
        raise InputError("--all bumps every chart inside its constraint; give no CHART or VERSION with it")
    if not all_charts and not chart:
        raise InputError("name the chart to bump (or use --all)")
    if push and (in_place or dry_run):
        raise InputError("--push needs a branch: not with --in-place or --dry-run")
    if remote is not None and not push:
        raise InputError("--remote names the remote --push pushes to: give --push too")
    if merge_request and not push:
        raise InputError("--merge-request creates the merge request while pushing: give --push too")
    if envs and helmfile.has_state(ctx.settings):
        helmfile.wanted_environments(ctx.settings, envs)  # refused before the chart is fetched
    opts = BumpOptions(
        pre=pre,
        allow_downgrade=allow_downgrade,
        base=base,
        push=(remote or "origin") if push else None,
        merge_request=merge_request,
        fail_on=fail_on,
        include_existing=include_existing,
        dry_run=dry_run,
        in_place=in_place,
        allow_dirty=allow_dirty,
        envs=tuple(envs or ()),
        allow_unchecked=allow_unchecked,
    )
    out = ctx.out
    if all_charts:
        results = bump_all(ctx.settings, out, opts)
        if out.json_mode:
            out.emit_json({"results": [r.to_json() for r in results]})
        else:
            for r in results:
                _print(out, r, opts)
            _summary(out, results)
        codes = [r.exit_code for r in results]
        if EXIT_ERROR in codes:
            return EXIT_ERROR
        return max(codes, default=EXIT_OK)
    assert chart is not None
    res = bump_one(ctx.settings, out, chart, target, opts)
    if out.json_mode:
        payload = res.to_json()
        if opts.dry_run and res.analysis is not None:
            payload["report"] = json.loads(res.analysis.json_text)
        out.emit_json(payload)
    else:
        _print(out, res, opts)
    return res.exit_code


def _counts(r: BumpResult) -> str:
    c = r.counts
    return f"{c.get('breaking', 0)} breaking, {c.get('review', 0)} review, {c.get('info', 0)} info"


def _print(out, r: BumpResult, opts: BumpOptions) -> None:
    if r.error:
        out.text(f"{r.name}: FAILED: {unnamed(r.name, r.error)}")
        return
    for note in r.notes:
        out.text(note)
    if r.status == "up-to-date":
        return
    if r.status == "dry-run":
        assert r.analysis is not None
        out.text((r.analysis.preview or r.analysis.markdown).rstrip("\n"))
        out.text("")
        out.text(f"dry run: {r.name} {r.old} → {r.new}: verdict {r.verdict} ({_counts(r)}); nothing was written")
        _print_not_checked(out, r, opts)
        return
    if r.status == "exists":
        out.text(f"branch: {r.branch}")
        _print_pushed(out, r)
    else:
        out.text(f"bumped {r.name} {r.old} → {r.new} ({r.kind}): verdict {r.verdict} ({_counts(r)})")
        if r.branch:
            out.text(f"  branch: {r.branch}  (commit {str(r.commit)[:12]})")
        if r.report:
            where = " on the branch" if r.branch else ""
            out.text(f"  report: {r.report}{where}")
        for line in r.checks:
            out.text(f"  ok: {line}")
        if r.ready is False:
            out.text(f"  NOT READY{' (the branch is kept for inspection)' if r.branch else ''}:")
            for p in r.problems:
                out.text(f"    - {p}")
        _print_pushed(out, r)
        if opts.fail_on and r.analysis is not None and r.analysis.reaches(opts.fail_on, include_existing=opts.include_existing):
            out.text(f"  findings reach --fail-on {opts.fail_on}")
    _print_not_checked(out, r, opts)
    if r.next_steps:
        out.text("next:")
        for s in r.next_steps:
            out.text(f"  {s}")


def _print_pushed(out, r: BumpResult) -> None:
    if r.pushed:
        out.text(f"  pushed to {r.pushed}")
    if r.merge_request:
        out.text(f"  merge request: {r.merge_request}")


def _print_not_checked(out, r: BumpResult, opts: BumpOptions) -> None:
    if r.not_checked:
        out.text(f"  NOT CHECKED ({len(r.not_checked)}): not analysed, which is not the same as fine"
                 + ("" if opts.allow_unchecked else "; exit 2 (--allow-unchecked accepts that)") + ":")
        for line in r.not_checked:
            out.text(f"    - {line}")


def _summary(out, results: list[BumpResult]) -> None:
    by: dict[str, list[str]] = {}
    for r in results:
        key = "failed" if r.error else ("not ready" if r.ready is False else r.status)
        by.setdefault(key, []).append(r.name if key in ("failed", "up-to-date") else f"{r.name} {r.old} → {r.new}")
    out.text("")
    out.text("summary: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(by.items())))
