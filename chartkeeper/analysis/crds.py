"""CustomResourceDefinition changes between OLD and NEW.

Helm installs the files under `crds/` on first install only and never upgrades or deletes them, so a
changed CRD from `crds/` needs a manual step before `helmfile apply`. CRDs rendered from templates are
upgraded by Helm like any resource, but their schema changes still matter to the custom resources we
create (new required fields, a version no longer served).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Iterable

from chartkeeper.analysis.crd_schema import SchemaIndex, parent_of, renamed_fields
from chartkeeper.findings import Finding, Severity
from chartkeeper.helm.render import RenderedManifest


@dataclass(frozen=True)
class CrdChange:
    name: str
    source: str  # template or crds/ file in NEW (OLD when removed)
    from_crds_dir: bool
    change: str  # "added" | "removed" | "changed"
    versions_added: tuple[str, ...] = ()
    versions_removed: tuple[str, ...] = ()
    served_changes: tuple[str, ...] = ()  # "v1beta1: served true -> false"
    storage_old: str | None = None
    storage_new: str | None = None
    new_required: tuple[str, ...] = ()  # "v1: spec.foo": required now, under a parent OLD's schema has
    served_old: tuple[str, ...] = ()  # versions OLD serves
    served_new: tuple[str, ...] = ()
    # required fields that constrain nothing that exists today: inside an object NEW adds (optional unless
    # itself in new_required), or under `status`, which the controller writes, not us
    new_required_nested: tuple[str, ...] = ()
    renamed: tuple[str, ...] = ()  # "v1: spec.old -> spec.new"

    @property
    def storage_version_moved(self) -> str | None:
        """OLD's storage version when NEW stores at another one and still serves the old one: objects stay
        stored at it until re-written, and a later upgrade that stops serving it needs them moved first."""
        if self.change != "changed" or not self.storage_old or not self.storage_new or self.storage_old == self.storage_new:
            return None
        return None if self.storage_version_removed else self.storage_old

    @property
    def storage_version_removed(self) -> str | None:
        """OLD's storage version when NEW removes it or stops serving it.

        Objects already stored at that version stay stored at it (`status.storedVersions`): the API server
        refuses a CRD that drops a version still listed there, so the objects must be migrated first.
        """
        if self.change != "changed" or not self.storage_old or self.storage_old == self.storage_new:
            return None
        if self.storage_old in self.versions_removed or self.storage_old not in self.served_new:
            return self.storage_old
        return None


def _crds(manifests: Iterable[RenderedManifest]) -> dict[str, RenderedManifest]:
    out: dict[str, RenderedManifest] = {}
    for m in manifests:
        if m.obj.get("kind") == "CustomResourceDefinition":
            name = str((m.obj.get("metadata") or {}).get("name") or "")
            if name:
                out[name] = m
    return out


def versions_of(crd: Any) -> dict[str, dict[str, Any]]:
    """A CRD's version entries by name (apiextensions v1beta1's single version made one)."""
    spec = crd.get("spec") if isinstance(crd, dict) else None
    if not isinstance(spec, dict):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for v in spec.get("versions") or []:
        if isinstance(v, dict) and v.get("name"):
            out[str(v["name"])] = v
    if not out and spec.get("version"):  # apiextensions v1beta1 single-version form
        out[str(spec["version"])] = {"name": spec["version"], "served": True, "storage": True,
                                     "schema": {"openAPIV3Schema": (spec.get("validation") or {}).get("openAPIV3Schema")}}
    return out


def schema_of(version: Any) -> Any:
    """The openAPIV3Schema of one version entry, or None."""
    schema = version.get("schema") if isinstance(version, dict) else None
    return schema.get("openAPIV3Schema") if isinstance(schema, dict) else None


def _storage(vs: dict[str, dict[str, Any]]) -> str | None:
    for n, v in vs.items():
        if v.get("storage"):
            return n
    return None


def crd_changes(old: Iterable[RenderedManifest], new: Iterable[RenderedManifest],
                skip: Collection[str] = ()) -> list[CrdChange]:
    """What NEW changes in each CRD; those named in `skip` (already analysed for another environment) are
    left out."""
    a, b = _crds(old), _crds(new)
    out: list[CrdChange] = []
    for name in sorted((set(a) | set(b)) - set(skip)):
        if name not in a:
            m = b[name]
            out.append(CrdChange(name, m.source, m.is_crd_file, "added", versions_added=tuple(sorted(versions_of(m.obj)))))
            continue
        if name not in b:
            m = a[name]
            out.append(CrdChange(name, m.source, m.is_crd_file, "removed", versions_removed=tuple(sorted(versions_of(m.obj)))))
            continue
        if a[name].obj == b[name].obj:
            continue
        va, vb = versions_of(a[name].obj), versions_of(b[name].obj)
        served = []
        for v in sorted(set(va) & set(vb)):
            if bool(va[v].get("served")) != bool(vb[v].get("served")):
                served.append(f"{v}: served {bool(va[v].get('served'))} -> {bool(vb[v].get('served'))}")
        required: list[str] = []
        nested: list[str] = []
        renamed: list[str] = []
        for v in sorted(set(va) & set(vb)):
            old_schema, new_schema = schema_of(va[v]), schema_of(vb[v])
            if old_schema == new_schema:
                continue
            before, after = SchemaIndex.of(old_schema), SchemaIndex.of(new_schema)
            for p in sorted(after.required - before.required):
                counts = parent_of(p) in before.fields and p.split(".", 1)[0].split("[", 1)[0] != "status"
                (required if counts else nested).append(f"{v}: {p}")
            renamed += [f"{v}: {a} -> {b}" for a, b in renamed_fields(before, after)]
        out.append(CrdChange(
            name, b[name].source, b[name].is_crd_file or a[name].is_crd_file, "changed",
            versions_added=tuple(sorted(set(vb) - set(va))), versions_removed=tuple(sorted(set(va) - set(vb))),
            served_changes=tuple(served), storage_old=_storage(va), storage_new=_storage(vb), new_required=tuple(required),
            served_old=tuple(sorted(v for v in va if va[v].get("served"))),
            served_new=tuple(sorted(v for v in vb if vb[v].get("served"))),
            new_required_nested=tuple(nested), renamed=tuple(renamed),
        ))
    return out


def crd_objects(old: Iterable[RenderedManifest], new: Iterable[RenderedManifest], name: str) -> tuple[Any, Any]:
    """(OLD's CRD or None, NEW's CRD or None) named `name`: the schemas custom resources are checked against."""
    a, b = _crds(old).get(name), _crds(new).get(name)
    return (a.obj if a else None, b.obj if b else None)


def crd_findings(changes: Iterable[CrdChange], *, apply_step: str | None = None) -> list[Finding]:
    out: list[Finding] = []
    for c in changes:
        where = "crds/ (Helm never upgrades these)" if c.from_crds_dir else "a template"
        if c.change == "removed":
            out.append(Finding("crd.removed", Severity.BREAKING if not c.from_crds_dir else Severity.REVIEW,
                               f"CRD {c.name} is gone from NEW ({where}); its custom resources are orphaned or deleted",
                               path=c.name, details=(("versions", list(c.versions_removed)),)))
            continue
        if c.change == "added":
            sev = Severity.REVIEW if c.from_crds_dir else Severity.INFO
            msg = f"new CRD {c.name} from {where}"
            if c.from_crds_dir:
                msg += " (installed only on first install: apply it by hand on existing clusters)"
            out.append(Finding("crd.added", sev, msg, path=c.name, suggestion=apply_step if c.from_crds_dir else None,
                               details=(("versions", list(c.versions_added)),)))
            continue
        details: list[tuple[str, Any]] = []
        sev = Severity.REVIEW if c.from_crds_dir else Severity.INFO
        bits = []
        gone = c.storage_version_removed
        if gone:
            # one change, one finding: the removal of the storage version is this finding, not a crd.changed bit
            steps = migration_steps(c)
            out.append(Finding(
                "crd.storage-version-removed", Severity.BREAKING,
                f"CRD {c.name}: NEW {'removes' if gone in c.versions_removed else 'stops serving'} {gone}, OLD's storage "
                f"version; objects stored at {gone} must be migrated to {c.storage_new} before NEW's CRD can be applied",
                path=c.name, old=gone, new=c.storage_new,
                action=f"Migrate the objects of `{c.name}` stored at {gone} to {c.storage_new}, then patch "
                       "`status.storedVersions`, before applying NEW's CRDs (steps under CRDs)",
                details=(("steps", steps), ("servedOld", list(c.served_old)), ("servedNew", list(c.served_new)))))
        removed = [v for v in c.versions_removed if v != gone]
        if removed:
            sev = Severity.BREAKING
            bits.append(f"versions removed: {', '.join(removed)}")
            details.append(("versionsRemoved", removed))
        if c.versions_added:
            bits.append(f"versions added: {', '.join(c.versions_added)}")
            details.append(("versionsAdded", list(c.versions_added)))
        served = [s for s in c.served_changes if not (gone and s.startswith(f"{gone}:"))]
        if served:
            if any(s.endswith("-> False") for s in served):
                sev = Severity.BREAKING
            bits.append("; ".join(served))
            details.append(("served", served))
        if c.storage_old != c.storage_new and not gone:
            if c.storage_version_moved:  # the decision is the migration finding's; the CRD row only says it
                out.append(storage_moved_finding(c))
            bits.append(f"storage version {c.storage_old} -> {c.storage_new}")
            details.append(("storage", [c.storage_old, c.storage_new]))
        if c.new_required:
            sev = min(sev, Severity.REVIEW, key=lambda s: s.rank)
            bits.append(f"new required field(s): {', '.join(c.new_required[:5])}{' …' if len(c.new_required) > 5 else ''}")
            details.append(("newRequired", list(c.new_required)))
        if c.renamed:
            sev = min(sev, Severity.REVIEW, key=lambda s: s.rank)
            bits.append(f"renamed field(s): {', '.join(c.renamed[:5])}{' …' if len(c.renamed) > 5 else ''}")
            details.append(("renamed", list(c.renamed)))
        if c.new_required_nested:
            # inside an object NEW adds, or under status: nothing written today has to change (info)
            bits.append(f"{len(c.new_required_nested)} required field(s) only under what NEW adds, or under status (nothing existing must change)")
            details.append(("newRequiredNested", list(c.new_required_nested)))
        if not bits and gone:
            continue
        if not bits:
            bits.append("schema or metadata changed")
        msg = f"CRD {c.name} changed in {where}: " + "; ".join(bits)
        if c.from_crds_dir:
            msg += ". Apply it before `helmfile apply`"
        out.append(Finding("crd.changed", sev, msg, path=c.name, suggestion=apply_step if c.from_crds_dir else None,
                           details=tuple(details)))
    return out


# one text for every CRD whose storage version moves: the report's action list makes it one action
MOVED_STORAGE_ACTION = ("After NEW's CRDs are applied, re-write the objects of the CRDs whose storage version moves "
                        "and trim `status.storedVersions`, before any later upgrade stops serving the old version "
                        "(commands under CRDs)")


def storage_moved_finding(c: CrdChange) -> Finding:
    was = c.storage_version_moved
    return Finding(
        "crd.storage-version-changed", Severity.REVIEW,
        f"CRD {c.name}: NEW stores objects at {c.storage_new} instead of {was} and still serves {was}; objects "
        f"stay stored at {was} until re-written, and an upgrade that stops serving {was} is refused until they are",
        path=c.name, old=was, new=c.storage_new, action=MOVED_STORAGE_ACTION,
        details=(("steps", moved_storage_steps(c)), ("servedNew", list(c.served_new))))


def moved_storage_steps(c: CrdChange) -> list[str]:
    """After NEW's CRD is applied (it serves both versions and stores at the new one): re-write every object
    so it is stored at the new version, then drop the old one from `status.storedVersions`."""
    was, to = c.storage_version_moved, c.storage_new
    return [
        f"kubectl get {c.name} --all-namespaces -o json | kubectl replace -f -   # re-write every object: stored at {to} now",
        f"kubectl patch crd {c.name} --subresource=status --type=merge -p '{{\"status\":{{\"storedVersions\":[\"{to}\"]}}}}'",
        f"kubectl get crd {c.name} -o jsonpath='{{.status.storedVersions}}'   # [\"{to}\"]: {was} can go",
    ]


def migration_steps(c: CrdChange) -> list[str]:
    """Moving objects off a storage version NEW drops (the Kubernetes "upgrade existing objects to a new
    stored version" procedure), as commands to run before NEW's CRD is applied."""
    gone, to = c.storage_version_removed, c.storage_new
    return [
        f"kubectl get crd {c.name} -o jsonpath='{{.status.storedVersions}}'   # {gone} listed: objects are stored at it",
        f"# make {to} the storage version while {gone} is still served (an intermediate CRD: both served, {to} storage)",
        f"kubectl get {c.name} --all-namespaces -o json | kubectl replace -f -   # re-write every object: stored at {to} now",
        f"kubectl patch crd {c.name} --subresource=status --type=merge -p '{{\"status\":{{\"storedVersions\":[\"{to}\"]}}}}'",
    ]


def crd_dirs(changes: Iterable[CrdChange]) -> list[str]:
    """The crds/ folders (relative to the chart, e.g. `crds`, `charts/sub/crds`) whose CRDs need a manual apply."""
    dirs: set[str] = set()
    for c in changes:
        if c.from_crds_dir and c.change in ("added", "changed"):
            parts = c.source.split("/")
            # Helm names a crds/ file `<chart>/crds/x.yaml` or `<chart>/charts/<sub>/crds/x.yaml`
            if "crds" in parts:
                i = len(parts) - 1 - parts[::-1].index("crds")
                dirs.add("/".join(parts[1 : i + 1]))
    return sorted(dirs)


def apply_commands(chart_folder: str, dirs: Iterable[str]) -> list[str]:
    """The exact commands to run before `helmfile apply` (server-side: CRDs are too big for client-side apply)."""
    return [f"kubectl apply --server-side --force-conflicts -f {chart_folder.rstrip('/')}/{d}/" for d in dirs]
