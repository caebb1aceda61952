"""The one image extractor: every image a release pulls, read from its rendered (and post-rendered) objects.

Used by `chartkeeper images`, `diff` and `bump`. Two kinds of places hold images:

* pod specs: `containers`, `initContainers`, `ephemeralContainers` (and `volumes[].image.reference`) of
  every workload kind, and of pod templates nested at any depth in custom resources;
* custom resources that spell an image in parts, as operators and charts do: `repository` + `image` +
  `version` (NVIDIA ClusterPolicy/NVIDIADriver), `registry` + `repository` + `tag` (Bitnami),
  `repository` + `tag`, `image: {repository, tag}`, `image` + `tag`, a digest in any of them, and a
  plain `image:` string.

A component a custom resource marks `enabled: false` pulls nothing; its images are kept apart
(`Extraction.disabled`) so `--all-components` can still show them. References are normalised the way
container runtimes read them (`nginx` -> `docker.io/library/nginx:latest`); what does not parse is never
an image but an `InvalidImage` naming the resource and field.

Nothing here reads ConfigMaps or Secrets: images a program builds at run time from configuration are out of
sight (docs/images.md says so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Mapping

from chartkeeper.findings import Finding, Severity
from chartkeeper.imageref import ImageRef, ReferenceError, copy_pair, parse_reference

__all__ = ["Extraction", "FoundImage", "ImageChanges", "ImageCheck", "mirror_findings", "ImageRef", "InvalidImage", "ReferenceError", "extract",
           "image_changes", "image_findings", "invalid_findings", "parse_reference"]

# kinds that never pull an image (skipped whole: quick, and no false positives from their data)
_NO_IMAGE_KINDS = frozenset({
    "ConfigMap", "Secret", "CustomResourceDefinition", "Service", "ServiceAccount", "Role", "RoleBinding",
    "ClusterRole", "ClusterRoleBinding", "Namespace", "Endpoints", "EndpointSlice", "NetworkPolicy", "Ingress",
    "IngressClass", "PersistentVolumeClaim", "PersistentVolume", "StorageClass", "PriorityClass",
    "PodDisruptionBudget", "HorizontalPodAutoscaler", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "APIService", "LimitRange", "ResourceQuota", "Lease", "RuntimeClass",
    "CSIDriver", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
})
# where each workload kind keeps its pod spec (the source then names only the container)
_POD_SPEC_PATHS = {
    "Pod": "spec",
    "Deployment": "spec.template.spec",
    "StatefulSet": "spec.template.spec",
    "DaemonSet": "spec.template.spec",
    "ReplicaSet": "spec.template.spec",
    "ReplicationController": "spec.template.spec",
    "Job": "spec.template.spec",
    "CronJob": "spec.jobTemplate.spec.template.spec",
    "PodTemplate": "template.spec",
}
_CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")
# operator containers that name the images they start: env `RELATED_IMAGE_X`, `X_IMAGE`; `--x-image=ref`
_RUNTIME_ENV = re.compile(r"(?i)^related_image_|_image$|^image_[a-z0-9_]+$")
_RUNTIME_ARG = re.compile(r"--?([A-Za-z0-9][\w.-]*(?:image|reloader)[\w.-]*)=(\S+)", re.I)
# the GPU Operator appends `-<node OS>` to these driver tags (resolveDriverTag) unless pinned by digest
_DRIVER_SPECS = {("ClusterPolicy", "spec.driver"), ("NVIDIADriver", "spec")}


@dataclass(frozen=True)
class FoundImage:
    image: str  # normalised reference
    source: str  # "Deployment/gpu-operator containers[gpu-operator]", "ClusterPolicy/cluster-policy spec.driver"
    written: str  # as rendered
    enabled: bool = True  # False: a component its custom resource marks `enabled: false`
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class InvalidImage:
    resource: str  # "Deployment/web"
    field: str  # "containers[web].image", "spec.gds"
    value: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"resource": self.resource, "field": self.field, "value": self.value, "reason": self.reason}


@dataclass(frozen=True)
class Extraction:
    images: tuple[FoundImage, ...] = ()  # what the release pulls
    disabled: tuple[FoundImage, ...] = ()  # named by components marked `enabled: false`
    invalid: tuple[InvalidImage, ...] = ()

    def refs(self, *, all_components: bool = False) -> tuple[str, ...]:
        found = self.images + (self.disabled if all_components else ())
        return tuple(sorted({i.image for i in found}))

    def sources(self, *, all_components: bool = False) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for i in self.images + (self.disabled if all_components else ()):
            lst = out.setdefault(i.image, [])
            if i.source not in lst:
                lst.append(i.source)
        return {k: tuple(v) for k, v in sorted(out.items())}


def _scalar(v: Any) -> str | None:
    """A part of a reference as the template wrote it; None when absent."""
    if v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, bool):
        return str(v).lower()
    return str(v).strip()


def _disabled(node: Mapping[str, Any]) -> bool:
    v = node.get("enabled")
    return v is False or (isinstance(v, str) and v.strip().lower() == "false")


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


class _Walker:
    def __init__(self, kind: str, name: str, os_suffixes: tuple[str, ...]) -> None:
        self.resource = f"{kind}/{name}"
        self.kind = kind
        self.os_suffixes = os_suffixes
        self.found: list[FoundImage] = []
        self.invalid: list[InvalidImage] = []

    def add(self, written: str, source: str, field_name: str, enabled: bool, notes: tuple[str, ...] = ()) -> None:
        try:
            ref = parse_reference(written)
        except ReferenceError as exc:
            self.invalid.append(InvalidImage(self.resource, field_name, str(written), str(exc)))
            return
        if ref.implicit_tag:
            notes += ("no tag: the runtime pulls `latest`, which moves",)
        self.found.append(FoundImage(str(ref), f"{self.resource} {source}", str(written), enabled, notes))

    # -- pod specs --------------------------------------------------------------------------

    def pod_spec(self, spec: Mapping[str, Any], path: str, standard: bool, enabled: bool) -> None:
        where = "" if standard else f"{path} "
        for fld in _CONTAINER_FIELDS:
            items = spec.get(fld)
            if not isinstance(items, list):
                continue
            for i, c in enumerate(items):
                if not isinstance(c, dict):
                    continue
                label = f"{fld}[{c.get('name') if c.get('name') is not None else i}]"
                if "image" not in c:
                    continue
                img = c.get("image")
                if isinstance(img, (dict, list)):
                    self.invalid.append(InvalidImage(self.resource, f"{where}{label}.image", str(img), "not a string"))
                    continue
                self.add("" if img is None else str(img), f"{where}{label}", f"{where}{label}.image", enabled)
                self.runtime_images(c, f"{where}{label}", enabled)
        vols = spec.get("volumes")
        if isinstance(vols, list):  # image volumes (Kubernetes 1.31+): the kubelet pulls them too
            for v in vols:
                if isinstance(v, dict) and isinstance(v.get("image"), dict) and "reference" in v["image"]:
                    label = f"volumes[{v.get('name')}]"
                    self.add(str(v["image"].get("reference") or ""), f"{where}{label}", f"{where}{label}.image.reference", enabled)

    def runtime_images(self, container: Mapping[str, Any], label: str, enabled: bool) -> None:
        """Images an operator starts at run time, named in its container's environment (`RELATED_IMAGE_*`,
        `*_IMAGE`, the OLM convention) or arguments (`--*image*=`, `--prometheus-config-reloader=`).
        Only values that are unmistakably references (a path and a tag or digest) count."""
        env = container.get("env")
        if isinstance(env, list):
            for e in env:
                if isinstance(e, dict) and isinstance(e.get("value"), str) and _RUNTIME_ENV.search(str(e.get("name") or "")):
                    self.runtime(e["value"], f"{label} env[{e.get('name')}]", enabled)
        for field_name in ("args", "command"):
            items = container.get(field_name)
            if isinstance(items, list):
                for a in items:
                    m = _RUNTIME_ARG.fullmatch(a.strip()) if isinstance(a, str) else None
                    if m:
                        self.runtime(m.group(2), f"{label} {field_name}[--{m.group(1)}]", enabled)

    def runtime(self, value: str, source: str, enabled: bool) -> None:
        try:
            ref = parse_reference(value)
        except ReferenceError:
            return  # a setting that merely mentions an image; not one we can tell is pulled
        if ref.implicit_tag or "/" not in value:
            return
        self.found.append(FoundImage(str(ref), f"{self.resource} {source}", value, enabled,
                                     ("started by the operator at run time (named in its container spec)",)))

    # -- custom resources -------------------------------------------------------------------

    def walk(self, node: Any, path: str, enabled: bool, depth: int = 0) -> None:
        if depth > 40:
            return
        if isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, (dict, list)):
                    self.walk(v, f"{path}[{i}]", enabled, depth + 1)
            return
        if not isinstance(node, dict):
            return
        if _disabled(node):
            enabled = False
        if any(isinstance(node.get(f), list) for f in _CONTAINER_FIELDS):
            self.pod_spec(node, path, False, enabled)
            return
        consumed = self.parts(node, path, enabled)
        for k, v in node.items():
            if k in consumed or not isinstance(v, (dict, list)):
                continue
            self.walk(v, _join(path, k), enabled, depth + 1)

    def parts(self, node: Mapping[str, Any], path: str, enabled: bool) -> set[str]:
        """Recognise an image spelled in parts at this node; return the keys it used."""
        repo, image, version = _scalar(node.get("repository")), _scalar(node.get("image")), _scalar(node.get("version"))
        registry, tag, digest = _scalar(node.get("registry")), _scalar(node.get("tag")), _scalar(node.get("digest"))
        here = path or "(top level)"
        if "repository" in node and "image" in node and "version" in node and not isinstance(node.get("image"), dict):
            # NVIDIA ImagePath: repository/image:version, `@` when the version is a digest; image alone
            # when repository and version are both empty
            if not repo and not version:
                written = image or ""
            else:
                sep = "@" if (version or "").startswith("sha256:") else ":"
                written = f"{repo or ''}/{image or ''}{sep}{version or ''}"
            self.cr_image(written, path, here, enabled, node)
            return {"repository", "image", "version"}
        if "repository" in node and ("tag" in node or "digest" in node) and not isinstance(node.get("repository"), dict):
            # Bitnami and most charts: [registry/]repository[:tag], a digest wins over the tag
            base = f"{registry}/{repo}" if registry else (repo or "")
            written = f"{base}@{digest}" if digest else f"{base}:{tag if tag is not None else ''}"
            self.cr_image(written, path, here, enabled, node)
            return {"registry", "repository", "tag", "digest"}
        if isinstance(node.get("image"), str) or ("image" in node and node.get("image") is None):
            img = image or ""
            name_part = img.rsplit("/", 1)[-1]
            if ("tag" in node or "digest" in node) and ":" not in name_part and "@" not in img:
                written = f"{img}@{digest}" if digest else f"{img}:{tag if tag is not None else ''}"
                used = {"image", "tag", "digest"}
            else:
                written, used = img, {"image"}
            self.cr_image(written, _join(path, "image") if used == {"image"} else path,
                          _join(here, "image") if used == {"image"} else here, enabled, node)
            return used
        return set()

    def cr_image(self, written: str, path: str, here: str, enabled: bool, node: Mapping[str, Any]) -> None:
        if (self.kind, path) in _DRIVER_SPECS:
            ref = None
            try:
                ref = parse_reference(written)
            except ReferenceError:
                pass
            if ref is not None and not ref.digest and not ref.implicit_tag:
                rendered = f"the GPU Operator appends the node's OS to the driver tag (rendered: {ref})"
                if node.get("usePrecompiled") in (True, "true"):
                    rendered += "; precompiled drivers add the kernel version too"
                if self.os_suffixes:
                    for sfx in self.os_suffixes:
                        self.add(f"{written}-{sfx}", here, here, enabled, (rendered,))
                    return
                self.add(written, here, here, enabled,
                         (rendered + "; the pull is `<tag>-<os>`: list the OSes in images.driverOsSuffixes",))
                return
        self.add(written, here, here, enabled)


def extract_object(obj: Mapping[str, Any], *, os_suffixes: Iterable[str] = ()) -> tuple[list[FoundImage], list[InvalidImage]]:
    kind = str(obj.get("kind") or "")
    if not kind or kind in _NO_IMAGE_KINDS:
        return [], []
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    w = _Walker(kind, str(meta.get("name") or "?"), tuple(os_suffixes))
    std = _POD_SPEC_PATHS.get(kind)
    if std is not None:
        node: Any = obj
        for part in std.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            w.pod_spec(node, std, True, True)
        return w.found, w.invalid
    w.walk({k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind", "status")}, "", True)
    return w.found, w.invalid


def extract(objs: Iterable[Mapping[str, Any]], *, os_suffixes: Iterable[str] = ()) -> Extraction:
    """Every image the objects pull, the ones disabled components name, and the invalid references."""
    suffixes = tuple(os_suffixes)
    found: list[FoundImage] = []
    invalid: list[InvalidImage] = []
    for o in objs:
        if isinstance(o, dict):
            f, i = extract_object(o, os_suffixes=suffixes)
            found += f
            invalid += i
    return Extraction(tuple(f for f in found if f.enabled), tuple(f for f in found if not f.enabled), tuple(invalid))


def invalid_findings(invalid: Iterable[InvalidImage], *, env: str | None,
                     old_invalid: Iterable[InvalidImage] = ()) -> list[Finding]:
    """`old_invalid`: what OLD renders wrong; the same value in the same field is not the upgrade's doing."""
    before = {(b.resource, b.field, b.value) for b in old_invalid}
    out: list[Finding] = []
    for bad in invalid:
        out.append(Finding("images.invalid", Severity.REVIEW,
                           f"{bad.resource} {bad.field}: {bad.value!r} is not an image reference ({bad.reason})",
                           path=f"{bad.resource} {bad.field}", env=env,
                           introduced=(bad.resource, bad.field, bad.value) not in before))
    return out


