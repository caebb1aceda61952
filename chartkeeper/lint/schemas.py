"""Environment values and secrets files against `values/schemas/*.schema.json`; secrets encrypted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

from chartkeeper import yamlio
from chartkeeper.errors import InputError
from chartkeeper.findings import Severity
from chartkeeper.lint.context import LintContext, one_line

SCHEMA_DIR = Path("values/schemas")  # relative to the helmfile's folder
VALUES_SCHEMA = "values.schema.json"  # validates the merged environment values
_ENC_PREFIX = "ENC["


def schema_files(ctx: LintContext) -> dict[str, Path]:
    folder = ctx.helmfile_dir / SCHEMA_DIR
    if not folder.is_dir():
        return {}
    return {p.name[: -len(".schema.json")]: p for p in sorted(folder.glob("*.schema.json"))}


def _load_schema(ctx: LintContext, path: Path) -> dict[str, Any] | None:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        ctx.add("lint.schema-invalid", Severity.BREAKING, f"{ctx.rel(path)}: not a JSON schema ({one_line(exc)})", file=ctx.rel(path))
        return None
    import jsonschema  # lazy: jsonschema takes ~60 ms to import; only charts that ship a values schema need it

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        ctx.add("lint.schema-invalid", Severity.BREAKING, f"{ctx.rel(path)}: {one_line(exc.message)}", file=ctx.rel(path))
        return None
    return schema


_SECRETISH = re.compile(r"(?i)pass|secret|token|credential|private|key$")


def _validate(
    ctx: LintContext, schema_path: Path, instance: Any, *, env: str | None, what: str, file: str | None, secret: bool = False,
    skip_ciphertext: bool = False,
) -> None:
    """Validate; messages name the path and the rule, never a value that may be a secret."""
    import jsonschema  # lazy: jsonschema takes ~60 ms to import; only charts that ship a values schema need it

    schema = _load_schema(ctx, schema_path)
    if schema is None:
        return
    validator = jsonschema.validators.validator_for(schema)(schema)
    for err in sorted(validator.iter_errors(json.loads(json.dumps(instance, default=str))), key=lambda e: list(e.absolute_path)):
        if skip_ciphertext and isinstance(err.instance, str) and err.instance.startswith(_ENC_PREFIX):
            continue  # a sops value of an encrypted environment secrets file: its type is not known here
        at = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        message = err.message
        if (secret or _SECRETISH.search(at)) and not isinstance(err.instance, (dict, list)):
            message = message.replace(repr(err.instance), "the value").replace(str(err.instance), "the value")
        ctx.add(
            "lint.schema-violation",
            Severity.BREAKING,
            f"{what}: {at}: {one_line(message)} ({ctx.rel(schema_path)})",
            env=env,
            path=at,
            file=file,
        )


def check_env_values(ctx: LintContext, env: str, env_values: Mapping[str, Any]) -> None:
    schemas = schema_files(ctx)
    if VALUES_SCHEMA[: -len(".schema.json")] in schemas:
        ctx.checked.append(f"schema values ({env})")
        _validate(ctx, schemas["values"], dict(env_values or {}), env=env, what=f"environment {env} values", file=None,
                  skip_ciphertext=True)


def _environment_files(ctx: LintContext, stem: str) -> list[Path]:
    folder = ctx.helmfile_dir / "environments"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"*/{stem}.yaml") if p.is_file())


def check_secrets_files(ctx: LintContext) -> None:
    schemas = schema_files(ctx)
    for stem, schema in schemas.items():
        if stem == "values":
            continue
        for f in _environment_files(ctx, stem):
            try:
                data = yamlio.load_file(f)
            except InputError as exc:
                ctx.add("lint.values-invalid", Severity.BREAKING, exc.message, file=ctx.rel(f))
                continue
            _validate(ctx, schema, data if data is not None else {}, env=None, what=ctx.rel(f), file=ctx.rel(f), secret=True)
    folder = ctx.helmfile_dir / "environments"
    if not folder.is_dir():
        return
    for f in sorted(folder.rglob("secrets*.yaml")):
        try:
            data = yamlio.load_file(f)
        except InputError:
            continue  # reported above when a schema covers it; a broken file cannot leak anyway
        plain = _plaintext_leaves(data) if isinstance(data, dict) else []
        if not isinstance(data, dict) or not isinstance(data.get("sops"), dict) or plain:
            detail = f"{len(plain)} value(s) in clear, e.g. at {plain[0]}" if plain else "no sops metadata"
            ctx.add(
                "lint.secret-not-encrypted",
                Severity.BREAKING,
                f"{ctx.rel(f)} is not sops-encrypted ({detail}); encrypt it before committing "
                "(`sops --encrypt --in-place` or `helm secrets enc`)",
                file=ctx.rel(f),
            )


def _plaintext_leaves(data: Mapping[str, Any]) -> list[str]:
    out: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
        elif node is not None and not (isinstance(node, str) and node.startswith(_ENC_PREFIX)):
            out.append(path)  # the path only: never the value

    for key, value in data.items():
        if key != "sops":
            walk(value, str(key))
    return out
