"""`chartkeeper images [CHART ...]`: every image the deployment pulls, where the site keeps it, and (`--check`)
whether the site's registry has it.

Exit codes: 0 listed; 1 with `--check` when an image is missing from the site's registry or a reference is
invalid; 2 bad input, a release that does not render, or a registry that cannot tell (never "missing").
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, InputError
from chartkeeper.fsutil import atomic_write_text
from chartkeeper.imageref import copy_pair
from chartkeeper.images.inventory import Inventory, build_inventory, with_presence
from chartkeeper.output import output_file
from chartkeeper.output import table as output_table
from chartkeeper.sources.registry import check_images

FORMATS = ("table", "list", "copy")


def run(
    ctx: AppContext,
    charts: list[str] | None = None,
    envs: list[str] | None = None,
    output: Path | None = None,
    check: bool = False,
    all_components: bool = False,
    fmt: str | None = None,
) -> int:
    out = ctx.out
    fmt = fmt or "table"
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    path = output_file(output, "--output") if output is not None else None
    inv = build_inventory(ctx.settings, envs=envs or [], charts=charts or [], all_components=all_components,
                          progress=out.detail)
    if check:
        out.info(f"checking {len(inv.images)} image(s) in the site's registry")
        inv = with_presence(inv, check_images(ctx.settings, [u.mirror for u in inv.images]))

    if fmt == "copy":
        lines = [" ".join(copy_pair(u.image, u.mirror)) for u in inv.images if not (check and u.present)]
        if not ctx.settings.images_mapped:
            out.warn("no `images:` mapping in chartkeeper.yaml: every image's destination is the image itself "
                     "(set images.mirror or images.rewrite, see docs/images.md)")
    else:
        lines = [u.image for u in inv.images]
    if path is not None:
        atomic_write_text(path, "".join(f"{line}\n" for line in lines))

    missing = [u for u in inv.images if u.present is False]
    unknown = [u for u in inv.images if check and u.present is None]
    if out.json_mode:
        out.emit_json({"images": [u.to_json() for u in inv.images], "invalid": [i.to_json() for i in inv.invalid],
                       "notes": list(inv.notes), "errors": list(inv.errors)})
    elif output is None and fmt in ("list", "copy"):
        for line in lines:
            out.text(line)
    else:
        _table(ctx, inv, check)
    for note in inv.notes:
        out.info(f"note: {note}")
    for bad in inv.invalid:
        out.warn(f"{bad.release}: {bad.invalid.resource} {bad.invalid.field}: {bad.invalid.value!r} is not an image "
                 f"reference ({bad.invalid.reason})")
    for e in inv.errors:
        out.err.print(f"error: {e}", markup=False, style="red")
    for u in unknown:
        out.err.print(f"error: {u.mirror}: {u.error}", markup=False, style="red")
    summary = f"{len(inv.images)} image(s) from {inv.renders} render(s)"
    if check:
        summary += f": {len(inv.images) - len(missing) - len(unknown)} present, {len(missing)} missing"
        summary += f", {len(unknown)} unknown" if unknown else ""
    if output is not None:
        summary += f"; {len(lines)} line(s) written to {output}"
    out.info(summary)
    if inv.errors or unknown:
        return EXIT_ERROR
    if check and (missing or inv.invalid):
        return EXIT_FINDINGS
    return EXIT_OK


def _table(ctx: AppContext, inv: Inventory, check: bool) -> None:
    mapped = any(u.mirror != u.image for u in inv.images)
    table = output_table("image")
    if mapped:
        table.add_column("on the site", overflow="fold")
    if check:
        table.add_column("present")
    table.add_column("environments")
    table.add_column("pulled by", overflow="fold")
    for u in inv.images:
        row = [u.image + ("" if u.enabled else " (disabled)")]
        if mapped:
            row.append(u.mirror)
        if check:
            row.append("yes" if u.present else "MISSING" if u.present is False else "unknown")
        row.append(", ".join(u.environments))
        srcs = list(u.sources) + [f"note: {n}" for n in u.notes]
        row.append("\n".join(srcs))
        table.add_row(*(Text(c) for c in row))  # `containers[web]` is not rich markup
    ctx.out.result(table)
