"""The deployment's custom resources checked against NEW's CRDs, instead of a "check them" left to a person.

For every CRD the upgrade adds or changes, each custom resource the deployment renders of its kind (the
chart's own, patched as deployed, and those of the tree's other releases and custom charts) is validated
against NEW's schema for the resource's version (`crd_schema.Validator`). A problem the same resource also
has against OLD's schema is not the upgrade's doing: it is reported with `introduced` false.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from chartkeeper.analysis.crd_schema import Problem, Validator
from chartkeeper.analysis.crds import schema_of, versions_of
from chartkeeper.findings import Finding, Severity
from chartkeeper.resources import Scopes, group_of, resource_key


@dataclass(frozen=True)
class TreeResource:
    """One custom resource the deployment renders."""

    env: str
    release: str  # `<namespace>/<release>` (helmfile's release id)
    namespace: str  # the release's namespace (for resources that do not write theirs)
    obj: dict[str, Any]


@dataclass(frozen=True)
class _Crd:
    name: str
    versions_old: Mapping[str, Any]  # name -> version entry of OLD's CRD (empty for a CRD NEW adds)
    versions_new: Mapping[str, Any]
    renamed: Mapping[tuple[str, str], str]  # (version, old field path) -> new field path


def _kind_of(crd: Any) -> tuple[str, str] | None:
    spec = crd.get("spec") if isinstance(crd, dict) else None
    names = spec.get("names") if isinstance(spec, dict) else None
    if not isinstance(names, dict) or not spec.get("group") or not names.get("kind"):
        return None
    return str(spec["group"]), str(names["kind"])


def kinds_of(crds: Mapping[str, tuple[Any, Any]]) -> set[tuple[str, str]]:
    """(group, kind) of every CRD given (NEW's, else OLD's)."""
    out: set[tuple[str, str]] = set()
    for old, new in crds.values():
        gk = _kind_of(new) or _kind_of(old)
        if gk:
            out.add(gk)
    return out


_INDEX = re.compile(r"\[\d+\]")


class _Schemas:
    """Validators built once per CRD version and side, only for versions some resource uses."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, str], Validator | None] = {}

    def problems(self, crd: _Crd, version: str, side: str, obj: dict[str, Any]) -> list[Problem] | None:
        """The resource's problems against that side's schema; None when that side does not serve the version."""
        versions = crd.versions_new if side == "new" else crd.versions_old
        entry = versions.get(version)
        if not isinstance(entry, dict) or not entry.get("served", True):
            return None
        key = (crd.name, version, side)
        if key not in self._cache:
            schema = schema_of(entry)
            self._cache[key] = Validator(schema) if isinstance(schema, dict) else None
        validator = self._cache[key]
        return validator.problems(obj) if validator is not None else []


def check_custom_resources(crds: Mapping[str, tuple[Any, Any]], resources: Iterable[TreeResource],
                           renamed: Mapping[str, Iterable[str]] | None = None) -> list[Finding]:
    """Findings for the custom resources of the CRDs in `crds` (name -> (OLD's CRD or None, NEW's CRD)).

    `renamed` is each CRD's renames as `CrdChange.renamed` spells them ("v1: spec.a -> spec.b"): a dropped
    field that NEW renamed says what it is called now.
    """
    by_kind: dict[tuple[str, str], _Crd] = {}
    for name, (old, new) in crds.items():
        gk = _kind_of(new)
        if gk is None:
            continue
        moves: dict[tuple[str, str], str] = {}
        for r in (renamed or {}).get(name, ()):
            version, _, pair = r.partition(": ")
            a, _, b = pair.partition(" -> ")
            moves[(version, a)] = b
        by_kind[gk] = _Crd(name, versions_of(old) if old is not None else {}, versions_of(new), moves)
    if not by_kind:
        return []
    scopes = Scopes.of([c for pair in crds.values() for c in pair if c is not None])
    schemas = _Schemas()
    out: list[Finding] = []
    checked: dict[str, bool] = {}  # resource (with its release) -> passed in every environment
    for r in resources:
        api = str(r.obj.get("apiVersion") or "")
        crd = by_kind.get((group_of(api), str(r.obj.get("kind") or "")))
        if crd is None:
            continue
        version = api.rsplit("/", 1)[-1]
        rid = str(resource_key(r.obj, r.namespace, scopes))
        label = f"{rid} (release {r.release})"
        new_problems = schemas.problems(crd, version, "new", r.obj)
        if new_problems is None:
            new_problems = [Problem("apiVersion", "version", f"NEW's CRD {crd.name} does not serve {version}: "
                                    "the API server refuses the resource")]
        old_keys: set[tuple[str, str]] = set()
        if new_problems and crd.versions_old:  # OLD's schema only matters to tell what is new
            old_problems = schemas.problems(crd, version, "old", r.obj)
            old_keys = {p.key for p in old_problems} if old_problems is not None else {("apiVersion", "version")}
        checked[label] = checked.get(label, True) and not new_problems
        for p in new_problems:
            out.append(_finding(r, rid, crd, version, p, existing=p.key in old_keys))
    if checked:
        good = sum(1 for ok in checked.values() if ok)
        names = ", ".join(sorted(c.name for c in by_kind.values()))
        text = (f"{good} custom resource(s) of the deployment validate against NEW's CRDs" if good == len(checked) else
                f"{good} of {len(checked)} custom resource(s) of the deployment validate against NEW's CRDs; "
                f"{len(checked) - good} do not (crd.resource-invalid)")
        out.append(Finding("crd.resources-checked", Severity.INFO, f"{text} (checked against {names})",
                           details=(("checked", len(checked)), ("valid", good),
                                    ("resources", sorted(checked)))))
    return out


def _finding(r: TreeResource, rid: str, crd: _Crd, version: str, p: Problem, *, existing: bool) -> Finding:
    details: list[tuple[str, Any]] = [("field", p.field), ("problem", p.kind), ("crd", crd.name),
                                      ("version", version), ("release", r.release)]
    message = f"{rid} (release {r.release}): `{p.field}` {p.message}"
    action = f"Fix `{p.field}` of `{rid}` (release {r.release}) for NEW's schema of `{crd.name}` {version}"
    if p.kind == "unknown":
        to = crd.renamed.get((version, _INDEX.sub("[]", p.field)))
        if to:
            message += f"; NEW renamed it to `{to}`"
            action = f"Rename `{p.field}` of `{rid}` (release {r.release}) to `{to}`: NEW's `{crd.name}` renamed it"
            details.append(("renamedTo", to))
    # a problem OLD's schema has too holds today already: not introduced by the upgrade (the verdict leaves it)
    return Finding("crd.resource-invalid", Severity.BREAKING, message + f" (NEW's CRD {crd.name} {version})",
                   path=rid, env=r.env, action=action, details=tuple(details), introduced=not existing)
