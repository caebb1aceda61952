"""kustomize's `images:` transformer.

kustomize rewrites the `image` of every element of any `containers` or `initContainers` list at
any depth (so Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod, ReplicaSet and custom
resources that embed pod specs), except inside CustomResourceDefinitions; `ephemeralContainers`
are left alone. An entry's `name` is matched (as a regular expression, as kustomize does) against
the image reference without its tag and digest. A new tag drops the old digest and the other way
round; both set both.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from chartkeeper.kustomize.model import ImageRule

_FIELDS = ("containers", "initContainers")


def split_image(ref: str) -> tuple[str, str, str]:
    """(name, tag, digest) of an image reference; a registry port is not a tag."""
    slash = ref.find("/")
    search = ref[slash:] if slash > 0 else ref
    offset = slash if slash > 0 else 0
    at = search.find("@")
    colon = search.find(":")
    if colon < 0 and at < 0:
        return ref, "", ""
    if at >= 0 and (at < colon or colon < 0):
        return ref[: at + offset], "", ref[at + offset + 1 :]
    if at >= 0 and colon >= 0:
        return ref[: colon + offset], ref[colon + offset + 1 : at + offset], ref[at + offset + 1 :]
    return ref[: colon + offset], ref[colon + offset + 1 :], ""


@lru_cache(maxsize=256)
def _name_pattern(name: str) -> re.Pattern[str]:
    try:
        return re.compile(f"^(?:{name})$")
    except re.error:
        return re.compile(f"^{re.escape(name)}$")


def image_matches(ref: str, name: str) -> bool:
    return bool(_name_pattern(name).match(split_image(ref)[0]))


def rewrite(ref: str, rule: ImageRule) -> str:
    name, tag, digest = split_image(ref)
    if rule.new_name:
        name = rule.new_name
    if rule.new_tag and rule.digest:
        tag, digest = rule.new_tag, rule.digest
    elif rule.new_tag:
        tag, digest = rule.new_tag, ""
    elif rule.digest:
        tag, digest = "", rule.digest
    out = name
    if tag:
        out += ":" + tag
    if digest:
        out += "@" + digest
    return out


def apply_image_rule(manifest: dict[str, Any], rule: ImageRule) -> tuple[bool, bool]:
    """Rewrite matching images in place. Returns (some image matched, some image changed)."""
    if manifest.get("kind") == "CustomResourceDefinition":
        return False, False
    state = [False, False]

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                visit(value)
                if key in _FIELDS and isinstance(value, list):
                    for item in value:
                        if isinstance(item, dict) and isinstance(item.get("image"), str):
                            if image_matches(item["image"], rule.name):
                                state[0] = True
                                new = rewrite(item["image"], rule)
                                if new != item["image"]:
                                    item["image"] = new
                                    state[1] = True
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(manifest)
    return state[0], state[1]


def iter_images(manifest: dict[str, Any]) -> list[str]:
    """Every image the transformer would look at in one manifest, in document order."""
    found: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                visit(value)
                if key in _FIELDS and isinstance(value, list):
                    found.extend(
                        i["image"] for i in value if isinstance(i, dict) and isinstance(i.get("image"), str)
                    )
        elif isinstance(node, list):
            for item in node:
                visit(item)

    if manifest.get("kind") != "CustomResourceDefinition":
        visit(manifest)
    return found
