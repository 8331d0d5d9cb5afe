"""The vision rule engine: every rule kind fires when it should and only then."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from freezegun import freeze_time

from chatbot.content.model import PostSpec, Source
from chatbot.settings import Platforms
from chatbot.vision.base import Context, Finding
from chatbot.vision.engine import _build, load_rules
from tests.conftest import Project

AT = datetime(2026, 12, 3, 20, tzinfo=UTC)


def post(
    text: str, account: str = "lfp", platform: str = "x", key: str = "c/p1", **kw: object
) -> PostSpec:
    return PostSpec(
        key=key,
        account=account,
        platform=platform,
        kind=kw.pop("kind", "campaign"),  # type: ignore[arg-type]
        text=text,
        scheduled_at=AT,
        source=Source(Path("c.yaml"), 3, 9, True),
        source_text=text,
        campaign="c",
        **kw,  # type: ignore[arg-type]
    )


def run(rule: dict[str, object], *posts: PostSpec) -> list[Finding]:
    built = _build({"id": "r", "level": "error", **rule})
    return list(built.check_all(posts, Context(platforms=Platforms())))


CASES = [
    ({"kind": "require", "hashtag": "#LFPchat"}, "Q1: hi #lfpchat", "Q1: hi #LFPchatter"),
    ({"kind": "require", "text": "library"}, "Your Library matters", "Your branch matters"),
    ({"kind": "require", "pattern": r"\bA\d\b"}, "Reply with A1", "Reply below"),
    ({"kind": "substitute", "swap": {"guys": "everyone"}}, "Hi everyone", "Hi guys!"),
    (
        {"kind": "substitute", "swap": {"keep patrons safe": None}},
        "Protect privacy",
        "It will keep patrons safe",
    ),
    (
        {"kind": "tracking_params"},
        "https://ala.org/a?page=2",
        "https://ala.org/a?utm_source=x&page=2",
    ),
    ({"kind": "tracking_params"}, "https://ala.org/", "See ala.org/a?fbclid=abc"),
    ({"kind": "shortener"}, "https://libraryfreedom.org/x", "https://bit.ly/3xyz"),
    ({"kind": "hashtag_case"}, "#FaceSurveillance #LFPchat #privacy", "#facesurveillance"),
    ({"kind": "hashtag_case"}, "#BanFaceSurveillance", "#BANFACESURVEILLANCE"),
    ({"kind": "max_hashtags", "max": 2}, "#A1 #B2", "#A1 #B2 #C3"),
    ({"kind": "max_mentions", "max": 1}, "thanks @ala", "thanks @ala @lfp"),
    ({"kind": "length"}, "x" * 280, "x" * 281),
    ({"kind": "length"}, "\U0001f9d1\u200d\U0001f9d1\u200d\U0001f9d2" * 140, "\u3042" * 141),
]


@pytest.mark.parametrize(
    ("rule", "good", "bad"), CASES, ids=[f"{c[0]['kind']}-{i}" for i, c in enumerate(CASES)]
)
def test_rule_kind_positive_and_negative(rule: dict[str, object], good: str, bad: str) -> None:
    assert run(rule, post(good)) == []
    findings = run(rule, post(bad))
    assert len(findings) == 1
    assert findings[0].level == "error" and findings[0].rule_id == "r"


def test_length_uses_each_platforms_count_and_limit() -> None:
    text = "x" * 400
    assert run({"kind": "length"}, post(text, platform="mastodon")) == []
    [finding] = run({"kind": "length"}, post(text, platform="bluesky"))
    assert finding.message == "400 characters as bluesky counts them; the limit is 300"
    assert finding.format().endswith("[bluesky]")


def test_length_refuses_characters_x_refuses_whatever_the_length() -> None:
    text = "Join us\ufeff at 2pm #LFPchat"
    [finding] = run({"kind": "length"}, post(text))
    assert (
        finding.message == "x refuses a post containing U+FEFF (invisible); delete it from the text"
    )
    assert finding.offset == text.index("\ufeff")
    # Mastodon and Bluesky take it.
    assert run({"kind": "length"}, post(text, platform="mastodon")) == []
    assert run({"kind": "length"}, post(text, platform="bluesky")) == []


def test_mastodon_length_counts_what_the_server_counts() -> None:
    """A URL glued to a word is no link on Mastodon, so it counts in full (issue 17)."""
    text = "a" * 476 + "http://" + "b" * 30 + ".com/example"
    [finding] = run({"kind": "length"}, post(text, platform="mastodon"))
    assert finding.message == "525 characters as mastodon counts them; the limit is 500"
    assert (
        run(
            {"kind": "length"},
            post("a" * 476 + " http://" + "b" * 30 + ".com/example", platform="mastodon"),
        )
        == []
    )


def test_alt_text_rule() -> None:
    rule = {"kind": "alt_text"}
    assert run(rule, post("hi", card="question", alt="A card reading hi")) == []
    assert run(rule, post("hi")) == []
    [missing] = run(rule, post("hi", card="question"))
    assert "card 'question' has no alt text" in missing.message
    [blank] = run(rule, post("hi", image="a.png", alt="   "))
    assert "image 'a.png' has no alt text" in blank.message
    [long] = run(rule, post("hi", card="quote", alt="a" * 1001))
    assert long.message == "alt text is 1001 characters; x allows 1000"
    assert run(rule, post("hi", card="quote", alt="a" * 1001, platform="mastodon")) == []
    [orphan] = run(rule, post("hi", alt="words"))
    assert "no card or image" in orphan.message


def test_near_duplicate_across_accounts_only() -> None:
    a = post("Face surveillance has no place in libraries. Join us.", account="lfp", key="c/a")
    b = post("Face surveillance has no place in our libraries! Join us", account="njla", key="c/b")
    c = post("Face surveillance has no place in libraries. Join us.", account="lfp", key="c/c")
    d = post(
        "Ask your vendor in writing whether it collects face images.", account="njla", key="c/d"
    )
    findings = run({"kind": "near_duplicate", "threshold": 0.8}, a, b, c, d)
    # Each pair is reported once, on the later post; a and c share an account: not compared.
    assert sorted((f.post.key, f.level) for f in findings) == [("c/b", "error"), ("c/c", "error")]
    assert "on account lfp" in findings[0].message and "threshold 80%" in findings[0].message
    assert run({"kind": "near_duplicate", "threshold": 0.99}, a, b) == []


def test_reposts_and_out_of_scope_posts_are_not_checked() -> None:
    rule = {"kind": "require", "hashtag": "#LFPchat", "scope": ["question"]}
    assert run(rule, post("", kind="repost")) == []
    assert run(rule, post("no tag", kind="campaign")) == []
    assert len(run(rule, post("no tag", kind="question"))) == 1


def test_column_points_inside_the_text() -> None:
    [finding] = run({"kind": "substitute", "swap": {"guys": "everyone"}}, post("Hi guys!"))
    assert finding.format() == "c.yaml:3:12: error r: use 'everyone' instead of 'guys'"


VISION_ERRORS = [
    (
        "rules:\n  - id: a\n    kind: spelling\n",
        "vision.yaml:3: rules[0].kind: unknown rule kind 'spelling'",
    ),
    ("rules:\n  - id: a\n    kind: max_hashtags\n", "vision.yaml:2: rules[0].max: Field required"),
    (
        "rules:\n  - id: a\n    kind: shortener\n    level: fatal\n",
        "vision.yaml:4: rules[0].level: level must be one of",
    ),
    (
        "rules:\n  - id: a\n    kind: shortener\n    domain: [x]\n",
        "vision.yaml:4: rules[0].domain: unknown option for a shortener rule",
    ),
    (
        "rules:\n  - id: a\n    kind: require\n",
        "vision.yaml:2: rules[0]: a require rule needs exactly one of",
    ),
    (
        "rules:\n  - id: a\n    kind: require\n    pattern: '('\n",
        "rules[0]: pattern is not a valid regular expression",
    ),
    (
        "rules:\n  - {id: a, kind: shortener}\n  - {id: a, kind: shortener}\n",
        "vision.yaml:3: rules[1].id: rule id 'a' is used twice",
    ),
]


@pytest.mark.parametrize(("text", "expected"), VISION_ERRORS)
def test_vision_file_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "vision.yaml"
    path.write_text(text)
    _, errors = load_rules(path)
    assert any(expected in str(e) for e in errors), [str(e) for e in errors]


def test_builtins_apply_without_vision_file_and_are_replaced_by_it(tmp_path: Path) -> None:
    rules, errors = load_rules(None)
    assert errors == [] and {r.options.kind for r in rules} == {
        "length",
        "alt_text",
        "card_contrast",
        "alt_repeats_card",
        "near_duplicate",
        "past_time",
    }
    path = tmp_path / "vision.yaml"
    path.write_text("rules:\n  - {id: mine, kind: length, level: warning}\n")
    rules, _ = load_rules(path)
    assert [(r.id, r.options.level) for r in rules if r.options.kind == "length"] == [
        ("mine", "warning")
    ]


@freeze_time("2026-11-23 12:00:00")  # the post is ahead: no schedule.past warning
def test_check_command_output_json_and_exit_code(project: Project) -> None:
    project.vision(
        "rules:\n  - {id: lfp.no-tracking, kind: tracking_params, level: error}\n"
        "  - {id: lfp.tags, kind: hashtag_case, level: warning}\n"
    )
    path = project.campaign(
        "c",
        """
        id: c
        accounts: [lfp]
        posts:
          - text: "Read https://ala.org/x?utm_source=lfp #facesurveillance"
            at: 2026-12-07 10:00
        """,
    )
    result = project.run("check")
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines == [
        f"{path}:4:17: error lfp.no-tracking: remove the tracking parameter 'utm_source' from the link",
        f"{path}:4:50: warning lfp.tags: write #facesurveillance in CamelCase (e.g. #Facesurveillance) "
        "so screen readers say the words",
    ]
    data = json.loads(project.run("check", "--format", "json").stdout)
    assert [(d["level"], d["rule"], d["line"], d["post"]) for d in data] == [
        ("error", "lfp.no-tracking", 4, "c/p1"),
        ("warning", "lfp.tags", 4, "c/p1"),
    ]
    path.write_text(path.read_text().replace("?utm_source=lfp", ""))
    assert project.run("check").exit_code == 0


def test_example_content_has_no_errors(example: Project) -> None:
    result = example.run("check")
    assert result.exit_code == 0, result.output
    assert " error " not in result.stdout


def test_example_chat_has_eight_questions_and_partners(example: Project) -> None:
    from chatbot.content.load import load_content

    content = load_content(example.load_config())
    questions = [p for p in content.posts if p.chat == "fr-chat" and p.kind == "question"]
    assert len(questions) == 8 * 3, "eight questions on each of X, Mastodon and Bluesky"
    assert {q.platform for q in questions} == {"x", "mastodon", "bluesky"}
    assert all("#LFPchat" in q.text for q in questions)
    campaign = content.posts_of("ban-push")
    assert {p.account for p in campaign if p.kind == "campaign"} == {"lfp", "njla"}
    assert {p.account for p in campaign if p.kind == "repost"} == {"masslib", "ifc"}
    weeks = {p.scheduled_at.isocalendar().week for p in campaign}
    assert len(weeks) >= 3
