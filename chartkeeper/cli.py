"""The command line: parse options, build the context, call one function per command.

The command table at the bottom lists every command. Each command function below imports its
`chartkeeper.commands.<name>.run` inside its body and calls it with typed arguments: that import
is the one documented lazy load of this module, so `chartkeeper --help` never loads YAML, rich
tables, git or helm-python-sdk's native library.

The grammar every command shares (README, "Command line conventions"): chart names are
positional; `-e/--env` is repeatable (a command that takes one environment refuses two);
`--json` is the one machine-readable switch, `--format` picks a human format; the global options
`-C`, `--lock`, `-v`, `-q` go before or after the subcommand. Usage errors are one `error:`
line and exit 2; a closed stdout (`chartkeeper lint | head`) ends the run the way SIGPIPE
ends other tools.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, List, Optional

import click
import typer
import typer.core

from chartkeeper import __version__
from chartkeeper.errors import EXIT_BUG, EXIT_ERROR, EXIT_INTERRUPTED, ChartkeeperError, InputError, disk_full, is_disk_full

if TYPE_CHECKING:
    from chartkeeper.context import AppContext
    from chartkeeper.output import Output
    from chartkeeper.settings import Settings

# Plain click help and errors: typer's rich rendering imports ~60 ms of rich/markdown modules on
# every `--help`, and boxes drawn for 80 columns read badly in CI logs and pipes.
typer.core.HAS_RICH = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chartkeeper {__version__}")
        raise typer.Exit(0)


# --- global options: accepted before the subcommand (root callback) and after it (every command) ---

_ROOT_TYPE = click.Path(exists=True, file_okay=False, path_type=Path)
_GLOBAL_HELP = {
    "root": "Where to look for the deployment (default: the current folder): the nearest folder there or above holding chartkeeper.yaml or helmfile/charts/external/versions.lock.",
    "lock": "versions.lock path (default: helmfile/charts/external/versions.lock).",
    "verbose": "More detail on stderr; -vv adds traces of internal errors.",
    "quiet": "Only results and errors.",
    "allow_exec": "Let a helmfile binary evaluate the templates the embedded renderer cannot (this runs the "
                  "repository's code, `exec` included); as `renderer: helmfile` in chartkeeper.yaml.",
}


def _store_global(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Record a global option given after the subcommand; the root callback has run already."""
    if param.name is None or ctx.get_parameter_source(param.name) is not click.core.ParameterSource.COMMANDLINE:
        return
    g = ctx.ensure_object(dict)
    if param.name == "verbose":
        g["verbose"] = g.get("verbose", 0) + value
    else:
        g[param.name] = value


def _global_params() -> list[click.Parameter]:
    common: dict[str, Any] = {"expose_value": False, "callback": _store_global}
    return [
        click.Option(["-C", "--root", "root"], type=_ROOT_TYPE, metavar="PATH", help=_GLOBAL_HELP["root"], **common),
        click.Option(["--lock", "lock"], type=click.Path(path_type=Path), metavar="PATH", help=_GLOBAL_HELP["lock"], **common),
        click.Option(["-v", "--verbose", "verbose"], count=True, help=_GLOBAL_HELP["verbose"], **common),
        click.Option(["-q", "--quiet", "quiet"], is_flag=True, help=_GLOBAL_HELP["quiet"], **common),
        click.Option(["--allow-exec", "allow_exec"], is_flag=True, help=_GLOBAL_HELP["allow_exec"], **common),
    ]