# -- upgrades: what OLD and NEW pull ------------------------------------------------------------


@dataclass(frozen=True)
class ImageChanges:
    old: tuple[str, ...]
    new: tuple[str, ...]
    sources: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())  # image -> what pulls it (NEW, else OLD)

    @property
    def to_mirror(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.new) - set(self.old)))

    @property
    def dropped(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.old) - set(self.new)))

    def sources_of(self, image: str) -> tuple[str, ...]:
        return self._sources_by_image.get(image, ())

    @cached_property
    def _sources_by_image(self) -> dict[str, tuple[str, ...]]:  # built once, not per image asked
        return dict(self.sources)


def image_changes(old: Extraction, new: Extraction) -> ImageChanges:
    srcs = dict(old.sources())
    srcs.update(new.sources())
    return ImageChanges(old.refs(), new.refs(), tuple(sorted(srcs.items())))


def image_findings(ic: ImageChanges, *, env: str | None) -> list[Finding]:
    out: list[Finding] = []
    if ic.to_mirror:
        out.append(Finding("images.new", Severity.REVIEW,
                           f"{len(ic.to_mirror)} new image(s) to mirror into the air-gapped registry before deploying",
                           env=env, details=(("images", list(ic.to_mirror)),
                                             ("sources", {i: list(ic.sources_of(i)) for i in ic.to_mirror}))))
    if ic.dropped:
        out.append(Finding("images.dropped", Severity.INFO, f"{len(ic.dropped)} image(s) no longer used",
                           env=env, details=(("images", list(ic.dropped)),
                                             ("sources", {i: list(ic.sources_of(i)) for i in ic.dropped}))))
    return out


