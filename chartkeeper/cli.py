"""The command line: parse options, build the context, call one function per command.

Each command lives in `chartkeeper/commands/<name>.py` as `run(ctx, ...) -> int`. This module
imports nothing heavy at start-up so `chartkeeper --help` stays fast; command modules are
imported when their command runs.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer

from chartkeeper import __version__
from chartkeeper.errors import EXIT_BUG, EXIT_INTERRUPTED, ChartkeeperError

app = typer.Typer(
    name="chartkeeper",
    help="Keep the vendored Helm charts of an air-gapped helmfile deployment up to date without breaking it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOpt = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chartkeeper {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    root: Path = typer.Option(Path("."), "--root", "-C", help="The deployment repository (default: current folder)."),
    lock: Optional[Path] = typer.Option(None, "--lock", help="versions.lock path (default: helmfile/charts/external/versions.lock)."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More detail on stderr."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only results and errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    ctx.obj = {"root": root, "lock": lock, "verbose": verbose, "quiet": quiet}


def _dispatch(ctx: typer.Context, command: str, json_mode: bool = False, **kwargs: Any) -> None:
    """Build the AppContext and run `chartkeeper.commands.<command>.run`; map errors to exit codes."""
    from chartkeeper.context import AppContext
    from chartkeeper.output import Output, redact
    from chartkeeper.settings import load_settings

    g = ctx.obj or {}
    out = Output(json_mode=json_mode, verbose=g.get("verbose", 0), quiet=g.get("quiet", False) or json_mode)
    try:
        settings = load_settings(g.get("root", Path(".")), {"lock_path": g.get("lock")})
        module = importlib.import_module(f"chartkeeper.commands.{command}")
        code = module.run(AppContext(settings, out), **kwargs)
    except ChartkeeperError as exc:
        out.err.print(f"error: {redact(exc.message)}", markup=False, style="red")
        if exc.hint:
            out.err.print(f"hint: {redact(exc.hint)}", markup=False)
        code = exc.exit_code
    except KeyboardInterrupt:
        out.err.print("interrupted", markup=False)
        code = EXIT_INTERRUPTED
    except Exception as exc:  # a bug: short hint, full trace only when asked
        if os.environ.get("CHARTKEEPER_TRACEBACK") or g.get("verbose", 0) >= 2:
            raise
        out.err.print(
            f"internal error: {type(exc).__name__}: {redact(str(exc))}\n"
            "This is a chartkeeper bug. Re-run with -vv (or CHARTKEEPER_TRACEBACK=1) for the trace and report it.",
            markup=False,
            style="red",
        )
        code = EXIT_BUG
    raise typer.Exit(code)


@app.command()
def check(
    ctx: typer.Context,
    charts: Optional[List[str]] = typer.Argument(None, help="Only these pinned charts."),
    pre: bool = typer.Option(False, "--pre", help="Consider prereleases."),
    fail_on_update: bool = typer.Option(False, "--fail-on-update", help="Exit 1 when an update exists."),
    json_out: bool = JsonOpt,
) -> None:
    """List available upgrades for the pinned charts."""
    _dispatch(ctx, "check", json_out, charts=charts or [], pre=pre, fail_on_update=fail_on_update)


@app.command()
def bump(
    ctx: typer.Context,
    chart: Optional[str] = typer.Argument(None, help="The pinned chart to upgrade."),
    target: Optional[str] = typer.Argument(None, help="A version or constraint (default: the newest the lock's constraint allows)."),
    all_charts: bool = typer.Option(False, "--all", help="Every chart with an update inside its constraint, one branch each."),
    pre: bool = typer.Option(False, "--pre", help="Consider prereleases."),
    allow_downgrade: bool = typer.Option(False, "--allow-downgrade", help="Allow a target older than the pin."),
    base: Optional[str] = typer.Option(None, "--base", help="Branch from this ref instead of HEAD."),
    push: bool = typer.Option(False, "--push", help="Push the branch to the git remote (git's own credentials)."),
    remote: str = typer.Option("origin", "--remote", help="The remote --push pushes to."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", metavar="breaking|review", help="Exit 1 when findings reach this severity (the branch is still made)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Analyse and print the report; write nothing."),
    in_place: bool = typer.Option(False, "--in-place", help="No git: write into the working tree (staged and swapped in)."),
    allow_dirty: bool = typer.Option(False, "--allow-dirty", help="With --in-place: accept uncommitted changes."),
    env: Optional[List[str]] = typer.Option(None, "--env", "-e", help="Only these environments (repeatable)."),
    json_out: bool = JsonOpt,
) -> None:
    """Upgrade a vendored chart on its own git branch, with the upgrade report, ready for helmfile."""
    _dispatch(
        ctx, "bump", json_out, chart=chart, target=target, all_charts=all_charts, pre=pre,
        allow_downgrade=allow_downgrade, base=base, push=remote if push else None, fail_on=fail_on, dry_run=dry_run,
        in_place=in_place, allow_dirty=allow_dirty, envs=env or [],
    )


@app.command()
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Our name for the chart (the lock entry)."),
    repo: str = typer.Option(..., "--repo", help="Repository: https://, oci://, file:// or a folder."),
    version: str = typer.Option(..., "--version", help="Exact version to pin, as published."),
    chart: Optional[str] = typer.Option(None, "--chart", help="Chart name in the repository (default: NAME)."),
    constraint: Optional[str] = typer.Option(None, "--constraint", help="What check/bump may move to, e.g. v25.x."),
    json_out: bool = JsonOpt,
) -> None:
    """Start tracking a chart: fetch, verify, vendor and lock it."""
    _dispatch(ctx, "add", json_out, name=name, repo=repo, version=version, chart=chart, constraint=constraint)


@app.command()
def sync(
    ctx: typer.Context,
    charts: Optional[List[str]] = typer.Argument(None, help="Only these pinned charts."),
    source_from: Optional[str] = typer.Option(None, "--from", help="Fetch from this bundle (.tgz or folder) instead of upstream."),
    force: bool = typer.Option(False, "--force", help="Re-vendor even charts that verify clean."),
    json_out: bool = JsonOpt,
) -> None:
    """Make the vendored folders match the lock (idempotent, atomic per chart)."""
    _dispatch(ctx, "sync", json_out, charts=charts or [], source_from=source_from, force=force)


@app.command()
def verify(
    ctx: typer.Context,
    charts: Optional[List[str]] = typer.Argument(None, help="Only these pinned charts."),
    json_out: bool = JsonOpt,
) -> None:
    """Check vendored folders against their tree checksums; list drift file by file (exit 1 on drift)."""
    _dispatch(ctx, "verify", json_out, charts=charts or [])


@app.command("import")
def import_(
    ctx: typer.Context,
    charts_json: Optional[Path] = typer.Option(None, "--charts-json", help="The previous tool's charts.json."),
    csv_lock: Optional[Path] = typer.Option(None, "--csv-lock", help="The previous tool's CSV lock."),
    json_out: bool = JsonOpt,
) -> None:
    """Adopt charts already unpacked under charts/external into versions.lock."""
    _dispatch(ctx, "import_", json_out, charts_json=charts_json, csv_lock=csv_lock)


@app.command()
def bundle(
    ctx: typer.Context,
    out_file: Path = typer.Argument(..., metavar="OUT.tgz", help="The bundle file to write."),
    charts: Optional[List[str]] = typer.Option(None, "--chart", help="Only these pinned charts (repeatable)."),
    json_out: bool = JsonOpt,
) -> None:
    """Pack the vendored charts, an index.yaml and the lock into one file for the air gap."""
    _dispatch(ctx, "bundle", json_out, out_file=out_file, charts=charts or [])


@app.command()
def diff(
    ctx: typer.Context,
    chart: str = typer.Argument(..., help="The pinned chart (its name in versions.lock)."),
    target: Optional[str] = typer.Argument(None, help="VERSION or CONSTRAINT (default: the newest the lock allows)."),
    env: Optional[List[str]] = typer.Option(None, "--env", "-e", help="Only these environments (repeatable; default: all)."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="text (default), md or json."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report here (and images.txt beside it)."),
    engine: str = typer.Option("auto", "--engine", help="Render with the embedded Helm engine or a helm binary (embedded|helm)."),
    pre: bool = typer.Option(False, "--pre", help="Consider prereleases."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", help="Exit 1 when a finding is breaking (or needs review)."),
    json_out: bool = JsonOpt,
) -> None:
    """Analyse an upgrade per environment: values, patches, rendered manifests, images, CRDs."""
    _dispatch(ctx, "diff", json_out, chart=chart, target=target, envs=env or [], fmt=fmt, output=output,
              engine=engine, pre=pre, fail_on=fail_on, as_json=json_out)


@app.command()
def releases(
    ctx: typer.Context,
    env: Optional[str] = typer.Option(None, "--env", "-e", help="Only this environment (default: all)."),
    json_out: bool = JsonOpt,
) -> None:
    """List the helmfile's releases: chart folder, lock entry, values files in order."""
    _dispatch(ctx, "releases", json_out, env=env)


