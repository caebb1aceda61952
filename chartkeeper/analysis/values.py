"""Three-way values analysis: base = OLD defaults, theirs = NEW defaults, ours = our effective overrides.

For one environment's overrides of one release, say what the upgrade does to each key we set and to
each default we inherit. Finding codes are documented in docs/findings.md.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from chartkeeper.analysis.chart_keys import (
    KeyUniverse,
    Path_,
    deep_merge,
    fmt_path,
    get_path,
    kind_of,
    load_universe,
)
from chartkeeper.analysis.values_diff import diff_defaults, same_value
from chartkeeper.findings import Finding, NotChecked, Severity
from chartkeeper.helm.schemas import UnresolvableRef, iter_errors
from chartkeeper.analysis.secrets import MASK, from_secret_file, is_secret_path, mask_at

# A default we inherit that changes is worth a review when it switches behaviour on or off, scales, or
# swaps an image; other inherited changes are information.
_REVIEW_LEAF_NAMES = {"enabled", "enable", "replicas", "replicacount", "image", "repository", "tag", "registry",
                      "digest", "version", "create", "mode", "type", "strategy"}
_IMAGE_WORDS = ("image", "repository", "registry", "tag", "digest")


@dataclass(frozen=True)
class Where:
    file: str | None
    line: int | None


def locate(provenance: Any, path: Path_) -> Where:
    """File and line our override at `path` comes from, given the helmfile model's provenance.

    Accepts a mapping keyed by dotted path or by tuple, whose values are objects with `file`/`line`,
    `(file, line)` pairs, dicts, or plain file names. The nearest recorded ancestor answers for a map.
    """
    if not provenance:
        return Where(None, None)
    for i in range(len(path), 0, -1):
        sub = path[:i]
        for key in (sub, ".".join(sub), fmt_path(sub)):
            try:
                hit = provenance.get(key) if isinstance(provenance, Mapping) else None
            except TypeError:
                hit = None
            if hit is not None:
                return _where_of(hit)
    # a map override: the first leaf under it
    if isinstance(provenance, Mapping):
        dotted = ".".join(path) + "."
        for k, v in provenance.items():
            ks = ".".join(k) if isinstance(k, tuple) else str(k)
            if ks.startswith(dotted):
                return _where_of(v)
    return Where(None, None)


def _where_of(hit: Any) -> Where:
    if isinstance(hit, Where):
        return hit
    if isinstance(hit, tuple) and hit:
        return Where(str(hit[0]), hit[1] if len(hit) > 1 and isinstance(hit[1], int) else None)
    if isinstance(hit, Mapping):
        return Where(None if hit.get("file") is None else str(hit.get("file")), hit.get("line"))
    if isinstance(hit, (str, Path)):
        return Where(str(hit), None)
    file = getattr(hit, "file", None) or getattr(hit, "path", None)
    line = getattr(hit, "line", None)
    return Where(None if file is None else str(file), line if isinstance(line, int) else None)


def short_value(value: Any, limit: int = 80) -> str:
    """A value on one line for a message: its JSON, cut at `limit` characters."""
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _as_rendered(tpl: Any) -> str:
    """"while `offline.registry` is empty (template `{{ … }}`, values/x.yaml.gotmpl:4)"."""
    expr = " ".join(str(tpl.expression).split())
    expr = expr if len(expr) <= 100 else expr[:99] + "…"
    shown = f"template `{expr}`, {tpl.where}" if expr else f"written by a template, {tpl.where}"
    return f"while {tpl.inputs} ({shown})" if tpl.inputs else f"as its template renders here ({shown})"


def _tpl_details(tpl: Any) -> tuple[tuple[str, Any], ...]:
    return (("templated", True), ("template", tpl.expression), ("templateFile", tpl.where), ("reads", list(tpl.reads)))


class ValuesAnalysis:
    """Compare one chart's OLD and NEW key universes; judge override trees against them."""

    def __init__(self, old: KeyUniverse, new: KeyUniverse, *, single_version: bool = False) -> None:
        self.old = old
        self.new = new
        self.single_version = single_version  # lint: one version, so messages say "the chart", not OLD/NEW
        # the structured diff of the two versions' defaults (dictdiffer): keys added, removed, changed
        self.defaults_diff = diff_defaults(old.defaults, new.defaults)
        self.added_paths = list(self.defaults_diff.added)
        self.removed_paths = list(self.defaults_diff.removed)
        self._new_by_leaf: dict[str, list[Path_]] = {}
        # schemas that could not be checked (a `$ref` outside the chart: never fetched), for the report
        self.not_checked: list[NotChecked] = []
        for p in self.added_paths:
            self._new_by_leaf.setdefault(p[-1], []).append(p)

    # -- overrides ------------------------------------------------------------------------------

    def check_overrides(self, overrides: Mapping[str, Any], provenance: Any = None, *, env: str | None = None,
                        secret_files: Iterable[str] = (), templated: Mapping[Path_, Any] | None = None) -> list[Finding]:
        """Judge every override; `secret_files` (values files whose every value is secret) masks what came from them;
        `templated` (helmfile.templated_overrides) says which values a template decides."""
        self._secret_files = tuple(secret_files)
        self._templated = dict(templated or {})
        findings: list[Finding] = []
        covered: set[Path_] = set()
        self._walk(dict(overrides or {}), (), provenance, env, findings, covered)
        return findings

    def _walk(self, ours: dict[str, Any], prefix: Path_, prov: Any, env: str | None, out: list[Finding], covered: set[Path_]) -> None:
        for key, value in ours.items():
            path = prefix + (str(key),)
            new_has, new_val = self.new.default(path)
            # descend while both sides are maps with structure of their own
            if isinstance(value, dict) and value and new_has and isinstance(new_val, dict) and new_val and not self.new.is_free_form(path + ("*",)):
                self._walk(value, path, prov, env, out, covered)
                continue
            self._judge(path, value, prov, env, out)

    def _judge(self, path: Path_, ours: Any, prov: Any, env: str | None, out: list[Finding]) -> None:
        where = locate(prov, path)
        new_has, new_val = self.new.default(path)
        old_has, old_val = self.old.default(path)
        shown = fmt_path(path)
        secret = is_secret_path(path)
        ours_secret = secret or from_secret_file(prov, path, getattr(self, "_secret_files", ()))
        m_ours, m_old, m_new = mask_at(path, ours, secret=ours_secret, register=True), mask_at(path, old_val), mask_at(path, new_val)

        def finding(code: str, sev: Severity, msg: str, **kw: Any) -> None:
            out.append(Finding(code, sev, msg, path=shown, env=env, file=where.file, line=where.line, **kw))

        if ours is None:
            # `key: null` deletes a default; deleting one that no longer exists is harmless
            if not new_has and old_has:
                finding("values.removed-key", Severity.INFO, f"{shown}: we delete (null) a key NEW no longer has; the null can go",
                        old=m_old)
            return
        if not self.new.knows(path):
            unknown_at = self._highest_unknown(path, self.new)
            if self.old.knows(path):
                rename = self._rename_candidate(path)
                if rename is not None:
                    finding("values.renamed-key", Severity.BREAKING,
                            f"{shown}: NEW no longer has this key, probably moved to `{fmt_path(rename)}`; Helm ignores our override",
                            old=m_old, ours=m_ours, suggestion=fmt_path(rename))
                else:
                    finding("values.removed-key", Severity.BREAKING,
                            f"{shown}: NEW no longer has this key; Helm silently ignores our override",
                            old=m_old, ours=m_ours, details=(("removedAt", fmt_path(unknown_at)),))
            else:
                close = self._close_match(path)
                finding("values.unknown-key", Severity.BREAKING,
                        (f"{shown}: the chart has no such key; Helm ignores our override" if self.single_version
                         else f"{shown}: neither OLD nor NEW has this key (already ignored today)")
                        + (f"; did you mean {fmt_path(close)}?" if close else ""),
                        ours=m_ours, suggestion=fmt_path(close) if close else None,
                        introduced=self.single_version)  # between two versions: OLD ignores it too
            return
        # the key exists in NEW (in defaults, schema, templates, or under a free-form map)
        new_kind = kind_of(new_val) if new_has else None
        old_kind = kind_of(old_val) if old_has else None
        ours_kind = kind_of(ours)
        if new_kind not in (None, "null") and ours_kind != new_kind:
            finding("values.type-change", Severity.BREAKING,
                    f"{shown}: {'the chart' if self.single_version else 'NEW'} expects a {new_kind}, we set a {ours_kind}"
                    + (f" (OLD default was a {old_kind})" if old_kind and old_kind != new_kind else ""),
                    old=m_old, new=m_new, ours=m_ours,
                    introduced=self.single_version or old_kind != new_kind)  # same kind in OLD: as wrong today
            return
        tpl = self._templated_at(path)
        default_name = "chart" if self.single_version else "NEW"
        if new_has and same_value(ours, new_val) and not (isinstance(ours, dict) and not ours):
            if tpl is not None:
                # Equal only as the template renders with this repository's environments: at a site that
                # sets its inputs (an air-gapped registry, say) the override is the whole point.
                finding("values.templated-equals-default", Severity.INFO,
                        f"{shown}: equals the {default_name} default only {_as_rendered(tpl)}; "
                        + (f"a site that sets {', '.join(f'`{r}`' for r in tpl.reads)} otherwise gets another value: keep the override"
                           if tpl.reads else "where its inputs differ it may too: keep the override"),
                        old=m_old, new=m_new, ours=m_ours, details=_tpl_details(tpl))
                return
            finding("values.override-equals-default", Severity.INFO,
                    f"{shown}: our override equals the {default_name} default and can be dropped", old=m_old, new=m_new, ours=m_ours)
            return
        if old_has and new_has and not same_value(old_val, new_val):
            what = "changed" if not ours_secret else "changed (values masked)"
            ours_text = short_value(m_ours) if tpl is None else f"templated {short_value(m_ours)} ({_as_rendered(tpl)})"
            finding("values.default-changed-overridden", Severity.REVIEW,
                    f"{shown}: upstream default {what} ({short_value(m_old)} -> {short_value(m_new)}); our {ours_text} now masks it",
                    old=m_old, new=m_new, ours=m_ours, details=_tpl_details(tpl) if tpl is not None else ())

    def _templated_at(self, path: Path_) -> Any:
        """The template that decides our value at `path` (itself, an ancestor, or any leaf under a map)."""
        tpl = getattr(self, "_templated", None)
        if not tpl:
            return None
        for i in range(len(path), 0, -1):
            hit = tpl.get(path[:i])
            if hit is not None:
                return hit
        n = len(path)
        return next((t for p, t in tpl.items() if len(p) > n and p[:n] == path), None)

    def _highest_unknown(self, path: Path_, uni: KeyUniverse) -> Path_:
        for i in range(1, len(path) + 1):
            if not uni.knows(path[:i]):
                return path[:i]
        return path

    def _rename_candidate(self, path: Path_) -> Path_ | None:
        """A NEW-only key with the same leaf name (nearest first), or with the same default nearby."""
        removed_at = self._highest_unknown(path, self.new)
        suffix = path[len(removed_at):]
        leaf = removed_at[-1]
        cands = self._new_by_leaf.get(leaf, [])
        if cands:
            best = max(cands, key=lambda c: (_common_prefix(c, removed_at), -len(c)))
            return best + suffix
        old_has, old_val = self.old.default(removed_at)
        # an empty or boolean default matches too many keys to say anything (and 1 == True in Python: by type)
        if old_has and not isinstance(old_val, bool) and old_val is not None and old_val not in ("", {}, []) \
                and not (type(old_val) is int and old_val == 0):
            parent = removed_at[:-1]
            best: tuple[float, Path_] | None = None
            for cand in self.added_paths:
                if cand[: len(parent)] == parent and len(cand) <= len(removed_at) + 1:
                    has, val = self.new.default(cand)
                    if has and same_value(val, old_val):
                        # the same default under a close name (`replicaCount` -> `replicas`)
                        close = difflib.SequenceMatcher(None, leaf.lower(), cand[-1].lower()).ratio()
                        if close >= 0.5 and (best is None or close > best[0]):
                            best = (close, cand)
            if best is not None:
                return best[1] + suffix
        return None

    def _close_match(self, path: Path_) -> Path_ | None:
        """For an unknown key: the same key somewhere else (wrong parent) or a near spelling."""
        leaf = path[-1]
        parent = path[:-1]
        new_has, parent_val = self.new.default(parent)
        if new_has and isinstance(parent_val, dict):
            near = difflib.get_close_matches(leaf, [str(k) for k in parent_val], n=1, cutoff=0.8)
            if near:
                return parent + (near[0],)
        # nested under the wrong top-level key: `foo.dcgmExporter.x` when NEW has `dcgmExporter.x`
        for i in range(1, len(path)):
            if self.new.default(path[i:])[0]:
                return path[i:]
        return None

    # -- defaults we inherit --------------------------------------------------------------------

    def inherited_changes(self, overrides: Mapping[str, Any] | None, *, env: str | None = None) -> list[Finding]:
        """Defaults that changed at paths we do not override."""
        out: list[Finding] = []
        ours = dict(overrides or {})
        for path, old_val, new_val in self.defaults_diff.changed:
            if not path or _overridden(ours, path):
                continue
            mo, mn = mask_at(path, old_val), mask_at(path, new_val)
            if isinstance(new_val, dict) and new_val and not isinstance(old_val, dict):
                # a leaf that became a map: NEW's leaves under it have no OLD counterpart
                out.append(Finding("values.default-changed", Severity.REVIEW,
                                   f"{fmt_path(path)}: upstream default changed from a {kind_of(old_val)} to a map (we inherit it)",
                                   path=fmt_path(path), env=env, old=mo, new=mn))
                continue
            sev = Severity.REVIEW if _behavioural(path, old_val, new_val) else Severity.INFO
            out.append(Finding("values.default-changed", sev,
                               f"{fmt_path(path)}: upstream default changed {short_value(mo)} -> {short_value(mn)} (we inherit it)",
                               path=fmt_path(path), env=env, old=mo, new=mn))
        return out

    def new_keys(self) -> list[Finding]:
        tops = _top_most(self.added_paths)
        if not tops:
            return []
        shown = [fmt_path(p) for p in tops]
        return [Finding("values.new-keys", Severity.INFO,
                        f"{len(tops)} new key(s) in NEW defaults: {', '.join(shown[:5])}{' …' if len(shown) > 5 else ''}",
                        details=(("keys", shown),))]

    def removed_keys(self) -> list[Finding]:
        tops = _top_most(self.removed_paths)
        if not tops:
            return []
        shown = [fmt_path(p) for p in tops]
        return [Finding("values.removed-keys", Severity.INFO,
                        f"{len(tops)} key(s) removed from NEW defaults: {', '.join(shown[:5])}{' …' if len(shown) > 5 else ''}",
                        details=(("keys", shown),))]

    # -- schema ---------------------------------------------------------------------------------

    def schema_findings(self, overrides: Mapping[str, Any] | None, *, env: str | None = None, provenance: Any = None,
                        secret_files: Iterable[str] = ()) -> list[Finding]:
        if not self.new.schemas:
            return []
        ours = dict(overrides or {})
        new_errors = schema_errors(self.new, deep_merge(self.new.defaults, ours), self._unchecked(env))
        old_errors = ({(p, m) for p, m, _ in schema_errors(self.old, deep_merge(self.old.defaults, ours), lambda *_: None)}
                      if self.old.schemas else set())
        out = []
        for path, message, validator in new_errors:
            existing = (path, message) in old_errors
            sev = Severity.INFO if existing else Severity.BREAKING
            shown = fmt_path(path)
            if is_secret_path(path) or from_secret_file(provenance, path, secret_files):
                message = f"value violates the schema ({validator})"
            out.append(Finding(
                "values.schema-violation-existing" if existing else "values.schema-violation", sev,
                f"{shown}: {message}" + (" (OLD already violated it)" if existing else " (Helm refuses to install)"),
                path=shown, env=env, details=(("validator", validator),), introduced=not existing))
        return out

    def _unchecked(self, env: str | None) -> Callable[[Path_, str], None]:
        def note(prefix: Path_, why: str) -> None:
            at = f" (under {fmt_path(prefix)})" if prefix else ""
            item = NotChecked(f"values.schema.json of {self.new.chart.name} {self.new.chart.version}{at}",
                              why, env)
            if item not in self.not_checked:
                self.not_checked.append(item)
        return note

    def analyze(self, overrides: Mapping[str, Any] | None, provenance: Any = None, *, env: str | None = None,
                secret_files: Iterable[str] = (), templated: Mapping[Path_, Any] | None = None) -> list[Finding]:
        ours = dict(overrides or {})
        return (self.check_overrides(ours, provenance, env=env, secret_files=secret_files, templated=templated)
                + self.inherited_changes(ours, env=env)
                + self.schema_findings(ours, env=env, provenance=provenance, secret_files=secret_files))


