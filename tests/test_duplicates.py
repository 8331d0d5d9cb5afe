"""The near-duplicate rule at any size: the same pairs as a search of every pair would find,
for each kind of edit a partner makes, and never quadratic work."""

from __future__ import annotations

import difflib
import random

import pytest

from bench.texts import distinct_texts
from chatbot.vision import duplicates
from chatbot.vision.duplicates import find_near_duplicates, normalise, similarity

ORIGINAL = (
    "Face surveillance has no place in our libraries. Ask your trustees to ban it, "
    "and join the #LFPchat on Thursday"
)
EDITS = {
    "small edit": "Face surveillance has no place in your libraries! Ask the trustees to ban it, "
    "and join the #LFPchat on Thursday",
    "reordered clauses": "Ask your trustees to ban it, and join the #LFPchat on Thursday. "
    "Face surveillance has no place in our libraries",
    "added hashtags": ORIGINAL + " #LibraryPrivacy #BanFaceSurveillance",
    "added link": ORIGINAL + " https://example.org/ban-face-surveillance?utm_source=x",
    "case and spacing": ORIGINAL.upper().replace(" ", "   "),
}
UNRELATED = (
    "Our county council votes on the police camera contract next Tuesday: write to them today",
    "Ask your library vendor in writing whether it collects face images of patrons",
)


@pytest.mark.parametrize("kind", sorted(EDITS))
def test_each_kind_of_edit_is_caught_naming_the_original(kind: str) -> None:
    texts = [ORIGINAL, *UNRELATED, EDITS[kind]]
    [match] = find_near_duplicates(texts, ["lfp", "njla", "mla", "nela"], 0.8)
    assert (match.index, match.other) == (3, 0)
    assert 0.8 <= match.score <= 1


def test_one_account_and_distinct_texts_are_not_compared() -> None:
    assert find_near_duplicates([ORIGINAL, EDITS["small edit"]], ["lfp", "lfp"], 0.8) == []
    assert find_near_duplicates([ORIGINAL, *UNRELATED], ["a", "b", "c"], 0.8) == []


def test_never_below_what_difflib_said() -> None:
    """The rule used difflib before: every pair it caught at a threshold is still caught."""
    rng = random.Random(5)
    texts = distinct_texts(60, seed=3)
    for base in texts[:30]:
        words = base.split()
        for _ in range(3):
            edited = list(words)
            edited[rng.randrange(len(edited))] = rng.choice(["really", "now", "ours"])
            other = " ".join(edited)
            old = difflib.SequenceMatcher(None, normalise(base), normalise(other)).ratio()
            assert similarity(base, other) >= old - 1e-9


def _pairwise(texts: list[str], owners: list[str], threshold: float) -> set[int]:
    """What comparing every pair finds: each post with an earlier one of another account."""
    found = set()
    for j in range(len(texts)):
        if any(
            owners[i] != owners[j] and similarity(texts[i], texts[j]) >= threshold for i in range(j)
        ):
            found.add(j)
    return found


def test_the_same_posts_as_comparing_every_pair() -> None:
    rng = random.Random(11)
    texts = distinct_texts(300, seed=9)
    for base in list(texts[::10]):
        words = base.split()
        half = len(words) // 2
        variants = [
            " ".join(w + ("s" if i == 3 else "") for i, w in enumerate(words)),
            " ".join("really" if i in (2, 7) else w for i, w in enumerate(words)),
            " ".join(words[half:]) + ", " + " ".join(words[:half]),
            base + " #LibraryPrivacy https://example.org/x",
            base,  # a copy, word for word
        ]
        texts.extend(rng.sample(variants, 3))
    owners = [f"p{i % 20}" for i in range(len(texts))]
    matches = find_near_duplicates(texts, owners, 0.8)
    assert {m.index for m in matches} == _pairwise(texts, owners, 0.8)
    for m in matches:
        assert owners[m.index] != owners[m.other] and m.other < m.index
        assert m.score == pytest.approx(similarity(texts[m.index], texts[m.other]))


def test_a_crowd_of_copies_costs_one_comparison_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thousand accounts' worth of one text: each copy is matched without comparing it with
    every other copy."""
    calls = 0
    real = duplicates._candidates

    def counting(keys):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += len(keys)
        return real(keys)

    monkeypatch.setattr(duplicates, "_candidates", counting)
    texts = [ORIGINAL] * 1000 + list(UNRELATED)
    matches = find_near_duplicates(texts, [f"p{i}" for i in range(len(texts))], 0.8)
    assert [m.index for m in matches] == list(range(1, 1000))
    assert all(m.other == 0 and m.score == 1.0 for m in matches)
    assert calls == 3  # the three distinct texts, not 1,002 posts


def test_results_do_not_depend_on_the_process() -> None:
    """The hashes are seeded (not Python's per-process hash): same findings at every run."""
    import subprocess
    import sys

    code = (
        "from bench.texts import distinct_texts\n"
        "from chatbot.vision.duplicates import find_near_duplicates\n"
        "t = distinct_texts(300, seed=2); t += [x + ' #More' for x in t[::7]]\n"
        "print([(m.index, m.other) for m in find_near_duplicates(t, [i % 5 for i in "
        "range(len(t))], 0.8)])\n"
    )
    from tests.conftest import ROOT

    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(runs) == 1 and "(" in runs.pop()
