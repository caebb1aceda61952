"""`chartkeeper bundle OUT.tgz [--images]`: the vendored charts, an index.yaml and the lock in one file; with
`--images`, every image the deployment pulls (or, with `--since REF`, only those REF did not) as an OCI
image layout beside them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_OK, InputError, RefusedError
from chartkeeper.images.carry import DEFAULT_PLATFORMS, Platform, pull_images
from chartkeeper.images.inventory import build_inventory
from chartkeeper.images.since import images_at
from chartkeeper.lockfile import load_lock
from chartkeeper.output import output_file
from chartkeeper.vendoring.bundle import build_bundle
from chartkeeper.vendoring.verify import CLEAN, verify_tree


def run(ctx: AppContext, out_file: Path, charts: list[str] | None = None, *, images: bool = False,
        envs: list[str] | None = None, since: str | None = None, platforms: list[str] | None = None) -> int:
    settings, out = ctx.settings, ctx.out
    if not images and (envs or since or platforms):
        raise InputError("-e, --since and --platform choose the images of `bundle --images`; add --images")
    wanted_platforms = tuple(Platform.parse(p) for p in (platforms or DEFAULT_PLATFORMS))
    target = output_file(out_file, "bundle OUT.tgz")
    lock = load_lock(settings.lock_file)
    report = verify_tree(settings, lock, charts or [])
    bad = [r for r in report.charts if r.state != CLEAN]  # not vendored yet is fine for verify, not for a bundle
    if bad:
        listing = ", ".join(f"{r.name} ({r.state})" for r in bad)
        raise RefusedError(f"bundle: not every chart is vendored and clean: {listing}",
                           hint="run `chartkeeper sync` (and `chartkeeper verify` to see drift) first")
    entries = [lock.require(r.name) for r in report.charts]
    extra = None
    if images:
        image_list = _images_to_carry(ctx, envs or [], since)

        def extra(top: Path) -> dict[str, Any]:
            carried = pull_images(settings, image_list, top / "images", wanted_platforms, out.info)
            record = {"since": since, "environments": envs or [], "platforms": [str(p) for p in wanted_platforms],
                      "images": [c.to_json() for c in carried]}
            (top / "images.json").write_text(json.dumps(record, indent=2) + "\n")
            (top / "images.txt").write_text("".join(f"{i}\n" for i in image_list))
            return {"images": record["images"]}

    summary = build_bundle(lock, entries, target, extra)
    if out.json_mode:
        out.emit_json(summary)
    else:
        carried = f" and {len(summary['images'])} image(s)" if images else ""
        out.text(f"bundled {len(entries)} chart(s){carried} into {out_file} ({summary['bytes']} bytes, {summary['digest']})")
    return EXIT_OK


def _images_to_carry(ctx: AppContext, envs: list[str], since: str | None) -> list[str]:
    """What `images` lists for those environments, less what the tree at `since` already pulled."""
    inv = build_inventory(ctx.settings, envs=envs, progress=ctx.out.detail)
    if inv.errors:
        raise RefusedError(f"bundle --images: {len(inv.errors)} release(s) do not render, their images would be "
                           f"left out: {inv.errors[0]}", hint="`chartkeeper images` lists them")
    for bad in inv.invalid:
        ctx.out.warn(f"{bad.release}: {bad.invalid.value!r} is not an image reference ({bad.invalid.reason}); not carried")
    for note in inv.notes:
        ctx.out.info(f"note: {note}")
    found = [u.image for u in inv.images]
    if since is None:
        return found
    before = images_at(ctx.settings, since, envs, progress=ctx.out.detail)
    new = [i for i in found if i not in before]
    ctx.out.info(f"{len(new)} of {len(found)} image(s) are new since {since}")
    return new
