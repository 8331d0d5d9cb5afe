"""Content model: durations, DST-correct times, chat and campaign expansion, located errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatbot.content.load import load_content
from chatbot.timeutil import TimeFormatError, parse_duration, parse_local_datetime, zone
from tests.conftest import Project

NY = zone("America/New_York")
LONDON = zone("Europe/London")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        (90, timedelta(seconds=90)),
        ("250ms", timedelta(milliseconds=250)),
        ("1s500ms", timedelta(milliseconds=1500)),
    ],
)
def test_durations(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "10", "ten minutes", "1m30h", "-5m", True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(TimeFormatError, match="write it like 45s, 10m or 1h30m"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("local", "tz", "expected"),
    [
        # New York: DST began 2026-03-08 and ended 2026-11-01.
        ("2026-03-07 20:00", NY, utc(2026, 3, 8, 1)),
        ("2026-03-09 20:00", NY, utc(2026, 3, 10, 0)),
        ("2026-10-31 20:00", NY, utc(2026, 11, 1, 0)),
        ("2026-11-02 20:00", NY, utc(2026, 11, 3, 1)),
        # London: BST began 2026-03-29 and ended 2026-10-25.
        ("2026-03-28 19:00", LONDON, utc(2026, 3, 28, 19)),
        ("2026-03-30 19:00", LONDON, utc(2026, 3, 30, 18)),
        ("2026-10-26 19:00", LONDON, utc(2026, 10, 26, 19)),
        ("2026-12-03T20:00:00-05:00", LONDON, utc(2026, 12, 4, 1)),
    ],
)
def test_local_times_across_dst(local: str, tz: object, expected: datetime) -> None:
    assert parse_local_datetime(local, tz) == expected  # type: ignore[arg-type]


def test_nonexistent_and_ambiguous_local_times_are_refused() -> None:
    with pytest.raises(TimeFormatError, match="does not exist in America/New_York"):
        parse_local_datetime("2026-03-08 02:30", NY)
    with pytest.raises(TimeFormatError, match="happens twice in America/New_York"):
        parse_local_datetime("2026-11-01 01:30", NY)
    with pytest.raises(TimeFormatError, match="does not exist in Europe/London"):
        parse_local_datetime("2026-03-29 01:30", LONDON)


CHAT = """
id: fr-chat
title: Face surveillance in libraries
hashtag: "#LFPchat"
host: lfp
starts_at: {starts}
interval: 10m
intro: "Welcome to #lfpchat tonight!"
questions:
  - text: What does face surveillance mean for patrons?
    card: question
    alt: A card reading Q1
  - text: Who carries the risk?
  - text: What will you do this month?
    after: 15m
outro:
  text: Thanks for joining
amplify:
  - account: masslib
    after: 2m
  - account: nela
    after: 3m
    skip: [intro, q2]
"""


def test_chat_expands_with_numbers_hashtags_and_times(project: Project) -> None:
    project.chat("fr", CHAT.format(starts="2026-03-09 20:00"))
    content = load_content(project.load_config())
    assert content.errors == []
    chat = [p for p in content.posts if p.kind != "repost"]
    assert [(p.key, p.text, p.scheduled_at) for p in chat] == [
        ("fr-chat/intro", "Welcome to #lfpchat tonight!", utc(2026, 3, 10, 0, 0)),
        (
            "fr-chat/q1",
            "Q1: What does face surveillance mean for patrons? #LFPchat",
            utc(2026, 3, 10, 0, 10),
        ),
        ("fr-chat/q2", "Q2: Who carries the risk? #LFPchat", utc(2026, 3, 10, 0, 20)),
        ("fr-chat/q3", "Q3: What will you do this month? #LFPchat", utc(2026, 3, 10, 0, 35)),
        ("fr-chat/outro", "Thanks for joining #LFPchat", utc(2026, 3, 10, 0, 45)),
    ]
    reposts = {p.key: p for p in content.posts if p.kind == "repost"}
    assert set(reposts) == {
        f"fr-chat/{k}@masslib" for k in ("intro", "q1", "q2", "q3", "outro")
    } | {"fr-chat/q1@nela", "fr-chat/q3@nela", "fr-chat/outro@nela"}
    assert reposts["fr-chat/q1@nela"].depends_on == "fr-chat/q1"
    assert reposts["fr-chat/q1@nela"].scheduled_at == utc(2026, 3, 10, 0, 13)
    assert reposts["fr-chat/q1@masslib"].offset == timedelta(minutes=2)


def test_chat_intervals_are_elapsed_time_across_fall_back(project: Project) -> None:
    # 01:50 EDT on the night clocks fall back: ten real minutes later is 01:00 EST.
    project.chat("fr", CHAT.format(starts="2026-11-01T01:50:00-04:00"))
    content = load_content(project.load_config())
    q1 = content.post("fr-chat/q1")
    assert q1.scheduled_at == utc(2026, 11, 1, 6, 0)
    assert q1.scheduled_at.astimezone(NY).strftime("%H:%M %Z") == "01:00 EST"


CAMPAIGN = """
id: ban-push
accounts: [lfp, uk]
hashtag: "#BanFaceSurveillance"
slots: {{days: [mon], times: ["10:00"]}}
starts_on: {starts}
posts:
  - text: One
  - text: Two
  - text: Three
  - text: Four
  - id: invite
    text: Come to the chat
    at: 2026-10-20 12:00
    account: lfp
