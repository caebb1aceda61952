"""The deployment's CHANGELOG.md gets one list item under Unreleased, nothing else changes."""

from __future__ import annotations

from chartkeeper.bump.changelog import insert_entry

BASE = """# Changelog

Notes we keep by hand.

## [Unreleased]

### Added
- monitoring dashboards

### Changed
- raised the NFS timeout
  (wrapped line of the same item)

## [1.2.0] - 2025-08-01
### Changed
- older
"""


def test_appends_to_existing_changed_section() -> None:
    out = insert_entry(BASE, "Bump x 1 → 2")
    assert out == BASE.replace(
        "  (wrapped line of the same item)\n", "  (wrapped line of the same item)\n- Bump x 1 → 2\n"
    )


def test_adds_subsection_when_missing() -> None:
    text = "# Changelog\n\n## [Unreleased]\n\n### Added\n- a\n\n## [1.0.0]\n- b\n"
    assert insert_entry(text, "Bump") == (
        "# Changelog\n\n## [Unreleased]\n\n### Added\n- a\n\n### Changed\n- Bump\n\n## [1.0.0]\n- b\n"
    )


def test_adds_unreleased_above_first_release() -> None:
    text = "# Changelog\n\nIntro.\n\n## [1.0.0] - 2025-01-01\n- b\n"
    assert insert_entry(text, "Bump") == (
        "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n### Changed\n- Bump\n\n## [1.0.0] - 2025-01-01\n- b\n"
    )


def test_new_file_and_crlf() -> None:
    assert "## [Unreleased]\n\n### Changed\n- Bump\n" in insert_entry("", "Bump")
    crlf = "# C\r\n\r\n## [Unreleased]\r\n### Changed\r\n- a\r\n"
    assert insert_entry(crlf, "b") == crlf + "- b\r\n"
