"""Unified diffs of long rendered texts (chartkeeper.analysis.textdiff): each one rebuilds NEW from OLD, and
short texts get exactly difflib's diff."""

from __future__ import annotations

import difflib
import random
import re

from hypothesis import given, settings, strategies as st

from chartkeeper.analysis.textdiff import LONG, unified_diff

HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def _apply(a: list[str], diff: str) -> list[str]:
    """Apply a unified diff to `a` (what `patch` does), checking every context and removed line."""
    out: list[str] = []
    pos = 0
    lines = diff.splitlines(keepends=True)[2:]
    k = 0
    while k < len(lines):
        m = HUNK.match(lines[k])
        assert m, lines[k]
        start = int(m.group(1)) - (0 if m.group(2) == "0" else 1)
        out += a[pos:start]
        pos = start
        k += 1
        while k < len(lines) and not lines[k].startswith("@@"):
            tag, text = lines[k][0], lines[k][1:]
            if tag in " -":
                assert a[pos] == text
                pos += 1
            if tag in " +":
                out.append(text)
            k += 1
    return out + a[pos:]


def _yamlish(rng: random.Random, n: int) -> list[str]:
    # few distinct lines, many repeats: what a CRD's dump looks like to a line matcher
    words = ["type: string\n", "type: object\n", "properties:\n", "description: The field.\n"]
    return [rng.choice(words) if rng.random() < 0.7 else f"field{rng.randrange(n)}:\n" for _ in range(n)]


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=LONG // 2 + 1, max_value=LONG * 2))
def test_long_diffs_rebuild_new(seed: int, n: int) -> None:
    rng = random.Random(seed)
    a = _yamlish(rng, n)
    b = list(a)
    for _ in range(rng.randrange(1, 60)):
        i = rng.randrange(len(b))
        op = rng.randrange(3)
        if op == 0:
            b[i] = f"changed{rng.randrange(9)}\n"
        elif op == 1:
            del b[i]
        else:
            b.insert(i, rng.choice(a))
    d = unified_diff(a, b, "old/x", "new/x")
    assert d.startswith("--- old/x\n+++ new/x\n@@ ")
    assert _apply(a, d) == b


def test_short_texts_are_difflibs_own() -> None:
    a = [f"line {i}\n" for i in range(100)]
    b = a[:10] + ["new\n"] + a[12:]
    assert unified_diff(a, b, "o", "n") == "".join(difflib.unified_diff(a, b, fromfile="o", tofile="n", n=3))
    assert unified_diff(a, a, "o", "n") == ""