class Command(typer.core.TyperCommand):
    """A subcommand that also takes the global options after its name (`chartkeeper lint -C repo -v`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_global_params())


app = typer.Typer(
    name="chartkeeper",
    help="Keep the vendored Helm charts of an air-gapped helmfile deployment up to date without breaking it.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    ctx: typer.Context,
    root: Path = typer.Option(Path("."), "-C", "--root", click_type=_ROOT_TYPE, help=_GLOBAL_HELP["root"], show_default=False),
    lock: Optional[Path] = typer.Option(None, "--lock", help=_GLOBAL_HELP["lock"]),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help=_GLOBAL_HELP["verbose"], show_default=False),
    quiet: bool = typer.Option(False, "-q", "--quiet", help=_GLOBAL_HELP["quiet"]),
    allow_exec: bool = typer.Option(False, "--allow-exec", help=_GLOBAL_HELP["allow_exec"]),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    ctx.obj = {"root": root, "lock": lock, "verbose": verbose, "quiet": quiet, "allow_exec": allow_exec}


# --- running a command: context, error mapping, exit code ---

# Commands that may run where there is no deployment: two start one, `unbundle` runs on the site's
# side of the air gap with `--registry`. The others refuse there.
NEEDS_NO_DEPLOYMENT = ("add", "import", "unbundle")


def _run(ctx: typer.Context, json_mode: bool, command: Callable[["AppContext"], int]) -> None:
    """Build the AppContext, run one command, map what it raises to an exit code."""
    from chartkeeper.context import AppContext
    from chartkeeper.fsutil import path_outside, sweep_killed_runs
    from chartkeeper.helm import crd_cache
    from chartkeeper.helmfile.binary import allow_helmfile
    from chartkeeper.masking import redact
    from chartkeeper.output import Output, die_of_sigpipe, stdout_closed
    from chartkeeper.settings import load_settings
    from chartkeeper.sources.credentials import register_environment_secrets

    g = ctx.obj or {}
    out = Output(json_mode=json_mode, verbose=g.get("verbose", 0), quiet=g.get("quiet", False) or json_mode)
    try:
        register_environment_secrets()  # before anything reads the tree: a template may copy any of them
        settings = load_settings(g.get("root") or Path("."), {"lock_path": g.get("lock")})
        if ctx.command.name not in NEEDS_NO_DEPLOYMENT and not g.get("lock"):
            _require_deployment(settings)
        allow_helmfile(bool(g.get("allow_exec")) or settings.renderer == "helmfile")
        os.environ["PATH"] = path_outside(os.environ.get("PATH", ""), settings.root)  # no tool of the repository's
        sweep_killed_runs(settings.cache_dir)  # scratch folders (ours, the tools') of killed runs
        crd_cache.use(settings.cache_dir / "parsed")  # charts' CRD files, parsed once per content
        code = command(AppContext(settings, out))
    except ChartkeeperError as exc:
        out.err.print(f"error: {redact(exc.message)}", markup=False, style="red")
        if exc.hint:
            out.err.print(f"hint: {redact(exc.hint)}", markup=False)
        code = exc.exit_code
    except KeyboardInterrupt:
        out.err.print("interrupted", markup=False)
        code = EXIT_INTERRUPTED
    except BrokenPipeError as exc:
        if stdout_closed():
            die_of_sigpipe()
        code = _bug(out, g, exc)  # a pipe of ours (a subprocess, a socket) broke: not the reader leaving
    except OSError as exc:
        if is_disk_full(exc):  # a full disk is the machine's, with or without a file name to show
            full = disk_full(redact(str(exc.filename)) if exc.filename else None)
            out.err.print(f"error: {full.message}", markup=False, style="red")
            out.err.print(f"hint: {full.hint}", markup=False)
            code = EXIT_ERROR
        elif exc.errno in _MACHINE_ERRNOS and exc.filename:
            # the machine refused (permissions, a read-only or full disk): the user fixes that, not us
            out.err.print(f"error: {redact(str(exc.filename))}: {exc.strerror}", markup=False, style="red")
            code = EXIT_ERROR
        else:
            code = _bug(out, g, exc)
    except Exception as exc:
        code = _bug(out, g, exc)
    raise typer.Exit(code)


def _require_deployment(settings: "Settings") -> None:
    """A root marker, or at least a helmfile state to read (a tree with no chart vendored yet)."""
    from chartkeeper import helmfile
    from chartkeeper.settings import marks_root, no_deployment

    if not marks_root(settings.root) and not helmfile.has_state(settings):
        raise no_deployment(settings.root)


_MACHINE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def _bug(out: "Output", g: dict[str, Any], exc: BaseException) -> int:
    """A bug: a short hint, the full trace only when asked (redacted like every other output)."""
    import traceback

    from chartkeeper.masking import redact

    if os.environ.get("CHARTKEEPER_TRACEBACK") or g.get("verbose", 0) >= 2:
        sys.stderr.write(redact("".join(traceback.format_exception(exc))))
    out.err.print(
        f"internal error: {type(exc).__name__}: {redact(str(exc))}\n"
        "This is a chartkeeper bug. Re-run with -vv (or CHARTKEEPER_TRACEBACK=1) for the trace and report it.",
        markup=False,
        style="red",
    )
    return EXIT_BUG


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def _deprecated(old: str, new: str) -> None:
    _warn(f"{old} is deprecated and will be removed in the next release; use {new}")


def _one_env(envs: Optional[List[str]], command: str) -> Optional[str]:
    """Commands that show one environment take `-e` like the others but refuse two."""
    if envs and len(set(envs)) > 1:
        raise InputError(f"{command} shows one environment at a time; got -e {' -e '.join(dict.fromkeys(envs))}")
    return envs[0] if envs else None


# --- shared option declarations ---

JsonOpt = typer.Option(False, "--json", help="Machine-readable JSON on stdout (the one machine format of every command).")
AllowUncheckedOpt = typer.Option(
    False, "--allow-unchecked", help="Exit 0/1 even when some checks could not run (listed under NOT CHECKED); otherwise exit 2."
)
FAIL_ON = click.Choice(["breaking", "review"])
IncludeExistingOpt = typer.Option(
    False, "--include-existing",
    help="With --fail-on: count findings already true before the upgrade too (an override neither version knows).",
)
ENGINES = click.Choice(["auto", "embedded", "helm"])
CHECK_FORMATS = click.Choice(["text", "md"])
DIFF_FORMATS = click.Choice(["text", "md", "json"])  # json: deprecated spelling of --json
IMAGE_FORMATS = click.Choice(["table", "list", "copy"])


def _env_opt(help: str) -> Any:
    return typer.Option(None, "--env", "-e", metavar="ENV", help=help)


# --- the commands ---


def check(
    ctx: typer.Context,
    charts: Optional[List[str]] = typer.Argument(None, metavar="[CHART]...", help="Only these pinned charts (default: all)."),
    pre: bool = typer.Option(False, "--pre", help="Consider prereleases."),
    fail_on_update: bool = typer.Option(False, "--fail-on-update", help="Exit 1 when an update exists."),
    fmt: str = typer.Option("text", "--format", "-f", click_type=CHECK_FORMATS, help="Human format: text (a table, default) or md (a dependency dashboard to paste into an issue or merge request). For JSON use --json."),
    json_out: bool = JsonOpt,
) -> None:
    """List available upgrades for the pinned charts.

    \b
    Examples:
      chartkeeper check
      chartkeeper check keycloak --pre
      chartkeeper check --format md > dashboard.md
      chartkeeper check --json --fail-on-update
    """
    from chartkeeper.commands.check import run

    if fmt != "text" and json_out:
        raise click.UsageError(f"--json and --format {fmt} choose two formats; give one")
    _run(ctx, json_out, lambda app: run(app, charts or [], pre=pre, fail_on_update=fail_on_update, fmt=fmt))


def diff(
    ctx: typer.Context,
    chart: str = typer.Argument(..., metavar="CHART", help="The pinned chart (its name in versions.lock)."),
    target: Optional[str] = typer.Argument(None, metavar="[VERSION|CONSTRAINT]", help="Compare with this version or the newest matching this constraint (default: the newest the lock allows)."),
    env: Optional[List[str]] = _env_opt("Only this environment (repeatable; default: all)."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", click_type=DIFF_FORMATS, help="Human format of the report: text (default) or md. For JSON use --json."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE", help="Write the report (in the chosen format) to FILE, with images.txt and the full manifest diff (<old>-to-<new>.diff) beside it."),
    engine: str = typer.Option("auto", "--engine", click_type=ENGINES, help="How to render: auto or embedded (the embedded Helm engine, at the configured cluster version), or helm (a helm binary)."),
    pre: bool = typer.Option(False, "--pre", help="Consider prereleases."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", click_type=FAIL_ON, help="Exit 1 when a finding the upgrade introduces is breaking (breaking) or needs review or worse (review)."),
    include_existing: bool = IncludeExistingOpt,
    show_label_churn: bool = typer.Option(False, "--show-label-churn", help="Count chart-version labels and checksum annotations as changes (folded by default)."),
    check_images: bool = typer.Option(False, "--check-images", help="Ask the site's registry whether each new image is there (on by default with images: in chartkeeper.yaml)."),
    defaults_only: bool = typer.Option(False, "--defaults-only", help="With no helmfile state, analyse the chart defaults alone instead of refusing."),
    allow_unchecked: bool = AllowUncheckedOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Analyse an upgrade per environment: values, patches, rendered manifests, images, CRDs.

    \b
    Examples:
      chartkeeper diff keycloak
      chartkeeper diff keycloak 25.2.0 -e prod --format md -o keycloak-25.md
      chartkeeper diff keycloak '~25' --json --fail-on breaking
    """
    from chartkeeper.commands.diff import run

    if fmt == "json":
        _deprecated("--format json", "--json")
        fmt, json_out = None, True
    if fmt is not None and json_out:
        raise click.UsageError(f"--json and --format {fmt} choose two formats; give one")
    _run(ctx, json_out, lambda app: run(
        app, chart, target, envs=env or [], fmt="json" if json_out else fmt, output=output, engine=engine, pre=pre,
        fail_on=fail_on, include_existing=include_existing, as_json=json_out, show_label_churn=show_label_churn, check_images=check_images,
        defaults_only=defaults_only, allow_unchecked=allow_unchecked,
    ))


