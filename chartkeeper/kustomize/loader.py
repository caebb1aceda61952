"""Read `patches/<chart>/kustomization.yaml` into a `Kustomization`.

Only what post-rendering a chart can mean is accepted. The rendered chart *is* the input, so
`resources:` entries that do not exist on disk (the usual `all.yaml` a post-renderer script writes)
are placeholders and ignored; anything that would add resources, rename them or relabel them
(namespace, prefixes, generators, ...) is refused, because chartkeeper's analysis would then
disagree with what gets deployed. Fields that only affect output order or metadata are ignored
with a warning. Errors name the file, the entry and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

from chartkeeper import yamlio
from chartkeeper.errors import InputError
from chartkeeper.kustomize.model import ImageRule, Kustomization, Patch, Step, Target
from chartkeeper.kustomize.positions import line_maps
from chartkeeper.kustomize.selectors import matches_selector

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

_JSON_OPS = {"add", "remove", "replace", "move", "copy", "test"}

# Fields that change what gets deployed beyond patching the rendered manifests: refused.
_REFUSED = {
    "namespace": "sets the namespace of every resource",
    "namePrefix": "renames every resource",
    "nameSuffix": "renames every resource",
    "commonLabels": "relabels every resource and selector",
    "labels": "relabels resources",
    "commonAnnotations": "annotates every resource",
    "replicas": "overrides replica counts",
    "configMapGenerator": "adds ConfigMaps",
    "secretGenerator": "adds Secrets",
    "generators": "runs generator plugins",
    "transformers": "runs transformer plugins",
    "replacements": "copies fields between resources",
    "vars": "substitutes variables",
    "helmCharts": "inflates further charts",
    "components": "pulls in components",
    "openapi": "changes the merge schema",
    "configurations": "changes transformer field specs",
    "crds": "changes the merge schema",
}
# Fields without effect on the patched manifests chartkeeper compares: ignored, with a warning.
_IGNORED = {
    "sortOptions": "only changes output order, which chartkeeper normalises",
    "buildMetadata": "only adds build annotations",
    "generatorOptions": "only applies to generators, which are not supported",
    "helmGlobals": "only applies to helmCharts, which are not supported",
    "validators": "validator plugins are not run",
}
_KNOWN = {"apiVersion", "kind", "metadata", "resources", "bases", "patches", "patchesStrategicMerge",
          "patchesJson6902", "images", "imageTags"}
_TARGET_FIELDS = {
    "group": "group",
    "version": "version",
    "kind": "kind",
    "name": "name",
    "namespace": "namespace",
    "labelSelector": "label_selector",
    "annotationSelector": "annotation_selector",
}
_UNSUPPORTED_DIRECTIVES = ("$retainKeys", "$setElementOrder/", "$deleteFromPrimitiveList/")


def find_kustomization(directory: Path) -> Path | None:
    """The kustomization file of `directory`, None when there is none; two of them is an error."""
    found = [directory / n for n in KUSTOMIZATION_NAMES if (directory / n).is_file()]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise InputError(f"{directory}: more than one kustomization file ({names}); keep one")
    return found[0] if found else None


class _Ctx:
    def __init__(self, directory: Path, root: Path | None) -> None:
        self.directory = directory
        self.root = root
        self.warnings: list[str] = []

    def show(self, path: Path) -> str:
        if self.root is not None:
            try:
                return str(path.resolve().relative_to(self.root.resolve()))
            except ValueError:
                pass
        return str(path)


def load_kustomization(directory: Path, *, root: Path | None = None) -> Kustomization:
    """Parse and check the kustomization in `directory`. `root` only shortens file names in messages."""
    directory = Path(directory)
    path = find_kustomization(directory)
    if path is None:
        raise InputError(f"{directory}: no kustomization.yaml (or kustomization.yml, Kustomization) found")
    ctx = _Ctx(directory, root)
    where = ctx.show(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: cannot read ({exc})") from None
    data = yamlio.loads(text, where)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{where}: a kustomization must be a mapping, not {_type(data)}")
    lines = (line_maps(text) or [{}])[0]

    kind = data.get("kind", "Kustomization")
    if kind != "Kustomization":
        raise InputError(f"{where}: kind is {kind!r}; only a Kustomization can post-render a chart")
    api = data.get("apiVersion")
    if api is not None and api not in ("kustomize.config.k8s.io/v1beta1", "kustomize.config.k8s.io/v1"):
        raise InputError(f"{where}: unknown apiVersion {api!r} (expected kustomize.config.k8s.io/v1beta1)")

    for key in data:
        if key in _REFUSED:
            raise InputError(
                f"{where}:{lines.get((key,), '?')}: `{key}` {_REFUSED[key]}, which chartkeeper cannot model for a "
                "post-rendered chart; set it through the chart's values or a patch instead"
            )
        if key in _IGNORED:
            ctx.warnings.append(f"{where}: `{key}` ignored: {_IGNORED[key]}")
        elif key not in _KNOWN:
            raise InputError(f"{where}:{lines.get((key,), '?')}: unknown kustomization field `{key}`")

    for key in ("resources", "bases"):
        _check_resources(data.get(key), key, ctx, where, lines)

    steps: list[Step] = []
    steps += _load_legacy_sm(data.get("patchesStrategicMerge"), ctx, where, lines)
    steps += _load_patches(data.get("patches"), ctx, where, lines)
    steps += _load_legacy_json(data.get("patchesJson6902"), ctx, where, lines)
    steps += _load_images(data, ctx, where, lines)
    return Kustomization(
        path=path, directory=directory, steps=tuple(steps), warnings=tuple(ctx.warnings), raw=data
    )


def _type(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string"}.get(type(v), type(v).__name__)


def _list(value: Any, key: str, where: str, lines: dict) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{where}:{lines.get((key,), '?')}: `{key}` must be a list, not {_type(value)}")
    return value


def _check_resources(value: Any, key: str, ctx: _Ctx, where: str, lines: dict) -> None:
    """A post-renderer lists the file it writes helm's output to; that one entry stands for the chart.

    With several entries, those that exist on disk would add resources of their own.
    """
    entries = _list(value, key, where, lines)
    for i, entry in enumerate(entries):
        at = f"{where}:{lines.get((key, i), '?')}"
        if not isinstance(entry, str):
            raise InputError(f"{at}: {key}[{i}] must be a file name")
        remote = "://" in entry or entry.startswith("git@")
        if remote or (len(entries) > 1 and (ctx.directory / entry).exists()):
            raise InputError(
                f"{at}: {key}[{i}] `{entry}` adds resources to the rendered chart; chartkeeper only supports "
                "patching it (put extra manifests in a chart)"
            )
        ctx.warnings.append(f"{where}: {key}[{i}] `{entry}` taken as the placeholder for the rendered chart")


def _read_patch_file(rel: Any, ctx: _Ctx, at: str, label: str) -> tuple[str, str]:
    """(text, display name) of a patch file, kept inside the kustomization folder as kustomize does."""
    if not isinstance(rel, str) or not rel:
        raise InputError(f"{at}: {label}.path must be a file name")
    path = ctx.directory / rel
    try:
        path.resolve().relative_to(ctx.directory.resolve())
    except ValueError:
        raise InputError(
            f"{at}: {label}.path `{rel}` is outside the kustomization folder (kustomize refuses it)"
        ) from None
    shown = ctx.show(path)
    if not path.is_file():
        raise InputError(f"{at}: {label}: patch file {shown} not found")
    try:
        return path.read_text(encoding="utf-8"), shown
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{shown}: cannot read ({exc})") from None


def _target(value: Any, at: str, label: str) -> Target | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InputError(f"{at}: {label}.target must be a mapping")
    kwargs: dict[str, str] = {}
    for key, v in value.items():
        if key not in _TARGET_FIELDS:
            raise InputError(f"{at}: {label}.target has unknown field `{key}`")
        if v is None or v == "":
            continue
        if not isinstance(v, str):
            raise InputError(f"{at}: {label}.target.{key} must be a string")
        if key in ("labelSelector", "annotationSelector"):
            try:
                matches_selector(v, {})
            except ValueError:
                raise InputError(f"{at}: {label}.target.{key} `{v}` is not a valid selector") from None
        kwargs[_TARGET_FIELDS[key]] = v
    return Target(**kwargs)


def _parse_patch(
    text: str, source: str, base_line: int | None, label: str, target: Target | None, *,
    json_only: bool = False, options: dict[str, bool] | None = None,
) -> list[Patch]:
    """Tell strategic merge from JSON 6902 like kustomize: a list of ops is JSON 6902, documents are SM.

    `base_line` is the line of the patch text's first line in `source` (1 for a file).
    """
    all_docs = yamlio.loads_all(text, source)
    all_maps = line_maps(text)
    kept = [k for k, d in enumerate(all_docs) if d is not None]
    docs = [all_docs[k] for k in kept]
    maps = [all_maps[k] if k < len(all_maps) else {} for k in kept]

    def line_of(doc: int, path: tuple = ()) -> int | None:
        if base_line is None:
            return None
        if doc < len(maps) and path in maps[doc]:
            return base_line + maps[doc][path] - 1
        return base_line

    at = f"{source}:{base_line}" if base_line else source
    if not docs:
        raise InputError(f"{at}: {label}: the patch is empty")
    options = options or {}
    if len(docs) == 1 and isinstance(docs[0], list):
        ops = docs[0]
        for i, op in enumerate(ops):
            _check_op(op, f"{source}:{line_of(0, (i,))}" if base_line else source, f"{label} op {i}")
        return [
            Patch(label=label, kind="json6902", body=ops, target=target, file=source, line=line_of(0),
                  op_lines=tuple(line_of(0, (i,)) for i in range(len(ops))))
        ]
    if json_only:
        raise InputError(f"{at}: {label}: patchesJson6902 needs a list of JSON 6902 operations")
    out = []
    for n, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise InputError(
                f"{at}: {label}: neither a strategic-merge patch (a mapping) nor a JSON 6902 patch (a list of ops)"
            )
        doc_at = f"{source}:{line_of(n)}" if base_line else source
        _check_sm(doc, doc_at, label, needs_id=target is None)
        out.append(
            Patch(
                label=label if len(docs) == 1 else f"{label} (document {n + 1})",
                kind="strategic", body=doc, target=target, file=source, line=line_of(n),
                allow_name_change=bool(options.get("allowNameChange")),
                allow_kind_change=bool(options.get("allowKindChange")),
                field_lines=tuple(
                    (path, base_line + ln - 1) for path, ln in (maps[n] if n < len(maps) else {}).items()
                ) if base_line is not None else (),
            )
        )
    return out


def _check_op(op: Any, at: str, label: str) -> None:
    if not isinstance(op, dict):
        raise InputError(f"{at}: {label}: a JSON 6902 operation must be a mapping")
    name = op.get("op")
    if name not in _JSON_OPS:
        raise InputError(f"{at}: {label}: unknown op {name!r} (expected one of {', '.join(sorted(_JSON_OPS))})")
    for key in ("path",) + (("from",) if name in ("move", "copy") else ()):
        p = op.get(key)
        if not isinstance(p, str) or (p and not p.startswith("/")):
            raise InputError(f"{at}: {label}: `{key}` must be a JSON pointer such as /spec/replicas")
    if name in ("add", "replace", "test") and "value" not in op:
        raise InputError(f"{at}: {label}: `{name}` needs a value")


def _check_sm(doc: dict, at: str, label: str, *, needs_id: bool) -> None:
    if needs_id:
        meta = doc.get("metadata")
        if not doc.get("kind") or not isinstance(meta, dict) or not meta.get("name"):
            raise InputError(
                f"{at}: {label}: a strategic-merge patch without a target needs kind and metadata.name"
            )

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and key.startswith("$"):
                    if key == "$patch":
                        if value not in ("replace", "delete", "merge"):
                            raise InputError(f"{at}: {label}: `$patch: {value}` at {path or '/'} is not a directive")
                        continue
                    hint = (
                        "kustomize does not apply it and copies it into the output as a field"
                        if key.startswith(_UNSUPPORTED_DIRECTIVES)
                        else "unknown directive"
                    )
                    raise InputError(
                        f"{at}: {label}: unsupported directive `{key}` at {path or '/'} ({hint}); "
                        "use `$patch: replace|delete` or a JSON 6902 patch"
                    )
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}/{i}")

    walk(doc, "")


@dataclass(frozen=True)
class _Entry:
    """One item of a kustomization list field, with where it is written for error messages."""

    value: Any
    label: str  # "patches[2]"
    line: int | None  # the item's line
    patch_line: int | None  # the line of its inline `patch:`, when it has one
    at: str  # "kustomization.yaml:12"


def _entries(value: Any, key: str, where: str, lines: dict) -> Iterator[_Entry]:
    for i, entry in enumerate(_list(value, key, where, lines)):
        line = lines.get((key, i))
        yield _Entry(entry, f"{key}[{i}]", line, lines.get((key, i, "patch")), f"{where}:{line or '?'}")


def _mapping_fields(e: _Entry, allowed: tuple[str, ...], shape: str) -> None:
    """The item is a mapping (`shape` says of what) with no field kustomize does not know."""
    if not isinstance(e.value, dict):
        raise InputError(f"{e.at}: {e.label} must be a mapping with {shape}")
    for key in e.value:
        if key not in allowed:
            raise InputError(f"{e.at}: {e.label} has unknown field `{key}`")


def _patch_or_path(e: _Entry) -> bool:
    """True for `path:`, False for an inline `patch:`; exactly one of them must be there."""
    has_patch, has_path = e.value.get("patch") not in (None, ""), e.value.get("path") not in (None, "")
    if has_patch == has_path:
        raise InputError(f"{e.at}: {e.label} needs exactly one of `patch:` and `path:`")
    return has_path


def _load_patches(value: Any, ctx: _Ctx, where: str, lines: dict) -> list[Patch]:
    out: list[Patch] = []
    for e in _entries(value, "patches", where, lines):
        entry, label, line, patch_line, at = e.value, e.label, e.line, e.patch_line, e.at
        _mapping_fields(e, ("patch", "path", "target", "options"), "`patch:` or `path:`")
        has_path = _patch_or_path(e)
        options = entry.get("options") or {}
        if not isinstance(options, dict) or any(k not in ("allowNameChange", "allowKindChange") for k in options):
            raise InputError(f"{at}: {label}.options accepts allowNameChange and allowKindChange only")
        target = _target(entry.get("target"), at, label)
        if has_path:
            text, shown = _read_patch_file(entry["path"], ctx, at, label)
            parsed = _parse_patch(text, shown, 1, label, target, options=options)
        else:
            if not isinstance(entry["patch"], str):
                raise InputError(f"{at}: {label}.patch must be a string (use `patch: |-`)")
            parsed = _parse_patch(entry["patch"], where, patch_line or line, label, target, options=options)
        if target is not None and len(parsed) > 1:
            raise InputError(
                f"{at}: {label} holds {len(parsed)} strategic-merge documents and a `target:`; kustomize "
                "refuses that (split it into one entry per document)"
            )
        out += [replace(p, target_file=where, target_line=line) if target else p for p in parsed]
        if target is None and parsed[-1].kind == "json6902":
            raise InputError(f"{at}: {label} is a JSON 6902 patch and needs a `target:` (kustomize refuses it)")
    return out


def _load_legacy_sm(value: Any, ctx: _Ctx, where: str, lines: dict) -> list[Patch]:
    out: list[Patch] = []
    for e in _entries(value, "patchesStrategicMerge", where, lines):
        entry, label, line, at = e.value, e.label, e.line, e.at
        if not isinstance(entry, str) or not entry.strip():
            raise InputError(f"{at}: {label} must be a file name or an inline patch")
        # kustomize first tries the string as an inline patch, then as a file name
        inline = "\n" in entry.strip() or isinstance(yamlio.loads(entry, where), dict)
        if inline:
            patches = _parse_patch(entry, where, line, label, None)
        else:
            text, shown = _read_patch_file(entry, ctx, at, label)
            patches = _parse_patch(text, shown, 1, label, None)
        for p in patches:
            if p.kind != "strategic":
                raise InputError(f"{p.where()}: {label}: patchesStrategicMerge holds strategic-merge patches only")
        out += patches
    return out


def _load_legacy_json(value: Any, ctx: _Ctx, where: str, lines: dict) -> list[Patch]:
    out: list[Patch] = []
    for e in _entries(value, "patchesJson6902", where, lines):
        entry, label, line, patch_line, at = e.value, e.label, e.line, e.patch_line, e.at
        _mapping_fields(e, ("patch", "path", "target"), "`target:` and `path:` or `patch:`")
        target = _target(entry.get("target"), at, label)
        if target is None:
            raise InputError(f"{at}: {label} needs a `target:`")
        if _patch_or_path(e):
            text, shown = _read_patch_file(entry["path"], ctx, at, label)
            parsed = _parse_patch(text, shown, 1, label, target, json_only=True)
        else:
            if not isinstance(entry["patch"], str):
                raise InputError(f"{at}: {label}.patch must be a string")
            parsed = _parse_patch(entry["patch"], where, patch_line or line, label, target, json_only=True)
        out += [replace(p, target_file=where, target_line=line) for p in parsed]
    return out


def _load_images(data: dict, ctx: _Ctx, where: str, lines: dict) -> list[ImageRule]:
    out: list[ImageRule] = []
    for key in ("images", "imageTags"):  # imageTags is the pre-v3 name kustomize still reads
        for e in _entries(data.get(key), key, where, lines):
            entry, label, line, at = e.value, e.label, e.line, e.at
            _mapping_fields(e, ("name", "newName", "newTag", "digest"), "`name:`")
            fields: dict[str, str] = {}
            for field_name, v in entry.items():
                if v is None or v == "":
                    continue
                if not isinstance(v, str):
                    raise InputError(
                        f"{at}: {label}.{field_name} must be a string; quote it (kustomize refuses "
                        f"{type(v).__name__} values)"
                    )
                fields[field_name] = v
            if "name" not in fields:
                raise InputError(f"{at}: {label} needs a `name:`")
            out.append(
                ImageRule(
                    label=label, name=fields["name"], new_name=fields.get("newName"),
                    new_tag=fields.get("newTag"), digest=fields.get("digest"), file=where, line=line,
                )
            )
    return out