# -- the site's registry: are the new images there? ------------------------------------------------


@dataclass(frozen=True)
class ImageCheck:
    """A new image of an upgrade, where the site keeps it, and whether the site's registry has it."""

    image: str
    mirror: str
    present: bool | None = None  # None: not checked, or the registry could not tell (`error`)
    error: str | None = None


def mirror_findings(checks: Iterable[ImageCheck], sources: Mapping[str, Iterable[str]],
                    envs: Mapping[str, Iterable[str]]) -> list[Finding]:
    """`images.missing-from-mirror` (breaking) naming the copy to make; `images.check-failed` (review)."""
    out: list[Finding] = []
    for c in checks:
        details: tuple[tuple[str, Any], ...] = (("sources", list(sources.get(c.image, ()))),
                                                ("environments", list(envs.get(c.image, ()))))
        if c.present is False:
            src, dst = copy_pair(c.image, c.mirror)
            out.append(Finding("images.missing-from-mirror", Severity.BREAKING,
                               f"{c.image} is not in the site's registry: copy it to {dst} before deploying",
                               path=c.image, suggestion=f"crane copy {src} {dst}",
                               details=(("mirror", c.mirror), ("copy", f"{src} {dst}")) + details))
        elif c.present is None and c.error:
            out.append(Finding("images.check-failed", Severity.REVIEW,
                               f"{c.mirror}: the site's registry could not tell whether it holds {c.image} ({c.error})",
                               path=c.image, details=(("mirror", c.mirror),) + details))
    return out