def bump(
    ctx: typer.Context,
    chart: Optional[str] = typer.Argument(None, metavar="[CHART]", help="The pinned chart to upgrade (or --all)."),
    target: Optional[str] = typer.Argument(None, metavar="[VERSION|CONSTRAINT]", help="A version or constraint (default: the newest the lock's constraint allows)."),
    all_charts: bool = typer.Option(False, "--all", help="Every chart with an update inside its constraint, one branch each."),
    pre: bool = typer.Option(False, "--pre", help="Consider prereleases."),
    allow_downgrade: bool = typer.Option(False, "--allow-downgrade", help="Allow a target older than the pin."),
    base: Optional[str] = typer.Option(None, "--base", metavar="REF", help="Branch from this ref instead of HEAD."),
    push: bool = typer.Option(False, "--push", help="Push the branch to the git remote (git's own credentials)."),
    remote: Optional[str] = typer.Option(None, "--remote", metavar="NAME", help="The remote --push pushes to (default: origin)."),
    merge_request: bool = typer.Option(False, "--merge-request", help="With --push: have GitLab create the merge request (push options; title and the report's summary as description)."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", click_type=FAIL_ON, help="Exit 1 when findings the upgrade introduces reach this severity (the branch is still made)."),
    include_existing: bool = IncludeExistingOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="Analyse and print the report; write nothing."),
    in_place: bool = typer.Option(False, "--in-place", help="No git: write into the working tree (staged and swapped in)."),
    allow_dirty: bool = typer.Option(False, "--allow-dirty", help="With --in-place: accept uncommitted changes."),
    env: Optional[List[str]] = _env_opt("Only this environment (repeatable; default: all)."),
    check_images: bool = typer.Option(False, "--check-images", help="Ask the site's registry whether each new image is there (on by default with images: in chartkeeper.yaml)."),
    allow_unchecked: bool = AllowUncheckedOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Upgrade a vendored chart on its own git branch, with the upgrade report, ready for helmfile.

    \b
    Examples:
      chartkeeper bump keycloak
      chartkeeper bump keycloak 25.2.0 --push
      chartkeeper bump keycloak --push --merge-request
      chartkeeper bump --all --dry-run
    """
    from chartkeeper.commands.bump import run

    _run(ctx, json_out, lambda app: run(
        app, chart=chart, target=target, all_charts=all_charts, pre=pre, allow_downgrade=allow_downgrade, base=base,
        push=push, remote=remote, merge_request=merge_request, fail_on=fail_on, include_existing=include_existing, dry_run=dry_run, in_place=in_place,
        allow_dirty=allow_dirty, envs=env or [], check_images=check_images, allow_unchecked=allow_unchecked,
    ))


def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="CHART", help="Our name for the chart (the lock entry)."),
    repo: str = typer.Option(..., "--repo", metavar="URL", help="Repository: https://, oci://, file:// or a folder."),
    version: str = typer.Option(..., "--version", help="Exact version to pin, as published."),
    chart: Optional[str] = typer.Option(None, "--chart", metavar="NAME", help="Chart name in the repository (default: CHART)."),
    constraint: Optional[str] = typer.Option(None, "--constraint", help="What check/bump may move to, e.g. v25.x."),
    json_out: bool = JsonOpt,
) -> None:
    """Start tracking a chart: fetch, verify, vendor and lock it.

    \b
    Examples:
      chartkeeper add keycloak --repo https://charts.example.org --version 24.0.1 --constraint '~24'
      chartkeeper add redis --repo oci://registry.example.org/charts --version 20.1.0
    """
    from chartkeeper.commands.add import run

    _run(ctx, json_out, lambda app: run(app, name, repo, version, chart=chart, constraint=constraint))


def sync(
    ctx: typer.Context,
    charts: Optional[List[str]] = typer.Argument(None, metavar="[CHART]...", help="Only these pinned charts (default: all)."),
    source_from: Optional[str] = typer.Option(None, "--from", metavar="BUNDLE", help="Fetch from this bundle (.tgz or the folder it was unpacked into) instead of upstream."),
    force: bool = typer.Option(False, "--force", help="Re-vendor even charts that verify clean."),
    json_out: bool = JsonOpt,
) -> None:
    """Make the vendored folders match the lock (idempotent, atomic per chart).

    \b
    Examples:
      chartkeeper sync
      chartkeeper sync --from charts-bundle.tgz
    """
    from chartkeeper.commands.sync import run

    _run(ctx, json_out, lambda app: run(app, charts or [], source_from=source_from, force=force))


def verify(
    ctx: typer.Context,
    charts: Optional[List[str]] = typer.Argument(None, metavar="[CHART]...", help="Only these pinned charts (default: all)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 for charts pinned but not vendored yet too."),
    json_out: bool = JsonOpt,
) -> None:
    """Check vendored folders against their tree checksums; list drift file by file (exit 1 on drift).

    \b
    Examples:
      chartkeeper verify
      chartkeeper verify keycloak --json
    """
    from chartkeeper.commands.verify import run

    _run(ctx, json_out, lambda app: run(app, charts or [], strict=strict))


def recover(ctx: typer.Context, json_out: bool = JsonOpt) -> None:
    """Finish the swap of an in-place bump that was killed (every writing command also does this first).

    \b
    Examples:
      chartkeeper recover && chartkeeper verify
    """
    from chartkeeper.commands.recover import run

    _run(ctx, json_out, run)


def import_(
    ctx: typer.Context,
    charts_json: Optional[Path] = typer.Option(None, "--charts-json", metavar="FILE", help="The previous tool's charts.json."),
    csv_lock: Optional[Path] = typer.Option(None, "--csv-lock", metavar="FILE", help="The previous tool's CSV lock."),
    json_out: bool = JsonOpt,
) -> None:
    """Adopt charts already unpacked under charts/external into versions.lock.

    \b
    Examples:
      chartkeeper import
      chartkeeper import --charts-json charts.json --csv-lock charts.csv
    """
    from chartkeeper.commands.import_ import run

    _run(ctx, json_out, lambda app: run(app, charts_json=charts_json, csv_lock=csv_lock))


def bundle(
    ctx: typer.Context,
    out_file: Path = typer.Argument(..., metavar="OUT.tgz", help="The bundle file to write."),
    charts: Optional[List[str]] = typer.Argument(None, metavar="[CHART]...", help="Only these pinned charts (default: all)."),
    chart_opt: Optional[List[str]] = typer.Option(None, "--chart", hidden=True, help="Deprecated: name the charts after OUT.tgz."),
    with_images: bool = typer.Option(False, "--images", help="Also every image the deployment pulls, as an OCI image layout."),
    env: Optional[List[str]] = _env_opt("With --images: the images of this environment (repeatable; default: all)."),
    since: Optional[str] = typer.Option(None, "--since", metavar="REF", help="With --images: leave out the images the deployment pulled at this git ref (the delta of an upgrade)."),
    platform: Optional[List[str]] = typer.Option(None, "--platform", metavar="OS/ARCH", help="With --images: the platforms a multi-platform image is narrowed to (repeatable; default: linux/amd64)."),
    json_out: bool = JsonOpt,
) -> None:
    """Pack the vendored charts, an index.yaml and the lock (and with --images, the images) into one file for the air gap.

    \b
    Examples:
      chartkeeper bundle charts-bundle.tgz
      chartkeeper bundle keycloak-only.tgz keycloak
      chartkeeper bundle upgrade.tgz --images --since main -e prod
    """
    from chartkeeper.commands.bundle import run

    if chart_opt:
        _deprecated("bundle --chart NAME", "bundle OUT.tgz NAME...")
    _run(ctx, json_out, lambda app: run(app, out_file, [*(charts or []), *(chart_opt or [])], images=with_images,
                                        envs=list(dict.fromkeys(env or [])), since=since, platforms=platform or []))


def unbundle(
    ctx: typer.Context,
    bundle_file: Path = typer.Argument(..., metavar="IN.tgz", help="A bundle made by `bundle --images` (or the folder it was unpacked into)."),
    registry: Optional[str] = typer.Option(None, "--registry", metavar="HOST[:PORT][/PREFIX]", help="Push there (as images.mirror would name them; default: images: in chartkeeper.yaml)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the bundle and print what would be pushed; push nothing."),
    json_out: bool = JsonOpt,
) -> None:
    """Push a bundle's images to the site's registry (every blob checked first; a rerun resumes), then check them.

    \b
    Examples:
      chartkeeper unbundle upgrade.tgz --registry harbor.example.internal/mirror
      chartkeeper unbundle upgrade.tgz --dry-run
    """
    from chartkeeper.commands.unbundle import run

    _run(ctx, json_out, lambda app: run(app, bundle_file, registry=registry, dry_run=dry_run))


def releases(
    ctx: typer.Context,
    env: Optional[List[str]] = _env_opt("Only this environment (repeatable; default: all)."),
    json_out: bool = JsonOpt,
) -> None:
    """List the helmfile's releases: chart folder, lock entry, values files in order.

    \b
    Examples:
      chartkeeper releases
      chartkeeper releases -e dev -e prod --json
    """
    from chartkeeper.commands.releases import run

    _run(ctx, json_out, lambda app: run(app, list(dict.fromkeys(env or []))))


def values(
    ctx: typer.Context,
    chart: str = typer.Argument(..., metavar="CHART", help="A lock entry, release name or chart folder."),
    env: Optional[List[str]] = _env_opt("The environment (needed when several exist; one only)."),
    explain: bool = typer.Option(False, "--explain", help="One line per value with the file:line that set it."),
    json_out: bool = JsonOpt,
) -> None:
    """Show the effective values the deployment passes to a chart (secrets masked).

    \b
    Examples:
      chartkeeper values keycloak -e prod
      chartkeeper values keycloak -e prod --explain
    """
    from chartkeeper.commands.values import run

    _run(ctx, json_out, lambda app: run(app, chart, env=_one_env(env, "values"), explain=explain))


def env_diff(
    ctx: typer.Context,
    env_a: str = typer.Argument(..., metavar="ENV_A", help="First environment."),
    env_b: str = typer.Argument(..., metavar="ENV_B", help="Second environment."),
    chart: Optional[str] = typer.Argument(None, metavar="[CHART]", help="Only the releases of this chart."),
    fail_on_diff: bool = typer.Option(False, "--fail-on-diff", help="Exit 1 when the environments differ."),
    json_out: bool = JsonOpt,
) -> None:
    """Compare the effective values of two environments, release by release (secrets masked).

    \b
    Examples:
      chartkeeper env-diff staging prod
      chartkeeper env-diff staging prod keycloak --fail-on-diff
    """
    from chartkeeper.commands.env_diff import run

    _run(ctx, json_out, lambda app: run(app, env_a, env_b, chart=chart, fail_on_diff=fail_on_diff))


def lint(
    ctx: typer.Context,
    env: Optional[List[str]] = _env_opt("Only this environment (repeatable; default: all)."),
    allow_unchecked: bool = AllowUncheckedOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Check the deployment tree: lock, vendored folders, releases, values, schemas, custom charts, patches.

    \b
    Examples:
      chartkeeper lint
      chartkeeper lint -e prod --json
    """
    from chartkeeper.commands.lint import run

    _run(ctx, json_out, lambda app: run(app, env or [], allow_unchecked=allow_unchecked))


def images(
    ctx: typer.Context,
    charts: Optional[List[str]] = typer.Argument(None, metavar="[CHART]...", help="Only the releases of these charts (lock entry, release or chart folder)."),
    env: Optional[List[str]] = _env_opt("Only this environment (repeatable; default: all)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE", help="Write one reference per line to FILE (copy pairs with --format copy)."),
    check: bool = typer.Option(False, "--check", help="Ask the site's registry whether each image is there (exit 1 when one is missing)."),
    all_components: bool = typer.Option(False, "--all-components", help="Also images of components marked enabled: false."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", click_type=IMAGE_FORMATS, help="table (default), list (one reference per line) or copy (SOURCE DESTINATION pairs). For JSON use --json."),
    json_out: bool = JsonOpt,
) -> None:
    """Every image the deployment pulls, per environment, with where the site keeps it (and --check it is there).

    \b
    Examples:
      chartkeeper images -e prod
      chartkeeper images --format copy -o mirror.txt
      chartkeeper images keycloak --check --json
    """
    from chartkeeper.commands.images import run

    if fmt is not None and json_out:
        raise click.UsageError(f"--json and --format {fmt} choose two formats; give one")
    _run(ctx, json_out, lambda app: run(
        app, charts or [], envs=env or [], output=output, check=check, all_components=all_components, fmt=fmt,
    ))


# The command table: name and function, in the order `chartkeeper --help` lists them
# (the order people use them: look, analyse, take, keep in step, ship, inspect).
COMMANDS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("check", check),
    ("diff", diff),
    ("bump", bump),
    ("add", add),
    ("sync", sync),
    ("verify", verify),
    ("recover", recover),
    ("import", import_),
    ("bundle", bundle),
    ("unbundle", unbundle),
    ("releases", releases),
    ("values", values),
    ("env-diff", env_diff),
    ("lint", lint),
    ("images", images),
)
for _name, _function in COMMANDS:
    app.command(_name, cls=Command)(_function)


def _usage_message(exc: click.UsageError) -> str:
    """click's message, with our own "did you mean" for a mistyped command or option: click offers any
    option loosely alike (`--fromat` got `--root`), and nothing for a command."""
    if isinstance(exc, click.NoSuchOption) and exc.ctx is not None:
        known = [o for p in exc.ctx.command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")]
        return f"no such option: {exc.option_name}" + _did_you_mean(exc.option_name, known)
    message = exc.format_message()
    if message.startswith("No such command '") and message.endswith("'."):
        typed = message[len("No such command '"):-2]
        return f"no such command: {typed}" + _did_you_mean(typed, [name for name, _ in COMMANDS])
    return message


def _did_you_mean(typed: str, choices: List[str]) -> str:
    import difflib

    best = difflib.get_close_matches(typed, choices, n=1, cutoff=0.75)
    return f" (did you mean {best[0]}?)" if best else ""


def main(argv: Optional[List[str]] = None) -> None:
    """The console script: run the app, keep every usage error to one line and exit 2."""
    try:
        code = app(args=argv, prog_name="chartkeeper", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `chartkeeper`: the help, like git
        click.echo(exc.ctx.get_help() if exc.ctx else "")
        code = EXIT_ERROR
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "chartkeeper"
        click.echo(f"error: {_usage_message(exc)} (see `{where} --help`)", err=True)
        code = EXIT_ERROR
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        code = exc.exit_code
    except click.exceptions.Abort:
        code = EXIT_INTERRUPTED
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C during option parsing
        code = EXIT_INTERRUPTED
    except OSError as exc:
        from chartkeeper.output import die_of_sigpipe, stdout_closed

        if exc.errno == errno.EPIPE and stdout_closed():
            die_of_sigpipe()
        raise
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        from chartkeeper.output import die_of_sigpipe

        die_of_sigpipe()
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