@app.command()
def values(
    ctx: typer.Context,
    chart: str = typer.Argument(..., help="A lock entry, release name or chart folder."),
    env: Optional[str] = typer.Option(None, "--env", "-e", help="The environment (needed when several exist)."),
    explain: bool = typer.Option(False, "--explain", help="One line per value with the file:line that set it."),
    json_out: bool = JsonOpt,
) -> None:
    """Show the effective values the deployment passes to a chart (secrets masked)."""
    _dispatch(ctx, "values", json_out, chart=chart, env=env, explain=explain)


@app.command("env-diff")
def env_diff(
    ctx: typer.Context,
    env_a: str = typer.Argument(..., help="First environment."),
    env_b: str = typer.Argument(..., help="Second environment."),
    chart: Optional[str] = typer.Argument(None, help="Only the releases of this chart."),
    fail_on_diff: bool = typer.Option(False, "--fail-on-diff", help="Exit 1 when the environments differ."),
    json_out: bool = JsonOpt,
) -> None:
    """Compare the effective values of two environments, release by release (secrets masked)."""
    _dispatch(ctx, "env_diff", json_out, env_a=env_a, env_b=env_b, chart=chart, fail_on_diff=fail_on_diff)


@app.command()
def lint(
    ctx: typer.Context,
    env: Optional[List[str]] = typer.Option(None, "--env", "-e", help="Only this environment (repeatable; default: all)."),
    json_out: bool = JsonOpt,
) -> None:
    """Check the deployment tree: lock, vendored folders, releases, values, schemas, custom charts, patches."""
    _dispatch(ctx, "lint", json_out, envs=env or [])


@app.command()
def images(
    ctx: typer.Context,
    charts: Optional[List[str]] = typer.Argument(None, help="Only the releases of these charts (lock entry, release or chart folder)."),
    env: Optional[List[str]] = typer.Option(None, "--env", "-e", help="Only these environments (repeatable; default: all)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write one reference per line here (copy pairs with --format copy)."),
    check: bool = typer.Option(False, "--check", help="Ask the site's registry whether each image is there (exit 1 when one is missing)."),
    all_components: bool = typer.Option(False, "--all-components", help="Also images of components marked enabled: false."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="table (default), list (one reference per line) or copy (SOURCE DESTINATION pairs)."),
    json_out: bool = JsonOpt,
) -> None:
    """Every image the deployment pulls, per environment, with where the site keeps it (and --check it is there)."""
    _dispatch(ctx, "images", json_out, charts=charts or [], envs=env or [], output=output, check=check,
              all_components=all_components, fmt=fmt)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C during option parsing
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":  # pragma: no cover
    main()
