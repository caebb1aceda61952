"""Unified diffs of rendered YAML that stay fast on 20,000-line CRDs.

`difflib.unified_diff` compares the whole of both texts, and its `SequenceMatcher` slows down sharply on long
texts whose many edits are spread out (a regenerated CRD whose descriptions changed everywhere: seconds per
CRD). Long texts are cut the way `git diff --patience` cuts them: the common head and tail are set aside,
lines that occur once on each side and in the same order are matched as anchors, the stretches between
anchors are cut the same way, and only stretches without such lines go through `SequenceMatcher`. Short texts go through `difflib` unchanged, so their diffs are
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
    blocks: list[tuple[int, int, int]] = []
    _match(a, b, 0, len(a), 0, len(b), blocks, 0)
    merged: list[list[int]] = []
    for x, y, size in sorted(blocks):  # adjacent blocks are one, as SequenceMatcher reports them
        if merged and merged[-1][0] + merged[-1][2] == x and merged[-1][1] + merged[-1][2] == y:
            merged[-1][2] += size
        else:
            merged.append([x, y, size])
    return [difflib.Match(x, y, size) for x, y, size in merged] + [difflib.Match(len(a), len(b), 0)]


def _match(a: Sequence[str], b: Sequence[str], alo: int, ahi: int, blo: int, bhi: int,
           out: list[tuple[int, int, int]], depth: int) -> None:
    """Matching blocks of a[alo:ahi] and b[blo:bhi]: common head and tail, then lines unique to both
    stretches as anchors, recursively between them (lines repeated in the whole text are often unique
    in a stretch); a stretch without such lines, or too deep, goes to difflib."""
    head = 0
    while alo + head < ahi and blo + head < bhi and a[alo + head] == b[blo + head]:
        head += 1
    if head:
        out.append((alo, blo, head))
    alo, blo = alo + head, blo + head
    tail = 0
    while alo < ahi - tail and blo < bhi - tail and a[ahi - 1 - tail] == b[bhi - 1 - tail]:
        tail += 1
    if tail:
        out.append((ahi - tail, bhi - tail, tail))
    ahi, bhi = ahi - tail, bhi - tail
    if alo >= ahi or blo >= bhi:
        return
    anchors = _anchors(a, b, alo, ahi, blo, bhi) if depth < 32 else []
    if not anchors:
        for m in difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False).get_matching_blocks():
            if m.size:
                out.append((alo + m.a, blo + m.b, m.size))
        return
    ai, bi = alo, blo
    for i, j in anchors:
        _match(a, b, ai, i, bi, j, out, depth + 1)
        out.append((i, j, 1))
        ai, bi = i + 1, j + 1
    _match(a, b, ai, ahi, bi, bhi, out, depth + 1)


def _anchors(a: Sequence[str], b: Sequence[str], alo: int, ahi: int, blo: int, bhi: int) -> list[tuple[int, int]]:
    """Lines once in a[alo:ahi] and once in b[blo:bhi], paired, longest run in the same order (patience)."""
    count_a: dict[str, int] = {}
    for i in range(alo, ahi):
        count_a[a[i]] = -1 if a[i] in count_a else i
    count_b: dict[str, int] = {}
    for j in range(blo, bhi):
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
