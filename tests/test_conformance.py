"""Counting and linking exactly as each platform does, proven on the platforms' own test tables.

The tables are the platforms' teams' own (twitter-text's ``validate.yml`` and ``extract.yml``,
the Mastodon spec cases of ``StatusLengthValidator``, ``MENTION_RE`` and the text formatter, the
atproto reference implementation's rich-text tables), kept with their sources and licences in
``../shared/conformance/`` and read from there, never copied here. One test item per case, so a
failure names its case. Cases the project does not claim are listed with the reason and skipped;
our own cases sit beside the tables at the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatbot.counting import (
    bluesky_entities,
    find_facets,
    graphemes,
    mastodon_entities,
    mastodon_length,
    urls_in,
    x_weighted_length,
)
from chatbot.counting.x import x_hashtags, x_mentions
from chatbot.platforms import platform_named
from chatbot.text import weighted_length

TABLES = Path(__file__).resolve().parents[1].parent / "shared" / "conformance"

# Groups of twitter-text's tables that the tool does not claim, with the reason.
X_OUT_OF_SCOPE = {
    "tweets": "validity under the 140-character v1 rule, which X no longer applies",
    "WeightedTweetsCounterTest": "twitter-text v2 configuration (emoji not discounted); X uses v3",
    "usernames": "isValidUsername: the tool never validates a username on its own",
    "lists": "isValidList: the tool posts no list references",
    "hashtags": "isValidHashtag: the tool does not validate a hashtag on its own",
    "urls": "isValidUrl (RFC 3986 validation of one URL), not what X links or counts",
    "urls_without_protocol": "isValidUrl without a scheme: validation, not what X links",
}
X_LENGTH_GROUPS = (
    "WeightedTweetsWithDiscountedEmojiCounterTest",
    "UnicodeDirectionalMarkerCounterTest",
)


def _absent(name: str) -> Any:
    return pytest.param(
        None,
        id="absent",
        marks=pytest.mark.skip(
            reason=f"{TABLES / name} is absent: the platforms' tables live in ../shared/conformance"
            " beside the checkout (CI always has them)"
        ),
    )


def _load(name: str) -> Any | None:
    path = TABLES / name
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else yaml.safe_load(text)


def _ident(index: int, label: str) -> str:
    printable = "".join(c if c.isascii() and c.isprintable() else "?" for c in label)
    return f"{index:02d}-{printable[:60]}"


def _cases(name: str, groups: Iterator[tuple[str, list[dict[str, Any]], str | None]]) -> list[Any]:
    params = []
    for group, cases, skip in groups:
        for index, case in enumerate(cases):
            label = str(case.get("description") or case.get("it") or case.get("context") or "")
            label = label or str(case.get("text", ""))
            reason = skip or (
                case.get("scope_reason") if case.get("scope", "in") == "out" else None
            )
            marks = [pytest.mark.skip(reason=f"out of scope: {reason}")] if reason else []
            params.append(pytest.param(case, id=f"{group}-{_ident(index, label)}", marks=marks))
    return params


def _x_params(groups: tuple[str, ...] | None) -> list[Any]:
    table = _load("twitter-text-validate.yml")
    if table is None:
        return [_absent("twitter-text-validate.yml")]
    tests = table["tests"]
    chosen = groups or tuple(name for name in tests if name not in X_LENGTH_GROUPS)
    return _cases(
        "validate",
        ((name, tests[name], X_OUT_OF_SCOPE.get(name)) for name in chosen),
    )


def _extract_params(group: str) -> list[Any]:
    table = _load("twitter-text-extract.yml")
    if table is None:
        return [_absent("twitter-text-extract.yml")]
    return _cases("extract", iter([(group, table["tests"][group], None)]))


def _json_params(name: str, groups: tuple[str, ...]) -> list[Any]:
    table = _load(name)
    if table is None:
        return [_absent(name)]
    return _cases(
        name.split("-")[0],
        (
            (
                group,
                table["groups"][group]["cases"],
                table["groups"][group].get("scope_reason")
                if table["groups"][group].get("scope", "in") == "out"
                else None,
            )
            for group in groups
        ),
    )


# -- X: twitter-text -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", _x_params(X_LENGTH_GROUPS))
def test_x_weighted_length(case: dict[str, Any]) -> None:
    expected = case["expected"]
    length = x_weighted_length(case["text"])
    assert length == expected["weightedLength"]
    valid = 0 < length <= 280 and not platform_named("x").refused_characters(case["text"])
    assert valid == expected["valid"]


@pytest.mark.parametrize("case", _x_params(None))
def test_x_groups_out_of_scope(case: dict[str, Any]) -> None:
    pytest.fail("every other validate.yml group is listed out of scope; this one is not")


@pytest.mark.parametrize("case", _extract_params("urls"))
def test_x_links_what_twitter_text_extracts(case: dict[str, Any]) -> None:
    assert urls_in(case["text"]) == case["expected"]


@pytest.mark.parametrize("case", _extract_params("urls_with_indices"))
def test_x_link_positions(case: dict[str, Any]) -> None:
    from chatbot.counting import extract_urls_with_indices

    found = [
        {"url": u["url"], "indices": list(u["indices"])}
        for u in extract_urls_with_indices(case["text"])
    ]
    assert found == case["expected"]


@pytest.mark.parametrize(
    "case", _extract_params("hashtags") + _extract_params("hashtags_from_astral")
)
def test_x_hashtags(case: dict[str, Any]) -> None:
    assert [tag for _, _, tag in x_hashtags(case["text"])] == case["expected"]


@pytest.mark.parametrize("case", _extract_params("hashtags_with_indices"))
def test_x_hashtag_positions(case: dict[str, Any]) -> None:
    found = [{"hashtag": t, "indices": [s, e]} for s, e, t in x_hashtags(case["text"])]
    assert found == case["expected"]


@pytest.mark.parametrize("case", _extract_params("mentions"))
def test_x_mentions(case: dict[str, Any]) -> None:
    assert [name for _, _, name in x_mentions(case["text"])] == case["expected"]


@pytest.mark.parametrize("case", _extract_params("mentions_with_indices"))
def test_x_mention_positions(case: dict[str, Any]) -> None:
    found = [{"screen_name": m, "indices": [s, e]} for s, e, m in x_mentions(case["text"])]
    assert found == case["expected"]


@pytest.mark.parametrize("case", _extract_params("mentions_or_lists_with_indices"))
def test_x_mentions_and_lists(case: dict[str, Any]) -> None:
    found = []
    for start, end, name in x_mentions(case["text"], lists=True):
        user, _, slug = name.partition("/")
        found.append(
            {"screen_name": user, "list_slug": f"/{slug}" if slug else "", "indices": [start, end]}
        )
    assert found == case["expected"]


# -- Mastodon ------------------------------------------------------------------------------------

MASTODON_GROUPS = ("status_length_validator", "mention_re", "text_formatter_urls")


@pytest.mark.parametrize("case", _json_params("mastodon-length.json", MASTODON_GROUPS))
def test_mastodon_length(case: dict[str, Any]) -> None:
    length = mastodon_length(case["text"])
    if case.get("length_exact", True):
        assert length == case["length"]
    if "over_limit" in case:
        assert (length > 500) == case["over_limit"]
    assert weighted_length(case["text"], "mastodon") == length


@pytest.mark.parametrize("case", _json_params("mastodon-length.json", ("mention_re",)))
def test_mastodon_mentions(case: dict[str, Any]) -> None:
    mentions = [e.value for e in mastodon_entities(case["text"]) if e.kind == "mention"]
    assert mentions == ([case["match"]] if case["match"] is not None else [])


@pytest.mark.parametrize("case", _json_params("mastodon-length.json", ("text_formatter_urls",)))
def test_mastodon_links(case: dict[str, Any]) -> None:
    links = [e.value for e in mastodon_entities(case["text"]) if e.kind == "link"]
    assert links == ([case["linked_url"]] if case["linked_url"] is not None else [])


# -- Bluesky -------------------------------------------------------------------------------------

BLUESKY_FACET_GROUPS = ("detect_facets", "detect_tags", "detect_cashtags")


def _as_table(text: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for facet in find_facets(text):
        key = {"link": "uri", "tag": "tag", "mention": "handle"}[facet.kind]
        out.append(
            {
                "type": facet.kind,
                "byteStart": facet.byte_start,
                "byteEnd": facet.byte_end,
                key: facet.value,
            }
        )
    return out


@pytest.mark.parametrize("case", _json_params("bluesky-richtext.json", BLUESKY_FACET_GROUPS))
def test_bluesky_facets(case: dict[str, Any]) -> None:
    assert _as_table(case["text"]) == case["facets"]


@pytest.mark.parametrize("case", _json_params("bluesky-richtext.json", ("grapheme_length",)))
def test_bluesky_graphemes(case: dict[str, Any]) -> None:
    assert graphemes(case["text"]) == case["graphemes"]
    assert weighted_length(case["text"], "bluesky") == case["graphemes"]
    if "utf8_length" in case:
        assert len(case["text"].encode("utf-8")) == case["utf8_length"]


# -- Our own cases, beside the tables ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A library's own URL with a trailing full stop and a partner's remote handle.
        ("Read https://libraryfreedom.org/face. cc @masslib@mastodon.social", 5 + 23 + 13),
        # A URL whose domain has no known top-level domain is not linked, so not discounted.
        ("see https://lfp.example/face", len("see https://lfp.example/face")),
        # Several links, one in parentheses, one glued to a word (not linked, counted in full).
        ("(https://ala.org/x) and see:https://ala.org/y", 1 + 23 + 10 + 23),
        ("word" + "https://ala.org/y", 4 + len("https://ala.org/y")),
        # A scheme-less domain is not discounted on Mastodon (X would link it).
        ("ala.org/privacy", len("ala.org/privacy")),
        # Vietnamese, with combining marks: graphemes, not code points.
        ("quye\u0300n rie\u0302ng tu\u031b", 14),
    ],
)
def test_mastodon_our_cases(text: str, expected: int) -> None:
    assert mastodon_length(text) == expected


def test_mastodon_instance_url_weight_wins() -> None:
    assert mastodon_length("see https://ala.org/a", url_length=30) == 4 + 30


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Join #LibraryPrivacy on 5/4 at ala.org.",
            [("tag", "LibraryPrivacy"), ("link", "https://ala.org")],
        ),
        ("Q1 (see https://lfp.example/q1)", [("link", "https://lfp.example/q1")]),
        ("Q2 #️⃣ is not a tag, #2 is not either, #Q2 is", [("tag", "Q2")]),
        ("thanks @masslib.bsky.social!", [("mention", "masslib.bsky.social")]),
        ("e-mail lfp@ala.org is not a mention", []),
    ],
)
def test_bluesky_our_cases(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(e.kind, e.value) for e in bluesky_entities(text)] == expected


def test_the_preview_links_what_each_platform_links() -> None:
    from chatbot.web.preview import linked

    text = "Q1 #LFPchat: ala.org/privacy and https://ala.org/x <b>"
    x, mastodon, bluesky = (str(linked(text, p)) for p in ("x", "mastodon", "bluesky"))
    bare = (
        '<a href="https://ala.org/privacy" rel="noopener noreferrer nofollow">ala.org/privacy</a>'
    )
    assert bare in x and bare in bluesky
    assert bare not in mastodon and " ala.org/privacy and" in mastodon
    for html in (x, mastodon, bluesky):
        assert '<a href="https://ala.org/x"' in html
        assert '<span class="hashtag">#LFPchat</span>' in html
        assert "&lt;b&gt;" in html and "<b>" not in html
