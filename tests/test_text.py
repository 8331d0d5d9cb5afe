"""Weighted length: newer emoji, Mastodon and Bluesky rules (the platforms' own tables are in
test_conformance.py)."""

from __future__ import annotations

import warnings

import emoji
import pytest

from chatbot.counting import extract_urls_with_indices
from chatbot.text import hashtags_in, mentions_in, urls_in, weighted_length

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from twitter_text import parse_tweet


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Unicode 15.1 family (adult, adult, child): one emoji, weight 2.
        ("\U0001f9d1\u200d\U0001f9d1\u200d\U0001f9d2", 2),
        # Unicode 15.0 phoenix (bird + ZWJ + fire).
        ("\U0001f426\u200d\U0001f525", 2),
        # Unicode 14 and 15 single code points.
        ("\U0001fae0 \U0001fae8", 5),
        # Unicode 13 people holding hands with skin tones.
        ("\U0001f9d1\U0001f3fb\u200d\U0001f91d\u200d\U0001f9d1\U0001f3ff", 2),
        # Unicode 12.1 / 13 ZWJ in a sentence.
        ("Read with us \U0001f9d1\u200d\U0001f4bb!", 16),
    ],
)
def test_emoji_newer_than_unicode_12_count_two(text: str, expected: int) -> None:
    assert weighted_length(text, "x") == expected


def test_stale_port_miscounts_what_we_count_right() -> None:
    family = "\U0001f9d1\u200d\U0001f9d1\u200d\U0001f9d2"
    assert parse_tweet(family).weightedLength == 8  # the PyPI port's Unicode 12 table
    assert weighted_length(family) == 2


def test_agrees_with_reference_port_on_every_emoji_up_to_unicode_12() -> None:
    """On emoji the port knows (Unicode <= 12), both must agree exactly."""
    checked = 0
    for symbol, data in emoji.EMOJI_DATA.items():
        if data.get("E", 99) > 12 or data.get("status", 2) > 2:
            continue
        text = f"a{symbol} b"
        assert weighted_length(text) == parse_tweet(text).weightedLength, repr(symbol)
        checked += 1
    assert checked > 3000


def test_mastodon_counts_urls_as_23_and_remote_mentions_locally() -> None:
    url = "https://www.ala.org/advocacy/intfreedom/librarybill/interpretations/privacy-and-more"
    assert weighted_length(f"Read {url}", "mastodon") == 5 + 23
    assert weighted_length("hi @lfp@mastodon.social", "mastodon") == len("hi @lfp")
    # Graphemes: a ZWJ family is one character on Mastodon.
    assert weighted_length("\U0001f468\u200d\U0001f469\u200d\U0001f467", "mastodon") == 1


def test_bluesky_counts_graphemes_and_full_urls() -> None:
    assert weighted_length("e\u0301", "bluesky") == 1
    assert weighted_length("https://example.org/a", "bluesky") == len("https://example.org/a")
    assert (
        weighted_length(
            "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", "bluesky"
        )
        == 1
    )


def test_unknown_platform_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown platform 'myspace'"):
        weighted_length("hi", "myspace")


def test_entities() -> None:
    text = "Join #LFPchat with @libraryfreedom: https://libraryfreedom.org/ and #FaceSurveillance"
    assert hashtags_in(text) == ["LFPchat", "FaceSurveillance"]
    assert mentions_in(text) == ["libraryfreedom"]
    assert urls_in(text) == ["https://libraryfreedom.org/"]


def test_ascii_grapheme_shortcut_agrees_with_the_full_rule() -> None:
    """Every ASCII character is a cluster of its own except CR LF: the shortcut must count as
    the extended-grapheme rule does, control characters and line endings included."""
    import random

    import regex

    from chatbot.counting import graphemes

    rng = random.Random(7)
    alphabet = "ab \r\n\t\x00\x1f\x7f#@"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert graphemes(text) == len(regex.findall(r"\X", text)), repr(text)


def test_url_extraction_run_by_run_finds_exactly_what_the_port_finds() -> None:
    """The extractor searches between spaces (the port's single pattern is quadratic on long
    dotted runs); it must find exactly the port's URLs, at the same places, on URL-shaped
    text: tricky preceding characters, full-width spaces, IDN, t.co, ports, directional marks."""
    import random

    from chatbot.counting.x import _url_extractor, extract_urls_with_indices

    port = _url_extractor()
    pieces = [
        "http://", "https://", "www.", "a", "b.", ".com", ".co", ".jp", "/", "?", "=", "&",
        " ", "\u3000", "\n", "(", ")", "t.co/", "x", ".", "-", "@", "#", "é", "日本", ".みんな",
        "xn--p1ai", ":8080", "ab", "...", "\u200e", "\u202a", "\ufeff",
    ]  # fmt: skip
    rng = random.Random(2026)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 16))) for _ in range(6000)]
    texts += ["Read https://ala.org/x. ét.co/y and example.com/a?b=c#d", " éx.jp (t.co/abc)"]
    differing = [t for t in texts if extract_urls_with_indices(t) != port(t)]
    assert differing == []
    assert sum(bool(port(t)) for t in texts) > 1000, "the sample holds many URLs"


def test_a_long_dotted_run_has_no_url() -> None:
    assert extract_urls_with_indices("@" + "a." * 6000) == []
    assert weighted_length("word" + "." * 3000, "x") == 3004


def test_mastodon_urls_run_by_run_are_the_whole_texts_urls() -> None:
    """Mastodon's URLs are searched between the spaces no URL part may hold (a query may
    hold a full-width space) and only in runs with ``://`` and a top-level domain: the same
    URLs as the pattern over the whole text, without its quadratic scan of dotted runs."""
    import random

    from chatbot.counting.mastodon import _matches, _urls

    pieces = [
        "http://", "https://", "gemini://", "www.", "a", "b.", ".com", ".co", ".jp", "/", "?",
        "=", "&", " ", "\u3000", "\n", "(", ")", "t.co/", "x", ".", "-", "@", "é", "日本",
        ".みんな", "xn--p1ai", ":8080", "...", "\u180e", "「", "」", "'", "<", "\u00a0", "\x85",
    ]  # fmt: skip
    rng = random.Random(17)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 16))) for _ in range(6000)]
    assert [t for t in texts if _urls(t) != _matches(t)] == []
    assert sum(bool(_matches(t)) for t in texts) > 100, "the sample holds URLs"
    assert weighted_length("note: " + "a." * 3000, "mastodon") == 6006
