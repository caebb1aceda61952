"""What a post-render kustomization says, as small immutable values.

A `Kustomization` is the ordered list of steps kustomize would run over the rendered chart:
legacy `patchesStrategicMerge`, then `patches`, then legacy `patchesJson6902`, then `images`
(the order kustomize v5 applies its built-in transformers in; checked against `kubectl kustomize`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

PatchKind = Literal["strategic", "json6902"]


@dataclass(frozen=True)
class Target:
    """A kustomize `target:` selector. Empty fields match everything; name/namespace are anchored regexes."""

    group: str | None = None
    version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    label_selector: str | None = None
    annotation_selector: str | None = None

    def describe(self) -> str:
        parts = []
        for label, value in (
            ("group", self.group),
            ("version", self.version),
            ("kind", self.kind),
            ("name", self.name),
            ("namespace", self.namespace),
            ("labelSelector", self.label_selector),
            ("annotationSelector", self.annotation_selector),
        ):
            if value:
                parts.append(f"{label}={value}")
        return ", ".join(parts) or "every resource"


@dataclass(frozen=True)
class Patch:
    """One patch document as kustomize applies it.

    `label` names it for people (`patches[0]`, `patchesStrategicMerge[1] (document 2)`); `file`/`line`
    point at where it is written (the patch file, or the kustomization file for inline patches).
    A strategic-merge patch holds one document in `body`; a JSON 6902 patch holds its list of ops,
    with the line of each op in `op_lines` where known.
    """

    label: str
    kind: PatchKind
    body: Any  # dict (strategic merge) or list of op dicts (JSON 6902); never mutated
    target: Target | None
    file: str
    line: int | None = None
    op_lines: tuple[int | None, ...] = ()
    allow_name_change: bool = False
    allow_kind_change: bool = False
    # where the `target:` selector is written (the kustomization entry), when there is one
    target_file: str | None = None
    target_line: int | None = None
    # line of each field of a strategic-merge document: ((key or index, ...), line)
    field_lines: tuple[tuple[tuple[Any, ...], int], ...] = field(default=(), compare=False, repr=False)

    def describe(self) -> str:
        kind = "strategic-merge patch" if self.kind == "strategic" else "JSON 6902 patch"
        return f"{self.label} ({kind}, {self.where()})"

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class ImageRule:
    """One `images:` entry."""

    label: str
    name: str
    new_name: str | None = None
    new_tag: str | None = None
    digest: str | None = None
    file: str = ""
    line: int | None = None

    def describe(self) -> str:
        to = []
        if self.new_name:
            to.append(f"newName={self.new_name}")
        if self.new_tag:
            to.append(f"newTag={self.new_tag}")
        if self.digest:
            to.append(f"digest={self.digest}")
        return f"{self.label} (image {self.name} -> {', '.join(to) or 'unchanged'}, {self.where()})"

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


Step = Patch | ImageRule


@dataclass(frozen=True)
class Kustomization:
    path: Path  # the kustomization file
    directory: Path
    steps: tuple[Step, ...]  # in the order kustomize applies them
    warnings: tuple[str, ...] = field(default=())
    raw: dict[str, Any] = field(default_factory=dict, compare=False)  # the parsed file, for the binary engine

    @property
    def patches(self) -> tuple[Patch, ...]:
        return tuple(s for s in self.steps if isinstance(s, Patch))

    @property
    def images(self) -> tuple[ImageRule, ...]:
        return tuple(s for s in self.steps if isinstance(s, ImageRule))
