"""Near-duplicate posts across accounts, in time near-linear in the number of posts.

X's automation rules forbid identical or substantially similar posts from several accounts. The
measure (``similarity``) is exact; what scales is choosing which pairs to measure:

1. Texts are normalised (case, spacing, links removed) and identical texts are grouped, so a
   thousand copies of one text cost one comparison each.
2. Candidate pairs come from MinHash locality-sensitive hashing over each text's words and word
   pairs: ``BANDS`` bands of ``ROWS`` hashes each; two texts are candidates when all the hashes
   of one band agree. A pair whose word sets overlap by Jaccard ``J`` is a candidate with
   probability ``1 - (1 - J**ROWS)**BANDS``: 99.9% at J = 0.6, 96% at 0.45. Posts that are 80%
   similar by ``similarity`` share far more than that (the tests check every kind of edit the
   rule is meant for against a pairwise search, and the hashes are seeded, so a result is the
   same at every run).
3. Each candidate pair is measured exactly with rapidfuzz (C++), most likely pairs first.

Cost: linear in the total number of words, plus the candidates, which grow with how alike the
texts really are, not with the square of their number.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatbot.text import urls_in

if TYPE_CHECKING:
    import numpy as np

BANDS = 32
ROWS = 6
# A post compared with this many candidates without a match is given up on: only a crowd of
# texts that are alike but each under the threshold (a mail merge of short texts) gets there.
MAX_CANDIDATES = 400
_WORD = re.compile(r"[#@]?\w+")
_CLAUSE = re.compile(r"\s*[,.;:!?\u2014\u2013]+\s*|\s+-\s+")
_SEED = 20_240_611


def normalise(text: str) -> str:
    """What the comparison sees: lower case, links removed, spacing folded."""
    for url in urls_in(text):
        text = text.replace(url, " ")
    return " ".join(text.lower().split())


def _clauses_sorted(norm: str) -> str:
    return " ".join(sorted(part for part in _CLAUSE.split(norm) if part))


def similarity(a: str, b: str) -> float:
    """0..1: how alike two posts' wording is, ignoring case, links and spacing, and the order
    of their clauses.

    The larger of two Indel ratios (``2 * LCS / (len(a) + len(b))`` over characters): of the
    normalised texts, and of the texts with their clauses (split at , . ; : ! ? and dashes)
    sorted. The first is never below ``difflib.SequenceMatcher.ratio``, which this rule used
    before; the second catches the same sentences said in another order."""
    from rapidfuzz.fuzz import ratio

    na, nb = normalise(a), normalise(b)
    return max(ratio(na, nb), ratio(_clauses_sorted(na), _clauses_sorted(nb))) / 100


@dataclass(frozen=True)
class Match:
    """Post ``index`` is ``score`` similar to the earlier post ``other``."""

    index: int
    other: int
    score: float


def _tokens(norm: str) -> list[str]:
    return _WORD.findall(norm) or [norm]


def _band_keys(texts: Sequence[str]) -> np.ndarray:
    """One 64-bit key per text and band (shape: texts x BANDS)."""
    import numpy as np

    rng = np.random.default_rng(_SEED)
    perms = BANDS * ROWS
    mul = rng.integers(1, 2**63, perms, dtype=np.uint64) | np.uint64(1)
    add = rng.integers(0, 2**63, perms, dtype=np.uint64)
    hashes: list[int] = []
    starts: list[int] = []
    for text in texts:
        starts.append(len(hashes))
        # crc32, not hash(): Python's string hash changes at every start, the findings must not
        hashes.extend(zlib.crc32(token.encode()) for token in _tokens(text))
    with np.errstate(over="ignore"):
        base = np.array(hashes, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        base ^= base >> np.uint64(29)
        index = np.array(starts, dtype=np.intp)
        keys = np.zeros((len(texts), BANDS), dtype=np.uint64)
        for k in range(perms):
            mixed = base * mul[k] + add[k]
            mixed ^= mixed >> np.uint64(31)
            minima = np.minimum.reduceat(mixed, index)
            keys[:, k // ROWS] = keys[:, k // ROWS] * np.uint64(0x100000001B3) ^ minima
    return keys


def _candidates(keys: np.ndarray) -> dict[int, dict[int, int]]:
    """For each text, the other texts sharing a band with it, with how many bands (in a crowd,
    only the ``MAX_CANDIDATES`` nearest in content order on each side)."""
    import numpy as np

    found: dict[int, dict[int, int]] = {}
    for band in range(keys.shape[1]):
        column = keys[:, band]
        order = np.argsort(column, kind="stable")
        ordered = column[order]
        # runs of equal keys are the buckets; most hold one text
        edges = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
        starts = np.concatenate(([0], edges))
        sizes = np.diff(np.concatenate((starts, [len(order)])))
        shared = np.flatnonzero(sizes > 1)
        for start, size in zip(starts[shared].tolist(), sizes[shared].tolist(), strict=True):
            members = sorted(order[start : start + size].tolist())
            for position, text in enumerate(members):
                row = found.setdefault(text, {})
                low = max(0, position - MAX_CANDIDATES)
                for other in members[low : position + MAX_CANDIDATES + 1]:
                    if other != text:
                        row[other] = row.get(other, 0) + 1
    return found


def find_near_duplicates(
    texts: Sequence[str], owners: Sequence[Hashable], threshold: float
) -> list[Match]:
    """For each text, one earlier text of another owner at least ``threshold`` similar (the
    likeliest such), if any. ``owners``: who posts each text (the rule passes the account);
    texts of one owner are never compared with each other."""
    from rapidfuzz.fuzz import ratio

    norms = [normalise(t) for t in texts]
    # 1. identical texts: one representative each, with its first post and the first post of
    # an owner other than that one's (enough to find, in O(1), the earliest copy by anyone
    # other than a given owner)
    unique: dict[str, int] = {}
    first_post: list[int] = []
    first_other: list[int | None] = []
    rep_of: list[int] = []
    for index, (norm, owner) in enumerate(zip(norms, owners, strict=True)):
        rep = unique.setdefault(norm, len(unique))
        if rep == len(first_post):
            first_post.append(index)
            first_other.append(None)
        elif first_other[rep] is None and owners[first_post[rep]] != owner:
            first_other[rep] = index
        rep_of.append(rep)
    reps = list(unique)

    def earliest_other(rep: int, owner: Hashable, before: int) -> int | None:
        """The first post of text ``rep`` by an owner other than ``owner``, before ``before``."""
        first = first_post[rep]
        found = first if owners[first] != owner else first_other[rep]
        return found if found is not None and found < before else None

    clauses: dict[int, str] = {}  # sorted clauses, for the texts that are scored
    cutoff = threshold * 100

    def sorted_clauses(rep: int) -> str:
        if rep not in clauses:
            clauses[rep] = _clauses_sorted(reps[rep])
        return clauses[rep]

    def score(a: int, b: int) -> float:
        best = ratio(reps[a], reps[b], score_cutoff=cutoff)
        if best < 100:
            best = max(best, ratio(sorted_clauses(a), sorted_clauses(b), score_cutoff=cutoff))
        return best / 100

    # 2. candidate pairs of distinct texts
    candidates = _candidates(_band_keys(reps)) if len(reps) > 1 else {}
    matches: list[Match] = []
    for index, (rep, owner) in enumerate(zip(rep_of, owners, strict=True)):
        same = earliest_other(rep, owner, index)  # the same words, earlier, by someone else
        if same is not None:
            matches.append(Match(index, same, 1.0))
            continue
        row = candidates.get(rep)
        if not row:
            continue
        ranked = sorted(row, key=lambda other: (-row[other], other))[:MAX_CANDIDATES]
        for other_rep in ranked:
            earlier = earliest_other(other_rep, owner, index)
            if earlier is None:
                continue
            value = score(rep, other_rep)
            if value >= threshold:
                matches.append(Match(index, earlier, value))
                break
    return matches
