"""Chart versions and constraints, by Helm's rules (Masterminds/semver), not string order.

* A version is SemVer 2 with an optional `v` prefix; `v4.10.0` and `4.11.0` compare as
  numbers, whatever prefix each one carries. Build metadata is ignored for ordering.
* A constraint is what Helm and helmfile accept for `version:`: exact (`1.2.3`, `=1.2.3`),
  wildcards (`v25.x`, `25.3.x`, `*`), tilde (`~61.9`), caret (`^1.2`), comparisons
  (`>=4.9 <5`, `>=1, <2`), hyphen ranges (`1.2 - 1.4`) and alternatives (`a || b`).
* Prereleases only match when asked for (`--pre`) or when the constraint names one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, total_ordering
from typing import Iterable, Sequence

import semver

from chartkeeper.errors import InputError

# Helm parses each number as a uint64; longer digit runs are not versions (and Python refuses
# to convert more than 4300 digits to an int, so a hostile index must not reach int()).
_MAX_DIGITS = 20


def _semver(major: int, minor: int, patch: int, pre: tuple[str | int, ...]) -> semver.Version:
    return semver.Version(major, minor, patch, ".".join(str(p) for p in pre) or None)


@total_ordering
@dataclass(frozen=True)
class ChartVersion:
    """A parsed chart version; `text` keeps the spelling the repository published.

    Parsing and precedence are the `semver` library's (SemVer 2, which Masterminds/semver
    follows); the `v` prefix Helm accepts and the uint64 size limit are ours.
    """

    major: int
    minor: int
    patch: int
    pre: tuple[str | int, ...] = ()
    build: str = ""
    text: str = field(default="", compare=False)

    @cached_property
    def _sv(self) -> semver.Version:
        """The `semver` value precedence is computed on (built once, on the first comparison)."""
        return _semver(self.major, self.minor, self.patch, self.pre)

    @classmethod
    def parse(cls, text: str) -> "ChartVersion":
        v = cls.try_parse(text)
        if v is None:
            raise InputError(f'"{text}" is not a valid chart version')
        return v

    @classmethod
    def try_parse(cls, text: object) -> "ChartVersion | None":
        if not isinstance(text, str):
            return None
        spelled = text.strip()
        try:
            # semver's grammar is ASCII-only, so `1١.0.0` (an Arabic-Indic digit) is no version
            sv = semver.Version.parse(spelled[1:] if spelled[:1] in ("v", "V") else spelled)
        except ValueError:  # not SemVer 2, or a number past the 4300 digits int() accepts
            return None
        ids = sv.prerelease.split(".") if sv.prerelease else []
        if any(len(str(n)) > _MAX_DIGITS for n in (sv.major, sv.minor, sv.patch)) or any(
            i.isdigit() and len(i) > _MAX_DIGITS for i in ids
        ):
            return None
        pre = tuple(int(i) if i.isdigit() else i for i in ids)
        v = cls(sv.major, sv.minor, sv.patch, pre, sv.build or "", spelled)
        v.__dict__["_sv"] = sv  # the parsed value is the one to compare on (cached_property's slot)
        return v

    @property
    def is_prerelease(self) -> bool:
        return bool(self.pre)

    @property
    def core(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChartVersion):
            return NotImplemented
        return self._sv.compare(other._sv) == 0  # SemVer 2 precedence: build metadata ignored

    def __hash__(self) -> int:
        # equal precedence <=> equal numbers and prerelease (leading zeros are refused), never build
        return hash((self.major, self.minor, self.patch, self.pre))

    def __lt__(self, other: "ChartVersion") -> bool:
        return self._sv.compare(other._sv) < 0

    def __str__(self) -> str:
        return self.text or self.canonical

    @property
    def canonical(self) -> str:
        s = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            s += "-" + ".".join(str(p) for p in self.pre)
        return s

    @property
    def has_v_prefix(self) -> bool:
        return self.text[:1] in ("v", "V")


def update_kind(old: ChartVersion, new: ChartVersion) -> str:
    """`major`, `minor`, `patch`, `prerelease`, `none` or `downgrade`."""
    if new == old:
        return "none"
    if new < old:
        return "downgrade"
    if new.major != old.major:
        return "major"
    if new.minor != old.minor:
        return "minor"
    if new.patch != old.patch:
        return "patch"
    return "prerelease"


# --- constraints -------------------------------------------------------------------------

_WILD = {"x", "X", "*"}
_PARTIAL_RE = re.compile(
    r"^[vV]?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$",
    re.ASCII,
)
_OP_RE = re.compile(r"^(?P<op>!=|>=|=>|<=|=<|>|<|=|~>|~|\^)?\s*(?P<ver>\S+)$")


@dataclass(frozen=True)
class _Partial:
    parts: tuple[int | None, int | None, int | None]  # None = wildcard / missing
    pre: tuple[str | int, ...]
    given: int  # how many of major/minor/patch were written (wildcards count as written)

    def floor(self) -> ChartVersion:
        a, b, c = (p if p is not None else 0 for p in self.parts)
        return ChartVersion(a, b, c, self.pre)


def _parse_partial(text: str, whole: str) -> _Partial:
    m = _PARTIAL_RE.match(text)
    if not m:
        raise InputError(f'"{whole}" is not a valid version constraint')
    raw = [m.group("major"), m.group("minor"), m.group("patch")]
    if any(r is not None and len(r) > _MAX_DIGITS for r in raw) or any(
        p.isdigit() and len(p) > _MAX_DIGITS for p in (m.group("pre") or "").split(".")
    ):
        raise InputError(f'"{whole}" is not a valid version constraint')
    given = sum(1 for r in raw if r is not None)
    parts: list[int | None] = []
    wild = False
    for r in raw:
        if r is None or r in _WILD or wild:
            wild = True
            parts.append(None)
        else:
            parts.append(int(r))
    pre: tuple[str | int, ...] = ()
    if m.group("pre"):
        pre = tuple(int(p) if p.isdigit() else p for p in m.group("pre").split("."))
    return _Partial((parts[0], parts[1], parts[2]), pre, given)


@dataclass(frozen=True)
class _Bound:
    op: str  # one of > >= < <= = !=
    version: ChartVersion

    def allows(self, v: ChartVersion) -> bool:
        o = self.op
        if o == ">":
            return v > self.version
        if o == ">=":
            return v >= self.version
        if o == "<":
            return v < self.version
        if o == "<=":
            return v <= self.version
        if o == "=":
            return v == self.version
        return v != self.version


def _upper_of(p: _Partial) -> ChartVersion | None:
    """The exclusive upper bound implied by the wildcarded part of a partial version."""
    a, b, c = p.parts
    if a is None:
        return None
    if b is None:
        return ChartVersion(a + 1, 0, 0)
    if c is None:
        return ChartVersion(a, b + 1, 0)
    return None


def _expand(op: str, p: _Partial) -> list[_Bound]:
    lo = p.floor()
    a, b, c = p.parts
    if op in ("", "="):
        if a is None:
            return []  # `*`: anything
        up = _upper_of(p)
        if up is None:
            return [_Bound("=", lo)]
        return [_Bound(">=", lo), _Bound("<", up)]
    if op == "!=":
        up = _upper_of(p)
        if up is None:
            return [_Bound("!=", lo)]
        # != 1.x means outside [1.0.0, 2.0.0): not expressible as AND; approximate by refusing
        raise InputError("a wildcard after != is not supported; write an explicit range")
    if op in ("~", "~>"):
        if a is None:
            return []
        if b is None or p.given == 1:
            return [_Bound(">=", lo), _Bound("<", ChartVersion(a + 1, 0, 0))]
        return [_Bound(">=", lo), _Bound("<", ChartVersion(a, b + 1, 0))]
    if op == "^":
        if a is None:
            return []
        if a > 0 or b is None:
            return [_Bound(">=", lo), _Bound("<", ChartVersion(a + 1, 0, 0))]
        if b > 0 or c is None:
            return [_Bound(">=", lo), _Bound("<", ChartVersion(0, b + 1, 0))]
        return [_Bound(">=", lo), _Bound("<", ChartVersion(0, 0, c + 1))]
    if op == ">":
        up = _upper_of(p)
        return [_Bound(">=", up)] if up is not None else [_Bound(">", lo)]
    if op in (">=", "=>"):
        return [_Bound(">=", lo)]
    if op == "<":
        return [_Bound("<", lo)]
    if op in ("<=", "=<"):
        up = _upper_of(p)
        return [_Bound("<", up)] if up is not None else [_Bound("<=", lo)]
    raise InputError(f"unknown constraint operator {op!r}")  # pragma: no cover - regex limits ops


@dataclass(frozen=True)
class Constraint:
    """A parsed version constraint: alternatives (`||`) of AND-ed bounds."""

    text: str
    alternatives: tuple[tuple[_Bound, ...], ...]
    names_prerelease: bool

    @classmethod
    def parse(cls, text: str) -> "Constraint":
        if not isinstance(text, str) or not text.strip():
            raise InputError(f'"{text}" is not a valid version constraint')
        alts: list[tuple[_Bound, ...]] = []
        pre = False
        for alt in text.split("||"):
            alt = alt.strip()
            if not alt:
                raise InputError(f'"{text}" is not a valid version constraint')
            bounds: list[_Bound] = []
            hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", alt)
            if hyphen:
                lo = _parse_partial(hyphen.group(1), text)
                hi = _parse_partial(hyphen.group(2), text)
                pre = pre or bool(lo.pre or hi.pre)
                bounds += _expand(">=", lo) + _expand("<=", hi)
            else:
                # Tokens are separated by commas or spaces; an operator may stand apart from its version.
                tokens = [t for t in re.split(r"[,\s]+", alt) if t]
                merged: list[str] = []
                for t in tokens:
                    if merged and re.fullmatch(r"!=|>=|=>|<=|=<|>|<|=|~>|~|\^", merged[-1]):
                        merged[-1] += t
                    else:
                        merged.append(t)
                for tok in merged:
                    m = _OP_RE.match(tok)
                    if not m:
                        raise InputError(f'"{text}" is not a valid version constraint')
                    p = _parse_partial(m.group("ver"), text)
                    pre = pre or bool(p.pre)
                    bounds += _expand(m.group("op") or "", p)
            alts.append(tuple(bounds))
        return cls(text.strip(), tuple(alts), pre)

    @classmethod
    def exact(cls, version: ChartVersion) -> "Constraint":
        return cls(version.text or version.canonical, ((_Bound("=", version),),), version.is_prerelease)

    def allows(self, v: ChartVersion, *, pre: bool = False) -> bool:
        if v.is_prerelease and not (pre or self.names_prerelease):
            return False
        return any(all(b.allows(v) for b in alt) for alt in self.alternatives)

    def __str__(self) -> str:
        return self.text


def parse_versions(texts: Iterable[str]) -> tuple[list[ChartVersion], list[str]]:
    """Parse published version strings; returns (valid, skipped-invalid)."""
    good: list[ChartVersion] = []
    bad: list[str] = []
    for t in texts:
        v = ChartVersion.try_parse(t)
        if v is None:
            bad.append(str(t))
        else:
            good.append(v)
    return good, bad


def newest(
    versions: Sequence[ChartVersion], constraint: Constraint | None = None, *, pre: bool = False
) -> ChartVersion | None:
    """The highest version the constraint allows (any version when there is none)."""
    best: ChartVersion | None = None
    for v in versions:
        if constraint is not None:
            if not constraint.allows(v, pre=pre):
                continue
        elif v.is_prerelease and not pre:
            continue
        if best is None or v > best:
            best = v
    return best


def resolve_target(text: str, versions: Sequence[ChartVersion], *, pre: bool = False) -> ChartVersion | None:
    """A user's target: an exact published version (any spelling of it) or a constraint."""
    exact = ChartVersion.try_parse(text)
    if exact is not None:
        for v in versions:
            if v == exact:
                return v
        return None
    return newest(versions, Constraint.parse(text), pre=pre)
