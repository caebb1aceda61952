"""The images part of the upgrade report: new and dropped images per environment with what pulls each, where
the site keeps each new one, and (when the site's registry was asked) whether it is there.

Kept apart from `report.py` so the report's layout can place it where it fits. Takes the `UpgradeReport`
(duck-typed: `releases`, `image_checks`, `images_checked`, `images_to_mirror`).
"""

from __future__ import annotations

from typing import Any

from chartkeeper import mdsafe
from chartkeeper.imageref import copy_pair

MAX_ROWS = 40  # the Markdown report has a size budget; images.txt and the JSON report hold every image


def _entries(report: Any, which: str) -> list[dict[str, Any]]:
    """One entry per image, in the shape of `chartkeeper images --json`."""
    checks = {c.image: c for c in getattr(report, "image_checks", ())}
    acc: dict[str, dict[str, list[str]]] = {}
    for r in report.releases:
        if r.images is None:
            continue
        for img in getattr(r.images, which):
            a = acc.setdefault(img, {"releases": [], "environments": [], "sources": []})
            for key, val in (("releases", f"{r.env}/{r.namespace}/{r.release}"), ("environments", r.env)):
                if val not in a[key]:
                    a[key].append(val)
            for s in r.images.sources_of(img):
                if s not in a["sources"]:
                    a["sources"].append(s)
    out = []
    for img, a in sorted(acc.items()):
        c = checks.get(img)
        entry: dict[str, Any] = {"image": img, "mirror": c.mirror if c else img,
                                 "present": c.present if c else None, **a}
        if c is not None and c.error:
            entry["error"] = c.error
        out.append(entry)
    return out


def images_json(report: Any) -> dict[str, Any]:
    return {"checked": bool(getattr(report, "images_checked", False)),
            "new": _entries(report, "to_mirror"), "dropped": _entries(report, "dropped")}


def images_markdown(report: Any) -> str:
    """`## Images to mirror`: the table of new images and the copy list."""
    new = _entries(report, "to_mirror")
    checked = bool(getattr(report, "images_checked", False))
    lines = ["## Images to mirror\n", "Images NEW pulls that OLD did not: the air-gapped registry needs them before the deploy.\n"]
    if not new:
        lines.append("None: every image NEW uses is already used by OLD.\n")
        return "\n".join(lines) + "\n"
    mapped = any(e["mirror"] != e["image"] for e in new)
    head = ["Image"] + (["On the site"] if mapped else []) + (["Present"] if checked else []) + ["Environments", "Pulled by"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for e in new[:MAX_ROWS]:
        row = [mdsafe.code(e["image"])] + ([mdsafe.code(e["mirror"])] if mapped else [])
        if checked:
            row.append("yes" if e["present"] else "🔴 **missing**" if e["present"] is False else f"unknown ({mdsafe.text(e.get('error', ''))})")
        row += [mdsafe.text(", ".join(e["environments"])), "<br>".join(mdsafe.code(s) for s in e["sources"])]
        lines.append("| " + " | ".join(row) + " |")
    if len(new) > MAX_ROWS:
        lines.append(f"| … {len(new) - MAX_ROWS} more in the report's `.images.txt` and the JSON report |" + " |" * (len(head) - 1))
    lines.append("")
    todo = [e for e in new if not (checked and e["present"])]
    if todo:
        lines.append("Copy these into the air-gapped registry before deploying (the images are also written as "
                     "the report's `.images.txt`; " + ("`SOURCE DESTINATION` for `crane copy`):\n" if mapped else
                     "one source image a line: `images:` in chartkeeper.yaml adds where each goes, for `crane copy`):\n"))
        lines.append(mdsafe.fence("\n".join(" ".join(copy_pair(e["image"], e["mirror"])) if mapped else e["image"]
                                             for e in todo), "text") + "\n")
    else:
        lines.append("Every new image is already in the site's registry.\n")
    return "\n".join(lines) + "\n"
