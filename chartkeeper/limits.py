"""How much one run may read, expand, render and wait for: the budgets against huge or hostile input.

An upgrade check runs in CI on every merge request, on charts and values written by others: one
alias bomb, one template that loops for ever or one index of a quarter of a million versions must
end in a clear error naming the file, not take the runner down. Every limit has a default that no
real deployment comes near and can be changed under `limits:` in `chartkeeper.yaml` (README,
"Limits").

The limits are process-wide: `yamlio`, the index reader and the render engines sit below the
settings and are called from everywhere, so `load_settings` installs the repository's limits once
(`configure`) and every reader asks `current()`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    yaml_nodes: int = 1_000_000  # nodes one YAML document may hold, aliases expanded
    yaml_bytes: int = 64 * MIB  # bytes one YAML document may hold, and its text expand to through aliases
    depth: int = 200  # nesting of a YAML document or a JSON schema
    index_bytes: int = 128 * MIB  # one repository index.yaml (the biggest public ones are ~20 MB)
    index_chart_bytes: int = 8 * MIB  # one chart's versions in an index (~4,000 versions; the most seen ~1 MB)
    schema_bytes: int = 16 * MIB  # one values.schema.json
    output_bytes: int = 256 * MIB  # what one render or template evaluation may print
    render_seconds: float = 300.0  # one render of a chart (embedded engine or helm binary)
    template_seconds: float = 60.0  # one evaluation of a values template (`.gotmpl`)


# chartkeeper.yaml spelling -> field
CONFIG_KEYS = {
    "yamlNodes": "yaml_nodes",
    "yamlBytes": "yaml_bytes",
    "depth": "depth",
    "indexBytes": "index_bytes",
    "indexChartBytes": "index_chart_bytes",
    "schemaBytes": "schema_bytes",
    "outputBytes": "output_bytes",
    "renderSeconds": "render_seconds",
    "templateSeconds": "template_seconds",
}
_CONFIG_NAME_OF = {v: k for k, v in CONFIG_KEYS.items()}

_current = Limits()


def current() -> Limits:
    return _current


def configure(limits: Limits) -> None:
    """Install the repository's limits for the rest of the run (`load_settings` does)."""
    global _current
    _current = limits


def key_of(field_name: str) -> str:
    """The `limits:` key a user changes for `field_name`, for error messages."""
    return f"limits.{_CONFIG_NAME_OF[field_name]} in chartkeeper.yaml"


def parse(raw: dict[str, Any]) -> tuple[Limits, list[str]]:
    """`limits:` of chartkeeper.yaml as Limits, and the problems found (empty when all is well)."""
    problems = [f"unknown key {k}" for k in sorted(str(k) for k in raw if k not in CONFIG_KEYS)]
    kw: dict[str, Any] = {}
    kinds = {f.name: f.type for f in fields(Limits)}
    for key, name in CONFIG_KEYS.items():
        if key not in raw:
            continue
        value = raw[key]
        want_int = kinds[name] in ("int", int)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or (want_int and value != int(value)):
            problems.append(f"{key} must be a positive {'whole number' if want_int else 'number'}")
            continue
        kw[name] = int(value) if want_int else float(value)
    return Limits(**kw), problems


def size(n: int) -> str:
    """`n` bytes for a message, never rounded into the limit it is compared with: 64 MiB, 43.21 MiB,
    12 KiB, 2,100 bytes."""
    if n >= MIB:
        return f"{n // MIB} MiB" if n % MIB == 0 else f"{n / MIB:.2f} MiB"
    if n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n:,} bytes"
