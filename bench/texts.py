"""Distinct post texts for benchmarks: seeded, so every run writes the same content, and shaped
like a blast written by people: common words and the campaign's own terms in every post, the
rest drawn from a vocabulary of a few thousand words with Zipf's frequencies (as natural
language has), so two unrelated posts share their common words and little else."""

from __future__ import annotations

import itertools
import random

COMMON = (  # noqa: SIM905 - a paragraph reads better than a list of strings
    "the a to of and in for is your our we on at with this it be are that you can not "
    "by from will us"
).split()
CAMPAIGN = (  # noqa: SIM905
    "libraries library patrons privacy face surveillance cameras vendors council trustees "
    "policy data records consent readers branches staff police contracts hearing ban "
    "community trust rights oversight campaign"
).split()
_ONSETS = "b c d f g h j k l m n p r s t v w br cl dr fl gr pl st tr".split()  # noqa: SIM905
_VOWELS = "a e i o u ai ea io ou".split()  # noqa: SIM905
_CODAS = ["", "n", "r", "s", "l", "t", "nd", "st", "ng"]


def _vocabulary(size: int, rng: random.Random) -> list[str]:
    """``size`` pronounceable made-up words (real words would need a word list to ship)."""
    syllables = [o + v + c for o, v, c in itertools.product(_ONSETS, _VOWELS, _CODAS)]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.choice((1, 2, 2, 3)))))
    return sorted(words)


def distinct_texts(count: int, seed: int = 7, hashtag: str = "#BanFaceSurveillance") -> list[str]:
    rng = random.Random(seed)
    vocabulary = _vocabulary(3000, rng)
    rng.shuffle(vocabulary)  # the frequent words anywhere in the alphabet
    # Zipf's law: the n-th most frequent word is 1/n as frequent as the first
    cumulative = list(itertools.accumulate(1 / rank for rank in range(1, len(vocabulary) + 1)))
    texts = []
    for number in range(count):
        words = rng.choices(vocabulary, cum_weights=cumulative, k=8) + rng.sample(CAMPAIGN, 3)
        words += rng.sample(COMMON, 5)
        rng.shuffle(words)
        texts.append(f"{' '.join(words).capitalize()} ({number}) {hashtag}")
    return texts
