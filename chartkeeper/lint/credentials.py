"""`lint`'s weak-credential checks: the releases' and environments' credentials, judged at the end
of the run (when every name of the tree is known) by `analysis.credentials`, and `secrets.plaintext`
(info, once per file): credentials in clear in a plain values file of a tree that already keeps
secrets elsewhere (sops files, `secrets:` entries, `ref+` references).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chartkeeper.analysis.chart_keys import KeyUniverse, fmt_path, get_path
from chartkeeper.analysis.credentials import Credential, credential_findings, credentials_of
from chartkeeper.errors import ChartkeeperError
from chartkeeper.findings import Severity
from chartkeeper.helmfile.yamllines import load_with_lines
from chartkeeper.lint.context import LintContext, is_under
from chartkeeper.masking import is_secret_file, secret_leaves

def collect(ctx: LintContext, release: Any, ev: Any, chart_dir: Path, env: str) -> None:
    """Remember the credentials of one release in one environment for `judge`."""
    if ev.secret_files or ev.encrypted_files or ev.deploy_time_refs:
        ctx.secrets_mechanism = True
    try:
        universe: KeyUniverse | None = ctx.universe(chart_dir)
    except ChartkeeperError:
        universe = None  # the override check reports the chart; the credentials are still judged
    ctx.credentials.extend(credentials_of(ev.values, owner=f"release {release.id}", env=env, secret_files=ev.secret_files,
                                          provenance=ev.provenance, universe=universe))


def collect_environment(ctx: LintContext, state: Any, env: str) -> None:
    """The credentials of an environment's values (what templates copy into releases)."""
    if state.secret_files or state.encrypted_files:
        ctx.secrets_mechanism = True
    secret_files = {ctx.rel(Path(f)) for f in state.secret_files}
    for path, value in secret_leaves(dict(state.env_values or {})):
        if isinstance(value, str) and value and not value.startswith("ref+"):
            file, line = _find_line(ctx, path, value)
            if file in secret_files:
                continue
            ctx.credentials.append(Credential("environment values", env, path, value, file, line, None))


def _find_line(ctx: LintContext, path: tuple, value: str) -> tuple[str | None, int | None]:
    """Where the tree writes `value` at `path` (environment values carry no line map of their own)."""
    for rel, (data, lines) in _plain_yaml_files(ctx).items():
        if path in lines and get_path(data, path) == (True, value):
            return rel, lines[path]
    return None, None


def _plain_yaml_files(ctx: LintContext) -> dict[str, tuple[Any, dict[tuple, int]]]:
    """Every YAML file of the helmfile folder outside the charts, parsed with its line map, once per run."""
    if ctx.yaml_files is None:
        charts = ctx.helmfile_dir / "charts"
        ctx.yaml_files = {}
        for f in sorted(ctx.helmfile_dir.rglob("*.y*ml")):
            if not f.is_file() or is_under(f, charts):
                continue
            try:
                ctx.yaml_files[ctx.rel(f)] = load_with_lines(f.read_text(encoding="utf-8"), ctx.rel(f))
            except (OSError, UnicodeDecodeError, ChartkeeperError):
                continue
    return ctx.yaml_files


def judge(ctx: LintContext) -> None:
    """The credential findings, once every public token of the tree has been read."""
    plain: dict[str, list[Credential]] = {}
    ctx.extend(credential_findings(ctx.credentials))
    for c in ctx.credentials:
        if c.file and not is_secret_file(c.file) and _in_clear(ctx, c):
            plain.setdefault(c.file, []).append(c)
    if not ctx.secrets_mechanism:
        return
    for file, creds in sorted(plain.items()):
        paths = sorted({fmt_path(c.path) for c in creds})
        first = min(creds, key=lambda c: c.line or 0)
        ctx.add("secrets.plaintext", Severity.INFO,
                f"{file}: {len(paths)} credential(s) committed in clear ({', '.join(paths[:3])}"
                f"{' …' if len(paths) > 3 else ''}), while the tree keeps other secrets encrypted or referenced",
                file=file, line=first.line, action="move them to a secrets file (sops) or a `ref+` reference")


def _in_clear(ctx: LintContext, c: Credential) -> bool:
    """Written in the file as it is (a `.gotmpl` may read it from the environment instead)."""
    if not c.file or not c.file.endswith(".gotmpl"):
        return True
    try:
        return c.value in (ctx.settings.root / c.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False

