"""Amplification across partners, sustained campaigns over weeks, and rehearsals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from freezegun import freeze_time

from chatbot.content.load import load_content
from chatbot.engine.rehearsal import Rehearsal
from tests.conftest import Project
from tests.enginekit import fr_chat

CHAT = fr_chat(
    "What does face surveillance mean for the people who use your library?",
    "Who carries the risk when face recognition gets it wrong?",
    amplify="  - account: masslib\n    after: 2m\n"
    "  - account: nela\n    after: 2m\n    skip: [q2]\n"
    "  - account: ifc\n    after: 0s\n    own_words:\n      q1: {words}\n",
)


def keyed(project: Project) -> dict[str, object]:
    content = load_content(project.load_config())
    assert content.errors == [], content.errors
    return {p.key: p for p in content.posts}


def test_partners_offsets_opt_out_and_own_words(project: Project) -> None:
    project.chat(
        "fr",
        CHAT.format(
            words="Chicago library workers, tell us how your branch handles camera vendors."
        ),
    )
    posts = keyed(project)
    q1 = posts["fr-chat/q1"]
    # nela opted out of Q2; masslib reposts both.
    assert "fr-chat/q2@nela" not in posts and "fr-chat/q2@masslib" in posts
    # Two partners asked for the same 2m: the second is spread to 3m, so no two accounts act
    # on the same post in the same minute; ifc's 0s moves to a minute after the original.
    offsets = {k: p.offset for k, p in posts.items() if k.startswith("fr-chat/q1@")}  # type: ignore[attr-defined]
    assert sorted(offsets.values()) == [timedelta(minutes=n) for n in (1, 2, 3)]
    assert offsets["fr-chat/q1@ifc"] == timedelta(minutes=1)
    assert offsets["fr-chat/q1@masslib"] == timedelta(minutes=2)
    assert offsets["fr-chat/q1@nela"] == timedelta(minutes=3)
    own = posts["fr-chat/q1@ifc"]
    assert own.kind == "partner" and own.depends_on == "fr-chat/q1"  # type: ignore[attr-defined]
    assert own.text.endswith("#LFPchat")  # type: ignore[attr-defined]
    assert own.scheduled_at == q1.scheduled_at + timedelta(minutes=1)  # type: ignore[attr-defined]
    # Where ifc has no own words (Q2), it reposts.
    assert posts["fr-chat/q2@ifc"].kind == "repost"  # type: ignore[attr-defined]


def test_own_words_too_close_to_the_original_are_refused_with_the_similarity(
    project: Project,
) -> None:
    path = project.chat(
        "fr",
        CHAT.format(words="What does face surveillance mean for the people using your library?"),
    )
    result = project.run("check")
    assert result.exit_code == 1
    [line] = [line for line in result.output.splitlines() if "near-duplicate" in line]
    assert line.startswith(f"{path}:18:")
    assert "error platform.near-duplicate" in line
    assert "similar to fr-chat/q1 on account lfp (threshold 80%)" in line
    percent = int(line.split(": ", 2)[2].split("%", 1)[0])
    assert 80 <= percent < 100


def test_own_words_for_an_unknown_post_name_the_line(project: Project) -> None:
    path = project.chat("fr", CHAT.replace("q1: {words}", "q9: Hello"))
    content = load_content(project.load_config())
    [error] = content.errors
    assert str(error).startswith(f"{path}:18:")
    assert "q9 names no post here" in str(error)


def test_weekly_cap_spreads_a_campaign_over_weeks(project: Project) -> None:
    text = project.config_path.read_text().replace(
        'nela: {platform: dryrun, handle: "@nelib"}',
        "nela: {platform: dryrun, weekly_cap: 2, daily_cap: 1}",
    )
    project.config(text)
    project.campaign(
        "ban",
        """
        id: ban-push
        accounts: [nela]
        slots: {days: [mon, wed, fri], times: ["09:00", "15:00"]}
        starts_on: 2026-12-07
        posts: [{text: One}, {text: Two}, {text: Three}, {text: Four}, {text: Five}]
        """,
    )
    posts = load_content(project.load_config()).posts
    days = [p.scheduled_at.date().isoformat() for p in posts]
    # Two a week (Monday to Sunday), one a day, at the first free slot.
    assert days == ["2026-12-07", "2026-12-09", "2026-12-14", "2026-12-16", "2026-12-21"]


def test_evergreen_posts_come_back_after_the_gap_with_their_variants(project: Project) -> None:
    project.campaign(
        "ban",
        """
        id: ban-push
        accounts: [lfp]
        slots: {days: [tue, thu], times: ["11:00"]}
        starts_on: 2026-12-07
        ends_on: 2027-01-08
        evergreen: {min_gap: 14d, repeats: 2}
        posts:
          - text: Libraries protect privacy.
            evergreen: true
            variants: [Privacy is a library value., Keep face surveillance out of libraries.]
          - text: Ask your board.
        amplify:
          - account: masslib
            after: 30m
        """,
    )
    posts = {p.key: p for p in load_content(project.load_config()).posts}
    first = posts["ban-push/p1"].scheduled_at
    second = posts["ban-push/p1~2"].scheduled_at
    third = posts["ban-push/p1~3"].scheduled_at
    assert first == datetime(2026, 12, 8, 16, 0, tzinfo=UTC)
    assert second - first >= timedelta(days=14) and third - second >= timedelta(days=14)
    assert second == datetime(2026, 12, 22, 16, 0, tzinfo=UTC)
    assert third == datetime(2027, 1, 5, 16, 0, tzinfo=UTC)
    assert posts["ban-push/p1~2"].text == "Privacy is a library value."
    assert posts["ban-push/p1~3"].text == "Keep face surveillance out of libraries."
    assert posts["ban-push/p1~2"].account == "lfp", "same account: never another's words"
    assert "ban-push/p1~2@masslib" in posts
    assert "ban-push/p1~4" not in posts


def test_evergreen_needs_an_end(project: Project) -> None:
    path = project.campaign(
        "ban",
        """
        id: ban-push
        accounts: [lfp]
        slots: {days: [tue], times: ["11:00"]}
        starts_on: 2026-12-07
        evergreen: {min_gap: 14d}
        posts: [{text: One, evergreen: true}]
        """,
    )
    [error] = load_content(project.load_config()).errors
    assert str(error) == (
        f"{path}:5: evergreen: evergreen re-queueing needs slots and an ends_on to stop at"
    )


def test_plan_summarises_each_week(project: Project) -> None:
    project.campaign(
        "ban",
        """
        id: ban-push
        accounts: [lfp]
        slots: {days: [tue, thu], times: ["11:00"]}
        starts_on: 2026-12-07
        posts:
          - text: Read https://www.ala.org/advocacy/intfreedom
          - text: Two
          - text: Three
        amplify: [{account: masslib, after: 30m}]
        """,
    )
    with freeze_time("2026-11-23 12:00:00"):  # before the campaign's first week
        result = project.run("plan")
    assert result.exit_code == 0, result.output
    rows = [line.split("│") for line in result.output.splitlines() if line.startswith("│ 2026-")]
    weeks = {r[1].strip(): [c.strip() for c in r[2:]] for r in rows}
    # Week of Dec 7: Tue + Thu for lfp, one with a link ($0.20 + $0.015).
    assert weeks["2026-12-07"][:5] == ["lfp", "2", "0", "1", "0.215"]
    assert weeks["2026-12-14"][:5] == ["lfp", "1", "0", "0", "0.015"]


def test_rehearsal_plays_the_example_chat_in_order_at_speed(
    example: Project, tmp_path: Path
) -> None:
    (example.root / "var" / "chatbot.db").unlink()  # no queue at all: rehearsal needs none
    config = example.load_config()
    content = load_content(config)
    sleeps: list[float] = []
    posts = Rehearsal(config, content, "fr-chat", speed=600, sleep=sleeps.append).run()
    start = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)  # 20:00 EST
    keys = [p.key for p in posts]
    questions = [f"fr-chat/q{n}" for n in range(1, 9)]
    assert [k for k in keys if "@" not in k and "+" not in k] == [
        "fr-chat/intro",
        *questions,
        "fr-chat/outro",
    ]
    # The same chat on the host's Mastodon and Bluesky accounts, at the same times.
    assert {"fr-chat/q1+lfp_masto", "fr-chat/q1+lfp_bsky"} <= set(keys)
    assert posts[0].at == start and posts[0].kind == "intro"
    for number, key in enumerate(questions, start=1):
        post = next(p for p in posts if p.key == key)
        assert post.at == start + timedelta(minutes=7 * number)
        assert post.text.startswith(f"Q{number}: ") and post.text.endswith("#LFPchat")
        assert 0 < post.weighted <= post.limit == 280
        masslib = next(p for p in posts if p.key == f"{key}@masslib")
        nela = next(p for p in posts if p.key == f"{key}@nela")
        # Reposts come after the original is confirmed, at each partner's own offset.
        assert masslib.at == post.at + timedelta(minutes=2)
        assert masslib.repost_of is not None
        assert timedelta(minutes=3) <= nela.at - post.at <= timedelta(minutes=3, seconds=30)
    # Cards are rendered and their paths shown; Q1 and Q3 have one.
    assert all(p.cards[0].is_file() for p in posts if p.key in ("fr-chat/q1", "fr-chat/q3"))
    assert not next(p for p in posts if p.key == "fr-chat/q2").cards
    # nela speaks in its own words after the outro instead of reposting it.
    outro_nela = next(p for p in posts if p.key == "fr-chat/outro@nela")
    assert outro_nela.kind == "partner" and outro_nela.repost_of is None
    assert posts == sorted(posts, key=lambda p: p.at)
    # Played at 600x: the sleeps add up to the chat's length divided by the speed.
    length = (posts[-1].at - posts[0].at).total_seconds()
    assert abs(sum(sleeps) - length / 600) < 1e-6
    # Nothing was applied to the project's queue: the rehearsal works before approval.
    assert not (example.root / "var" / "chatbot.db").exists()
