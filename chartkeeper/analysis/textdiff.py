"""Unified diffs of rendered YAML that stay fast on 20,000-line CRDs.

`difflib.unified_diff` compares the whole of both texts, and its `SequenceMatcher` slows down sharply on long
texts whose many edits are spread out (a regenerated CRD whose descriptions changed everywhere: seconds per
CRD). Long texts are first cut the way `git diff --patience` cuts them: the common head and tail are set
aside, lines that occur once on each side and in the same order are matched as anchors, and only the stretches
between anchors go through `SequenceMatcher`. Short texts go through `difflib` unchanged, so their diffs are
exactly what they were.
"""

from __future__ import annotations

import bisect
import difflib
from typing import Iterator, Sequence

LONG = 3000  # lines on both sides together above which the anchored matching is used


def unified_diff(a: Sequence[str], b: Sequence[str], fromfile: str, tofile: str, n: int = 3) -> str:
    if len(a) + len(b) <= LONG:
        return "".join(difflib.unified_diff(a, b, fromfile=fromfile, tofile=tofile, n=n))
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    sm.matching_blocks = _anchored_blocks(a, b)  # get_opcodes reads the blocks from here
    return "".join(_format(sm, a, b, fromfile, tofile, n))


def _anchored_blocks(a: Sequence[str], b: Sequence[str]) -> list[difflib.Match]:
    head = 0
    while head < len(a) and head < len(b) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < len(a) - head and tail < len(b) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    blocks: list[tuple[int, int, int]] = [(0, 0, head)] if head else []
    ai, bi = head, head
    for i, j in _anchors(a, b, head, len(a) - tail, len(b) - tail) + [(len(a) - tail, len(b) - tail)]:
        # the stretch before this anchor, matched by difflib alone (short: anchors are dense in YAML)
        for m in difflib.SequenceMatcher(None, a[ai:i], b[bi:j], autojunk=False).get_matching_blocks():
            if m.size:
                blocks.append((ai + m.a, bi + m.b, m.size))
        if i < len(a) - tail:
            blocks.append((i, j, 1))
        ai, bi = i + 1, j + 1
    if tail:
        blocks.append((len(a) - tail, len(b) - tail, tail))
    merged: list[list[int]] = []
    for x, y, size in blocks:  # adjacent blocks are one, as SequenceMatcher reports them
        if merged and merged[-1][0] + merged[-1][2] == x and merged[-1][1] + merged[-1][2] == y:
            merged[-1][2] += size
        else:
            merged.append([x, y, size])
    return [difflib.Match(x, y, size) for x, y, size in merged] + [difflib.Match(len(a), len(b), 0)]


def _anchors(a: Sequence[str], b: Sequence[str], lo: int, a_hi: int, b_hi: int) -> list[tuple[int, int]]:
    """Lines once in a[lo:a_hi] and once in b[lo:b_hi], paired, longest run in the same order (patience)."""
    count_a: dict[str, int] = {}
    for i in range(lo, a_hi):
        count_a[a[i]] = -1 if a[i] in count_a else i
    count_b: dict[str, int] = {}
    for j in range(lo, b_hi):
        count_b[b[j]] = -1 if b[j] in count_b else j
    pairs = [(i, count_b[line]) for line, i in count_a.items()
             if i >= 0 and count_b.get(line, -1) >= 0]
    pairs.sort()
    # longest increasing subsequence of the b positions (patience sorting with back links)
    tops: list[int] = []
    top_index: list[int] = []
    back: list[int] = []
    for k, (_i, j) in enumerate(pairs):
        pos = bisect.bisect_left(tops, j)
        back.append(top_index[pos - 1] if pos else -1)
        if pos == len(tops):
            tops.append(j)
            top_index.append(k)
        else:
            tops[pos] = j
            top_index[pos] = k
    out: list[tuple[int, int]] = []
    k = top_index[-1] if top_index else -1
    while k >= 0:
        out.append(pairs[k])
        k = back[k]
    return out[::-1]


def _range(start: int, stop: int) -> str:
    """difflib's unified range: `start,length` (1-based; an empty range names the line before it)."""
    beginning, length = start + 1, stop - start
    if length == 1:
        return str(beginning)
    if not length:
        beginning -= 1
    return f"{beginning},{length}"


def _format(sm: difflib.SequenceMatcher, a: Sequence[str], b: Sequence[str], fromfile: str, tofile: str,
            n: int) -> Iterator[str]:
    """`difflib.unified_diff`'s output for the matcher given (its loop, with our matching blocks)."""
    started = False
    for group in sm.get_grouped_opcodes(n):
        if not started:
            started = True
            yield f"--- {fromfile}\n"
            yield f"+++ {tofile}\n"
        first, last = group[0], group[-1]
        yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line in a[i1:i2]:
                    yield " " + line
                continue
            if tag in ("replace", "delete"):
                for line in a[i1:i2]:
                    yield "-" + line
            if tag in ("replace", "insert"):
                for line in b[j1:j2]:
                    yield "+" + line
