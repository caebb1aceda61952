"""Property-based tests for versions and constraints (hypothesis), with the `semver` library as
an independent oracle for SemVer 2 precedence."""

from __future__ import annotations

import semver
from hypothesis import given, settings
from hypothesis import strategies as st

from chartkeeper.errors import InputError
from chartkeeper.versions import ChartVersion, Constraint

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
