import pytest

from chartkeeper.errors import InputError
from chartkeeper.versions import ChartVersion, Constraint, newest, parse_versions, resolve_target, update_kind

CASES = [
    # constraint, version, allowed
    ("v25.x", "v25.3.2", True),
    ("v25.x", "25.10.0", True),
    ("v25.x", "v26.3.0", False),
    ("25.3.x", "v25.3.9", True),
    ("25.3.x", "25.4.0", False),
    ("v4.x", "4.13.4", True),
    ("~61.9", "61.9.9", True),
    ("~61.9", "61.10.0", False),
    ("~1", "1.9.0", True),
    ("~1.2.3", "1.2.9", True),
    ("~1.2.3", "1.3.0", False),
    ("^1.2", "1.9.9", True),
    ("^1.2", "2.0.0", False),
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.4", False),
    (">=4.9 <5", "4.13.4", True),
    (">=4.9 <5", "5.0.0", False),
    (">=4.9, <5", "4.8.9", False),
    (">= 4.9", "4.9.0", True),
    (">1.2", "1.3.0", True),
    (">1.2", "1.2.1", False),  # Masterminds: the wildcarded patch makes ">1.2" mean ">=1.3"
    ("<=1.2", "1.2.9", True),
    ("1.2 - 1.4", "1.4.9", True),
    ("1.2 - 1.4.0", "1.4.1", False),
    ("=1.2.3", "v1.2.3", True),
    ("1.2.3", "1.2.4", False),
    ("!=1.2.3", "1.2.4", True),
    ("1.x || >=3", "3.1.0", True),
    ("1.x || >=3", "2.0.0", False),
    ("*", "0.0.1", True),
    ("v25.x", "25.3.0-rc.1", False),
    (">=1.0.0-0", "1.0.0-rc.1", True),
]


@pytest.mark.parametrize("constraint,version,allowed", CASES)
def test_constraint_table(constraint: str, version: str, allowed: bool) -> None:
    assert Constraint.parse(constraint).allows(ChartVersion.parse(version)) is allowed


def test_mixed_v_prefix_orders_numerically() -> None:
    # csi-driver-nfs went from v4.10.0 to 4.11.0: the prefix must not matter.
    versions, bad = parse_versions(["v4.9.0", "v4.10.0", "4.11.0", "4.13.4", "4.13.5-rc.1", "latest", "4.12"])
    assert bad == ["latest", "4.12"]
    assert str(newest(versions)) == "4.13.4"
    assert str(newest(versions, Constraint.parse("v4.x"))) == "4.13.4"
    assert str(newest(versions, pre=True)) == "4.13.5-rc.1"
    assert str(newest(versions, Constraint.parse("~4.10"))) == "v4.10.0"


def test_prerelease_ordering_and_build_metadata() -> None:
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]
    parsed = [ChartVersion.parse(v) for v in order]
    assert sorted(reversed(parsed)) == parsed
    assert ChartVersion.parse("1.0.0+build.1") == ChartVersion.parse("v1.0.0+other")


def test_precedence_is_the_semver_librarys(monkeypatch: pytest.MonkeyPatch) -> None:
    """SemVer 2 parsing and ordering run through the `semver` library; the `v` prefix is ours."""
    import semver

    calls: list[tuple[str, str]] = []
    compare = semver.Version.compare

    def counting(self: semver.Version, other: semver.Version) -> int:
        calls.append((str(self), str(other)))
        return compare(self, other)

    monkeypatch.setattr(semver.Version, "compare", counting)
    assert ChartVersion.parse("v4.10.0-rc.2") < ChartVersion.parse("4.10.0")
    assert calls == [("4.10.0-rc.2", "4.10.0")]
    parsed = []
    monkeypatch.setattr(semver.Version, "parse", classmethod(lambda cls, t, *a: parsed.append(t) or semver.Version(1, 2, 3)))
    assert ChartVersion.parse("V9.9.9").core == (1, 2, 3)  # what semver read, not a parse of our own
    assert parsed == ["9.9.9"]


@pytest.mark.parametrize("bad", ["25.3", "v", "1.2.3.4", "01.2.3", "1.2.3-01", "", "latest"])
def test_invalid_versions(bad: str) -> None:
    assert ChartVersion.try_parse(bad) is None
    with pytest.raises(InputError, match="is not a valid chart version"):
        ChartVersion.parse(bad)


@pytest.mark.parametrize("bad", ["", "abc", ">=", "1.2.3.4", ">=1 ||", "~>"])
def test_invalid_constraints(bad: str) -> None:
    with pytest.raises(InputError, match="constraint"):
        Constraint.parse(bad)


def test_update_kind_and_targets() -> None:
    v = ChartVersion.parse
    assert update_kind(v("v25.3.2"), v("25.3.4")) == "patch"
    assert update_kind(v("25.3.2"), v("25.10.0")) == "minor"
    assert update_kind(v("25.3.2"), v("v26.3.0")) == "major"
    assert update_kind(v("25.3.2"), v("25.3.2")) == "none"
    assert update_kind(v("25.3.2"), v("25.3.1")) == "downgrade"
    pub, _ = parse_versions(["v25.3.2", "v25.10.1", "v26.3.0"])
    assert str(resolve_target("25.10.1", pub)) == "v25.10.1"  # any spelling finds the published one
    assert str(resolve_target("v25.x", pub)) == "v25.10.1"
    assert resolve_target("9.9.9", pub) is None