def schema_errors(uni: KeyUniverse, merged: Mapping[str, Any],
                  unchecked: Callable[[Path_, str], None]) -> list[tuple[Path_, str, str]]:
    """(path, message, validator) for every violation of every schema shipped in the chart tree; a
    schema that cannot be checked (a reference outside itself, a cycle) goes to `unchecked(prefix, why)`."""
    import jsonschema  # lazy: jsonschema takes ~60 ms to import; only charts that ship a values schema need it

    out: list[tuple[Path_, str, str]] = []
    for prefix, schema in uni.schemas:
        present, sub = get_path(merged, prefix)
        if not present:
            continue
        if prefix and isinstance(sub, dict) and isinstance(merged.get("global"), dict) and "global" not in sub:
            sub = dict(sub, **{"global": merged["global"]})  # Helm hands a subchart the globals too
        try:
            errors = sorted(iter_errors(schema, sub), key=lambda e: [str(x) for x in e.absolute_path])
        except jsonschema.exceptions.SchemaError as exc:
            out.append((prefix, f"values.schema.json is not a valid schema: {exc.message}", "schema"))
            continue
        except UnresolvableRef as exc:
            unchecked(prefix, exc.why)
            continue
        for e in errors:
            path = prefix + tuple(str(x) for x in e.absolute_path)
            msg = e.message if not is_secret_path(path) else f"violates `{e.validator}`"
            if len(msg) > 200:
                msg = msg[:199] + "…"
            out.append((path, msg, str(e.validator)))
    return out


