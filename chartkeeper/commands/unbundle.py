"""`chartkeeper unbundle IN.tgz --registry HOST[:PORT][/PREFIX]`: the images of a bundle pushed to the site's
registry under the names `images` maps them to, every blob checked before the first push, blobs the registry
has skipped (a rerun after an interruption resumes), then `images --check` of the bundle's images.

Exit codes: 0 every image is at the site; 1 an image is still missing after the push; 2 bad input, a damaged
bundle (nothing pushed) or a registry that refused or could not be reached.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from chartkeeper.context import AppContext
from chartkeeper.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, InputError
from chartkeeper.fsutil import temp_folder
from chartkeeper.images.carry import plan_push, push_images
from chartkeeper.images.layout import extract_layout, verify
from chartkeeper.sources.registry import check_images
from chartkeeper.vendoring.bundle import BUNDLE_TOP


def run(ctx: AppContext, bundle: Path, registry: str | None = None, dry_run: bool = False) -> int:
    settings, out = ctx.settings, ctx.out
    if registry is not None:
        if "://" in registry or not registry.strip("/") or " " in registry:
            raise InputError(f"--registry {registry}: expected HOST[:PORT][/PREFIX], e.g. harbor.example.internal/mirror")
        settings = replace(settings, image_mirror=registry.strip().rstrip("/"))
    elif not settings.images_mapped:
        raise InputError("unbundle: no registry to push to",
                         hint="give --registry HOST[:PORT][/PREFIX], or set images.mirror in chartkeeper.yaml")
    if not bundle.exists():
        raise InputError(f"unbundle {bundle}: no such bundle file or folder")
    with temp_folder("unbundle-", settings.cache_dir) as work:
        if bundle.is_dir():
            folder = next((f for f in (bundle / "images", bundle / BUNDLE_TOP / "images") if f.is_dir()), None)
            if folder is None:
                raise InputError(f"unbundle {bundle}: no images/ folder (a bundle made without --images?)")
            hashed: set[str] = set()
        else:
            out.info(f"unpacking and checking the images of {bundle.name}")
            folder = work / "images"
            hashed = extract_layout(bundle, BUNDLE_TOP, folder)
        blobs = verify(folder, hashed=hashed)
        plans = plan_push(folder, settings.image_mirror_of)
        nowhere = [p.image for p in plans if p.target.split("/", 1)[0] not in settings.image_site_hosts]
        if nowhere:  # the mapping would send them back to their upstream registry
            raise InputError(f"unbundle: no place on the site for {', '.join(nowhere)}: no images.rewrite prefix "
                             "matches and there is no images.mirror", hint="give --registry, or add images.mirror")
        out.info(f"{len(plans)} image(s), {len(blobs)} blob(s), {sum(b.size for b in blobs) / 1e6:.1f} MB checked; "
                 f"{'what would be pushed' if dry_run else 'pushing'}")
        stats = push_images(settings, folder, plans, out.info, dry_run=dry_run)
    images = [{"image": p.image, "target": p.target, "digest": p.descriptor["digest"]} for p in plans]
    if dry_run:
        if out.json_mode:
            out.emit_json({"dryRun": True, "images": images, "present": stats.present,
                           "toUpload": stats.to_upload})
        else:
            for p in plans:
                out.text(f"{p.image} -> {p.target}")
            out.info(f"would upload {len(stats.to_upload)} blob(s); {stats.present} already there")
        return EXIT_OK
    out.info(f"uploaded {stats.uploaded} blob(s) ({stats.uploaded_bytes / 1e6:.1f} MB), linked {stats.mounted}, "
             f"{stats.present} already there; {stats.manifests} manifest(s)")
    presence = check_images(settings, [p.target for p in plans])
    missing = [p.target for p in plans if presence[p.target].present is False]
    unknown = [presence[p.target] for p in plans if presence[p.target].present is None]
    if out.json_mode:
        out.emit_json({"images": [{**i, "present": presence[i["target"]].present} for i in images],
                       "uploaded": stats.uploaded, "uploadedBytes": stats.uploaded_bytes, "mounted": stats.mounted,
                       "alreadyPresent": stats.present, "missing": missing})
    else:
        for i in images:
            out.text(f"{i['image']} -> {i['target']}")
    for m in missing:
        out.err.print(f"error: {m}: still missing from the registry after the push", markup=False, style="red")
    for u in unknown:
        out.err.print(f"error: {u.image}: {u.error}", markup=False, style="red")
    if unknown:
        return EXIT_ERROR
    return EXIT_FINDINGS if missing else EXIT_OK
