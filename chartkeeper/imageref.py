"""Image references as container runtimes read them: `nginx` is `docker.io/library/nginx:latest`.

A shared leaf (the extractor, the registry check and the settings' mirror mapping all speak it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DEFAULT_REGISTRY = "docker.io"
_DOCKER_ALIASES = {"index.docker.io", "registry.hub.docker.com"}
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN = re.compile(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
# what a template leaves behind when a value is missing: Go's `<no value>`/`<nil>`, Python's None
_LEFTOVERS = ("{{", "}}", "<no value>", "<nil>", "%!")
_NULL_WORDS = {"none", "null", "nil", "undefined"}


class ReferenceError(ValueError):
    """Not a valid image reference; the message says why."""


@dataclass(frozen=True, order=True)
class ImageRef:
    """A normalised image reference: `registry/repository[:tag][@digest]`."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None
    implicit_tag: bool = False  # no tag was written: the runtime pulls `latest`

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What a registry looks the manifest up by: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse_reference(text: Any) -> ImageRef:
    """Normalise an image reference as container runtimes do; `ReferenceError` when it is not one."""
    if text is None:
        raise ReferenceError("empty")
    s = str(text).strip()
    if not s:
        raise ReferenceError("empty")
    if any(t in s for t in _LEFTOVERS):
        raise ReferenceError("template leftover")
    if any(c.isspace() for c in s):
        raise ReferenceError("contains spaces")
    name, at, digest = s.partition("@")
    if at:
        if not _DIGEST.fullmatch(digest):
            raise ReferenceError(f"malformed digest {digest!r}")
        algo, _, hexpart = digest.partition(":")
        if algo == "sha256" and not re.fullmatch(r"[a-f0-9]{64}", hexpart):
            raise ReferenceError("malformed sha256 digest")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag: str | None = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not tag:
            raise ReferenceError("empty tag")
        if tag.lower() in _NULL_WORDS:
            raise ReferenceError(f"tag {tag!r} (a value the template did not get)")
        if not _TAG.fullmatch(tag):
            raise ReferenceError(f"malformed tag {tag!r}")
    parts = name.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        registry, path = first, parts[1:]
        if not _DOMAIN.fullmatch(registry):
            raise ReferenceError(f"malformed registry {registry!r}")
    else:
        registry, path = DEFAULT_REGISTRY, parts
        if len(parts) == 1 and "." in first and not at:
            # `nvcr.io` or `nvcr.io:5000`: a registry host with the repository path missing
            raise ReferenceError("no repository path (a registry host alone)")
    if registry.lower() in _DOCKER_ALIASES:
        registry = DEFAULT_REGISTRY
    if not path or not any(path) or "" in path:
        raise ReferenceError("no repository path")
    if path[0].lower() in _NULL_WORDS and len(path) == 1:
        raise ReferenceError(f"repository {path[0]!r} (a value the template did not get)")
    for p in path:
        if not _PATH_COMPONENT.fullmatch(p):
            raise ReferenceError("repository must be lowercase letters, digits and . _ -" if p != p.lower()
                                 else f"malformed repository component {p!r}")
    if registry == DEFAULT_REGISTRY and len(path) == 1:
        path = ["library", path[0]]
    implicit = tag is None and not digest
    return ImageRef(registry, "/".join(path), "latest" if implicit else tag, digest or None, implicit)


def copy_pair(image: str, mirror: str) -> tuple[str, str]:
    """SOURCE and DESTINATION for `crane copy` / `skopeo copy`: pulled by digest when there is one; the
    destination keeps the tag (the copy preserves the digest), or the digest when there is no tag."""
    src, dst = parse_reference(image), parse_reference(mirror)
    source = f"{src.name}@{src.digest}" if src.digest else f"{src.name}:{src.tag}"
    dest = f"{dst.name}:{dst.tag}" if dst.tag and not dst.implicit_tag or not dst.digest else f"{dst.name}@{dst.digest}"
    return source, dest