def _common_prefix(a: Path_, b: Path_) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _top_most(paths: Iterable[Path_]) -> list[Path_]:
    out: list[Path_] = []
    for p in sorted(paths):
        if out and p[: len(out[-1])] == out[-1]:
            continue
        out.append(p)
    return out


def _overridden(ours: Mapping[str, Any], path: Path_) -> bool:
    """Do we set `path`, or a map/list/scalar above it that replaces it?"""
    node: Any = ours
    for k in path:
        if not isinstance(node, dict):
            return True  # we replace something above with a non-map
        if k not in node:
            return False
        node = node[k]
    return True


def _behavioural(path: Path_, old: Any, new: Any) -> bool:
    leaf = path[-1].lower()
    if isinstance(old, bool) or isinstance(new, bool):
        return True
    if leaf in _REVIEW_LEAF_NAMES or leaf.endswith("enabled"):
        return True
    return any(w in k.lower() for k in path for w in _IMAGE_WORDS)


def check_overrides(chart_dir: Path, overrides: Mapping[str, Any], provenance: Any = None, *, env: str | None = None,
                    secret_files: Iterable[str] = (), universe: KeyUniverse | None = None) -> tuple[list[Finding], list[NotChecked]]:
    """The current version only (for lint): unknown keys, type mismatches, overrides equal to the default,
    schema violations. Same codes as the upgrade analysis, judged with OLD = NEW = `chart_dir` (whose
    `universe` a caller checking many releases of it has read already)."""
    uni = universe or load_universe(chart_dir)
    analysis = ValuesAnalysis(uni, uni, single_version=True)
    ours = dict(overrides or {})
    findings = (analysis.check_overrides(ours, provenance, env=env, secret_files=secret_files)
                + analysis.schema_findings(ours, env=env, provenance=provenance, secret_files=secret_files))
    return findings, analysis.not_checked


__all__ = ["ValuesAnalysis", "check_overrides", "locate", "schema_errors", "MASK"]