amplify:
  - account: masslib
    after: 30m
    jitter: 5m
"""


def test_campaign_slots_in_each_accounts_zone_across_dst(project: Project) -> None:
    project.campaign("ban", CAMPAIGN.format(starts="2026-10-19"))
    content = load_content(project.load_config())
    assert content.errors == []
    times = {p.key: (p.account, p.scheduled_at) for p in content.posts if p.kind == "campaign"}
    assert times == {
        # lfp in New York: EDT until 2026-11-01.
        "ban-push/p1": ("lfp", utc(2026, 10, 19, 14)),
        "ban-push/p3": ("lfp", utc(2026, 10, 26, 14)),
        # uk in London: BST until 2026-10-25.
        "ban-push/p2": ("uk", utc(2026, 10, 19, 9)),
        "ban-push/p4": ("uk", utc(2026, 10, 26, 10)),
        "ban-push/invite": ("lfp", utc(2026, 10, 20, 16)),
    }
    texts = {p.key: p.text for p in content.posts}
    assert texts["ban-push/p1"] == "One #BanFaceSurveillance"
    repost = content.post("ban-push/p2@masslib")
    assert (
        timedelta(minutes=30) <= repost.scheduled_at - utc(2026, 10, 19, 9) <= timedelta(minutes=35)
    )
    again = load_content(project.load_config()).post("ban-push/p2@masslib")
    assert again.scheduled_at == repost.scheduled_at, "jitter must be stable between runs"


def test_campaign_slot_in_skipped_hour_moves_past_the_gap(project: Project) -> None:
    project.campaign(
        "ban",
        """
        id: ban-push
        accounts: [lfp]
        slots: {days: [sun], times: ["02:30"]}
        starts_on: 2026-03-08
        posts: [{text: One}, {text: Two}]
        """,
    )
    content = load_content(project.load_config())
    assert [p.scheduled_at for p in content.posts] == [
        utc(2026, 3, 8, 7, 30),
        utc(2026, 3, 15, 6, 30),
    ]


def test_daily_cap_limits_slots_per_day(project: Project) -> None:
    text = project.config_path.read_text().replace(
        'nela: {platform: dryrun, handle: "@nelib"}', "nela: {platform: dryrun, daily_cap: 1}"
    )
    project.config(text)
    project.campaign(
        "ban",
        """
        id: ban-push
        accounts: [nela]
        slots: {days: [mon, tue], times: ["09:00", "15:00"]}
        starts_on: 2026-12-07
        posts: [{text: One}, {text: Two}, {text: Three}]
        """,
    )
    content = load_content(project.load_config())
    assert [p.scheduled_at.date().isoformat() for p in content.posts] == [
        "2026-12-07",
        "2026-12-08",
        "2026-12-14",
    ]


CONTENT_ERRORS = [
    (
        "chat",
        "id: x\nhashtag: '#A'\nhost: lfp\nstarts_at: 2026-12-03 20:00\ninterval: 10m\n"
        "questons: []\n",
        "bad.yaml:6: questons: unknown field",
    ),
    (
        "chat",
        "id: x\nhashtag: LFPchat\nhost: lfp\nstarts_at: 2026-12-03 20:00\ninterval: 10m\n"
        "questions: [{text: a}]\n",
        "bad.yaml:2: hashtag: must be a single hashtag",
    ),
    (
        "chat",
        "id: x\nhashtag: '#A'\nhost: nobody\nstarts_at: 2026-12-03 20:00\ninterval: 10m\n"
        "questions: [{text: a}]\n",
        "bad.yaml:3: host: no account 'nobody' in config.yaml",
    ),
    (
        "chat",
        "id: x\nhashtag: '#A'\nhost: lfp\nstarts_at: 2026-12-03 20:00\n"
        "interval: ten minutes\nquestions: [{text: a}]\n",
        "bad.yaml:5: interval: 'ten minutes' is not a duration",
    ),
    (
        "chat",
        "id: x\nhashtag: '#A'\nhost: lfp\nstarts_at: Dec 3 at 8pm\ninterval: 10m\n"
        "questions: [{text: a}]\n",
        "bad.yaml:4: starts_at: 'Dec 3 at 8pm' is not a date and time",
    ),
    (
        "chat",
        "id: x\nhashtag: '#A'\nhost: lfp\nstarts_at: 2026-03-08 02:30\ninterval: 10m\n"
        "questions: [{text: a}]\n",
        "bad.yaml:4: starts_at: 2026-03-08 02:30 does not exist",
    ),
    (
        "chat",
        "id: x\nhashtag: '#A'\nhost: lfp\nstarts_at: 2026-12-03 20:00\ninterval: 10m\n"
        "questions:\n  - text: a\n    at: 2026-12-03 19:00\n",
        "bad.yaml:7: questions[0]: Q1 would be before starts_at or the post before it",
    ),
    (
        "chat",
        "id: x\nhashtag: '#A'\nhost: lfp\nstarts_at: 2026-12-03 20:00\ninterval: 10m\n"
        "questions:\n  - text: 'Q1: a'\n",
        "bad.yaml:7: questions[0].text: do not number questions",
    ),
    (
        "chat",
        "id: x\nhashtag: '#A'\nhost: lfp\nstarts_at: 2026-12-03 20:00\ninterval: 10m\n"
        "questions:\n  - text: a\n    after: 5m\n    at: 2026-12-03 20:30\n",
        "bad.yaml:7: questions[0]: use either at: or after:",
    ),
    (
        "chat",
        "id: x\nhashtag: '#A'\nhost: lfp\nstarts_at: 2026-12-03 20:00\ninterval: 10m\n"
        "questions: [{text: a}]\namplify: [{account: ghost}]\n",
        "bad.yaml:7: amplify[0].account: no account 'ghost'",
    ),
    (
        "chat",
        "id: x\nhashtag: '#A'\nhost: lfp\nstarts_at: 2026-12-03 20:00\ninterval: 10m\n"
        "questions: [{text: a}]\namplify:\n  - account: nela\n    skip: [q9]\n",
        "bad.yaml:9: amplify[0].skip: q9 names no post here",
    ),
    (
        "chat",
        "id: x\nhashtag: '#A'\nhost: lfp\nstarts_at: 2026-12-03 20:00\ninterval: 10m\n"
        "questions:\n  - text: What now: and then\n",
        "bad.yaml:7: invalid YAML: mapping values",
    ),
    (
        "chat",
        "id: x\nhashtag: '#A'\nhost: lfp\nstarts_at: 2026-12-03 20:00\ninterval: 10m\n"
        "questions:\n  - text: Join us #LFPchat\n",
        "bad.yaml:7: '#LFPchat' after a space starts a YAML comment, so it was dropped",
    ),
    (
        "chat",
        "id: Bad Id\nhashtag: '#A'\nhost: lfp\nstarts_at: 2026-12-03 20:00\ninterval: 10m\n"
        "questions: [{text: a}]\n",
        "bad.yaml:1: id: must be lower-case letters",
    ),
    (
        "campaign",
        "id: c\naccounts: [lfp]\nposts: [{text: a}]\n",
        "bad.yaml:3: posts[0]: needs a time: add slots and starts_on",
    ),
    (
        "campaign",
        "id: c\naccounts: [lfp]\nslots: {days: [mon], times: ['10:00']}\nposts: [{text: a}]\n",
        "bad.yaml:3: slots: slots need starts_on",
    ),
    (
        "campaign",
        "id: c\naccounts: [lfp]\nslots: {days: [funday], times: ['10:00']}\n"
        "starts_on: 2026-12-01\nposts: [{text: a}]\n",
        "bad.yaml:3: slots.days[0]: Input should be",
    ),
    (
        "campaign",
        "id: c\naccounts: [lfp]\nslots: {days: [mon], times: ['10:00']}\n"
        "starts_on: 2026-12-07\nends_on: 2026-12-08\nposts: [{text: a}, {text: b}]\n",
        "bad.yaml:6: posts[1]: no free slot for this post on lfp before ends_on 2026-12-08",
    ),
    (
        "campaign",
        "id: c\naccounts: [lfp]\nposts:\n  - {id: a, text: x, at: 2026-12-01 10:00}\n"
        "  - {id: a, text: y, at: 2026-12-02 10:00}\n",
        "bad.yaml:5: posts[1].id: post id 'a' is used twice",
    ),
]


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    CONTENT_ERRORS,
    ids=[e[2].split(": ", 1)[1][:40] for e in CONTENT_ERRORS],
)
def test_content_errors_name_file_line_and_write_nothing(
    project: Project, kind: str, text: str, expected: str
) -> None:
    path = (project.chat if kind == "chat" else project.campaign)("bad", text)
    content = load_content(project.load_config())
    messages = [str(e) for e in content.errors]
    assert any(expected in m for m in messages), messages
    assert all(str(path) in m for m in messages)
    result = project.run("apply")
    assert result.exit_code == 1
    assert expected in result.output
    assert "Traceback" not in result.output
    # Content is checked before the database is opened: not even the file is created.
    assert not (project.root / "var" / "q.db").exists()


def test_same_id_in_two_files_is_an_error(project: Project) -> None:
    body = "id: same\nhashtag: '#A'\nhost: lfp\nstarts_at: 2026-12-03 20:00\ninterval: 10m\nquestions: [{text: a}]\n"
    first = project.chat("a", body)
    second = project.chat("b", body)
    content = load_content(project.load_config())
    assert [str(e) for e in content.errors] == [
        f"{second}:1: id: id 'same' is already used by {first}:1; every chat and campaign "
        "needs its own id"
    ]
