"""Property-based tests for versions and constraints (hypothesis), with the `semver` library as
an independent oracle for SemVer 2 precedence."""

from __future__ import annotations

import pytest

import semver
from hypothesis import given, settings
from hypothesis import strategies as st

from chartkeeper.errors import InputError
from chartkeeper.versions import ChartVersion, Constraint

pytestmark = pytest.mark.reliability

num = st.integers(min_value=0, max_value=300)
ident = st.one_of(
    st.integers(min_value=0, max_value=50).map(str),
    st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,5}", fullmatch=True),
)
pre = st.lists(ident, min_size=0, max_size=3).map(lambda xs: "-" + ".".join(xs) if xs else "")
build = st.lists(st.from_regex(r"[a-zA-Z0-9]{1,4}", fullmatch=True), max_size=2).map(lambda xs: "+" + ".".join(xs) if xs else "")
version_text = st.builds(
    lambda v, a, b, c, p, bd: f"{v}{a}.{b}.{c}{p}{bd}", st.sampled_from(["", "v"]), num, num, num, pre, build
)


@given(version_text)
def test_parse_roundtrip(text: str) -> None:
    v = ChartVersion.parse(text)
    assert str(v) == text
    assert ChartVersion.parse(v.canonical) == v


@given(version_text, version_text)
def test_order_matches_semver_library(a: str, b: str) -> None:
    va, vb = ChartVersion.parse(a), ChartVersion.parse(b)
    ref = semver.Version.parse(a.lstrip("v")).compare(semver.Version.parse(b.lstrip("v")))
    ours = (va > vb) - (va < vb)
    assert ours == ref


@given(st.text(max_size=30))
def test_parse_never_crashes(text: str) -> None:
    v = ChartVersion.try_parse(text)
    assert v is None or isinstance(v, ChartVersion)


@given(st.text(alphabet="0123456789.xX*~^<>=!|, -v", max_size=25))
@settings(max_examples=400)
def test_constraint_parse_is_total(text: str) -> None:
    """Any string either parses or raises InputError; never another exception."""
    try:
        c = Constraint.parse(text)
    except InputError:
        return
    c.allows(ChartVersion.parse("1.2.3"))


@given(num, num, num, num, num)
def test_tilde_and_caret_bounds(major: int, minor: int, patch: int, dm: int, dp: int) -> None:
    base = ChartVersion(major, minor, patch)
    cand = ChartVersion(major, minor + dm % 3, patch + dp % 3)
    tilde = Constraint.parse(f"~{major}.{minor}.{patch}")
    assert tilde.allows(cand) == (cand >= base and cand.minor == minor)
    caret = Constraint.parse(f"^{major}.{minor}.{patch}")
    if major > 0:
        assert caret.allows(cand) == (cand >= base)
    assert not caret.allows(ChartVersion(major + 1, 0, 0))


@given(num, num, num)
def test_wildcards_equal_ranges(major: int, minor: int, patch: int) -> None:
    v = ChartVersion(major, minor, patch)
    for m in range(max(0, major - 1), major + 2):
        assert Constraint.parse(f"v{m}.x").allows(v) == (major == m)
        assert Constraint.parse(f">={m}.0.0 <{m + 1}.0.0").allows(v) == (major == m)


# --- hostile and foreign version strings (reliability suite) ----------------------------------

_ASCII_SEMVER = r"[vV]?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
digits = st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=6)


part = st.one_of(num.map(str), st.tuples(st.sampled_from(["1", "2", ""]), digits).map("".join))
foreign_version = st.builds(lambda a, b, c, p: f"{a}.{b}.{c}{p}", part, part, part, st.sampled_from(["", "-rc.1", "-1"]))


@given(foreign_version)
@settings(max_examples=300)
def test_only_ascii_semver_parses(text: str) -> None:
    """Unicode digits (Arabic-Indic, superscripts) are not version digits, whatever int() thinks."""
    import re

    ascii_ok = re.fullmatch(_ASCII_SEMVER, text.strip(), re.ASCII) is not None
    assert (ChartVersion.try_parse(text) is not None) == ascii_ok
    for c in (text, f">={text}", f"~{text}"):
        try:
            Constraint.parse(c)
        except InputError:
            continue
        assert ascii_ok, f"{c!r} parsed as a constraint"


@given(st.integers(min_value=21, max_value=6000), st.sampled_from(["major", "minor", "patch", "pre"]))
@settings(max_examples=40, deadline=None)
def test_absurdly_long_numbers_are_not_versions(n: int, where: str) -> None:
    """Helm reads each number as a uint64; a hostile index with 5000-digit numbers must be
    skipped as invalid, not crash the parser (Python refuses int() past 4300 digits)."""
    big = "9" * n
    text = {"major": f"{big}.0.0", "minor": f"1.{big}.0", "patch": f"1.0.{big}", "pre": f"1.0.0-{big}"}[where]
    assert ChartVersion.try_parse(text) is None
    for c in (f">={text}", f"~{text}", f"{text} - 2.0.0"):
        try:
            Constraint.parse(c)
        except InputError:
            continue
        raise AssertionError(f"{c[:40]}… parsed")


@given(version_text, st.from_regex(r"[a-zA-Z0-9]{1,6}", fullmatch=True))
def test_prefix_and_build_metadata_do_not_change_identity(text: str, meta: str) -> None:
    v = ChartVersion.parse(text)
    bare = text.lstrip("v").split("+", 1)[0]
    for other in (bare, "v" + bare, f"{bare}+{meta}"):
        o = ChartVersion.parse(other)
        assert o == v and hash(o) == hash(v)


@given(st.lists(version_text, min_size=1, max_size=12), version_text, version_text, st.booleans())
@settings(max_examples=200)
def test_newest_is_the_maximum_of_what_the_range_allows(texts: list[str], lo: str, hi: str, pre_ok: bool) -> None:
    from chartkeeper.versions import newest

    vs = [ChartVersion.parse(t) for t in texts]
    a, b = sorted([ChartVersion.parse(lo), ChartVersion.parse(hi)])
    if a.is_prerelease or b.is_prerelease:
        return  # a constraint naming a prerelease admits prereleases; covered by the table tests
    c = Constraint.parse(f">={a.canonical} <{b.canonical}")
    allowed = [v for v in vs if a <= v < b and (pre_ok or not v.is_prerelease)]
    got = newest(vs, c, pre=pre_ok)
    assert got == (max(allowed) if allowed else None)
    if got is not None:
        assert c.allows(got, pre=pre_ok)


@given(version_text, version_text, version_text)
def test_alternatives_are_a_union(x: str, y: str, probe: str) -> None:
    vx, vy, vp = ChartVersion.parse(x), ChartVersion.parse(y), ChartVersion.parse(probe)
    cx, cy = Constraint.parse(f"={vx.canonical}"), Constraint.parse(f"={vy.canonical}")
    both = Constraint.parse(f"={vx.canonical} || ={vy.canonical}")
    assert both.allows(vp, pre=True) == (cx.allows(vp, pre=True) or cy.allows(vp, pre=True))
    assert cx.allows(vp, pre=True) == (vp == vx)


@given(st.lists(version_text, max_size=10), st.text(max_size=20))
def test_resolve_target_is_total_and_returns_a_published_version(texts: list[str], target: str) -> None:
    from chartkeeper.versions import resolve_target

    vs = [ChartVersion.parse(t) for t in texts]
    try:
        got = resolve_target(target, vs)
    except InputError:
        return
    assert got is None or any(got is v for v in vs)
