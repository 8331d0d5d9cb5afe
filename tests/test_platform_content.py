"""Content on several platforms: one host per platform, per-platform wording, each platform's
limits in ``chatbot check``, partners reposting on their own platform."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot.content.load import load_content
from tests.conftest import BASE_CONFIG, Project

MULTI = (
    BASE_CONFIG
    + """  lfp_masto: {{platform: mastodon, handle: "@lfp@mastodon.social", env_prefix: LFPM, instance_url: https://mastodon.social}}
  lfp_bsky: {{platform: bluesky, handle: "@lfp.bsky.social", env_prefix: LFPB}}
  masslib_bsky: {{platform: bluesky, handle: "@masslib.bsky.social", env_prefix: MASSLIBB}}
  nela_bsky: {{platform: bluesky, handle: "@nela.bsky.social", env_prefix: NELAB}}
"""
)

LONG = "Face surveillance " * 20  # 360 characters: too long for X and Bluesky, fine on Mastodon

CHAT = f"""
id: fr-chat
hashtag: "#LFPchat"
host: [lfp, lfp_masto, lfp_bsky]
starts_at: 2026-12-03 20:00
interval: 10m
questions:
  - text: "{LONG.strip()}"
    text_for:
      x: What does face surveillance mean for patrons?
  - text: Who carries the risk?
amplify:
  - account: masslib_bsky
    after: 2m
"""


@pytest.fixture
def multi(project: Project) -> Project:
    project.config(MULTI.format(db=project.db_url))
    return project


def test_each_platform_gets_its_wording_and_keeps_the_hashtag(multi: Project) -> None:
    multi.chat(
        "fr", CHAT.replace("      x: What", "      bluesky: Short for Bluesky\n      x: What")
    )
    content = load_content(multi.load_config())
    assert content.errors == []
    texts = {p.key: p.text for p in content.posts if p.text}
    assert texts["fr-chat/q1"] == "Q1: What does face surveillance mean for patrons? #LFPchat"
    assert texts["fr-chat/q1+lfp_bsky"] == "Q1: Short for Bluesky #LFPchat"
    assert texts["fr-chat/q1+lfp_masto"] == f"Q1: {LONG.strip()} #LFPchat"
    # The partner on Bluesky reposts the Bluesky copy only.
    reposts = [p for p in content.posts if p.account == "masslib_bsky"]
    assert [p.depends_on for p in reposts] == ["fr-chat/q1+lfp_bsky", "fr-chat/q2+lfp_bsky"]


def test_check_names_the_platform_of_each_finding(multi: Project) -> None:
    path = multi.chat("fr", CHAT)
    result = multi.run("check")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "platform.length" in line]
    # Only Bluesky is over its limit: X has its own wording, Mastodon allows 500.
    assert lines == [
        f"{path}:7:12: error platform.length: 372 characters as bluesky counts them; "
        "the limit is 300 [bluesky]"
    ]
    as_json = json.loads(multi.run("check", "--format", "json").output)
    assert {(f["rule"], f["platform"], f["post"]) for f in as_json if f["level"] == "error"} == {
        ("platform.length", "bluesky", "fr-chat/q1+lfp_bsky")
    }


def test_a_finding_on_a_platform_wording_points_at_that_wording(multi: Project) -> None:
    path = multi.chat(
        "fr", CHAT.replace("      x: What does", "      x: " + "Long " * 60 + "What does")
    )
    result = multi.run("check")
    x_line = next(line for line in result.output.splitlines() if line.endswith("limit is 280 [x]"))
    assert x_line.startswith(f"{path}:9:")


def test_same_words_on_two_platforms_are_not_near_duplicates(multi: Project) -> None:
    multi.chat("fr", CHAT.replace(LONG.strip(), "Short question"))
    result = multi.run("check")
    assert "near-duplicate" not in result.output
    assert result.exit_code == 0


def test_two_hosts_on_one_platform_are_refused(multi: Project) -> None:
    path = multi.chat("fr", CHAT.replace("[lfp, lfp_masto, lfp_bsky]", "[lfp, masslib]"))
    result = multi.run("check")
    assert result.exit_code == 1
    assert (
        f"{path}:3:1: error content: host[1]: lfp and masslib are both x accounts; a chat has one host per "
        "platform (partners amplify with amplify:)"
    ) in result.output


def test_partner_without_a_post_on_its_platform_gets_a_clear_error(multi: Project) -> None:
    path = multi.chat("fr", CHAT.replace("[lfp, lfp_masto, lfp_bsky]", "lfp"))
    result = multi.run("check")
    assert result.exit_code == 1
    assert (
        f"{path}:12:1: error content: amplify[0].account: masslib_bsky is a bluesky account"
        in result.output
    )
    assert "add a bluesky account to the host" in result.output


CAMPAIGN = """
id: ban-push
accounts: [lfp, nela, lfp_bsky, nela_bsky]
slots: {days: [mon], times: ["10:00"]}
starts_on: 2026-12-07
posts:
  - text: One
  - text: Two
    text_for: {bluesky: "Two, on Bluesky"}
  - text: Three
    account: lfp
"""


def test_campaign_posts_go_to_every_platform_dealt_within_each(multi: Project) -> None:
    multi.campaign("ban", CAMPAIGN)
    content = load_content(multi.load_config())
    assert content.errors == []
    owners = {p.key: (p.account, p.text) for p in content.posts}
    assert owners == {
        "ban-push/p1": ("lfp", "One"),
        "ban-push/p1+lfp_bsky": ("lfp_bsky", "One"),
        "ban-push/p2": ("nela", "Two"),
        "ban-push/p2+nela_bsky": ("nela_bsky", "Two, on Bluesky"),
        # An explicit account: that account only.
        "ban-push/p3": ("lfp", "Three"),
    }


def test_mastodon_account_needs_an_instance(project: Project, tmp_path: Path) -> None:
    project.config(
        BASE_CONFIG.format(db=project.db_url)
        + '  m: {platform: mastodon, handle: "@m", env_prefix: M}\n'
    )
    result = project.run("check")
    assert result.exit_code == 1
    assert "accounts.m.instance_url: a mastodon account needs its instance's URL" in result.output


def test_one_finding_on_every_platform_copy_is_one_line(multi: Project) -> None:
    path = multi.chat("fr", CHAT.replace(LONG.strip(), "Short question"))
    multi.vision(
        """
rules:
  - id: lfp.no-surveillance-jargon
    kind: substitute
    level: warning
    message: "prefer '{suggestion}' to '{match}'"
    swap: {carries: bears}
"""
    )
    result = multi.run("check")
    lines = [line for line in result.output.splitlines() if "lfp.no-surveillance-jargon" in line]
    assert lines == [
        f"{path}:10:15: warning lfp.no-surveillance-jargon: prefer 'bears' to 'carries' "
        "[x, mastodon, bluesky]"
    ]


def test_skip_and_now_act_on_every_platforms_copy_of_the_step(multi: Project) -> None:
    """A chat hosted on three platforms is one script: skipping Q2 or posting it now does so on
    X, Mastodon and Bluesky together, and moves each copy's reposts with it."""
    from datetime import UTC, datetime

    from freezegun import freeze_time
    from sqlalchemy import select

    from chatbot.db import Post, open_database

    multi.chat("fr", CHAT.replace(LONG.strip(), "What does it mean?"))
    assert multi.run("apply").exit_code == 0
    assert multi.run("approve", "fr-chat", "--by", "alison").exit_code == 0
    with freeze_time(datetime(2026, 12, 3, 19, 0, tzinfo=UTC)):
        now = multi.run("chat", "now", "fr-chat", "--question", "1", "--by", "hank")
        skip = multi.run("chat", "skip", "fr-chat", "--question", "2", "--by", "hank")
    assert now.exit_code == 0 and skip.exit_code == 0, now.output + skip.output
    db = open_database(multi.load_config().database_url)
    with db.read() as session:
        posts = {p.key: p for p in session.scalars(select(Post))}
    db.dispose()
    due = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)
    for suffix in ("", "+lfp_masto", "+lfp_bsky"):
        assert posts[f"fr-chat/q1{suffix}"].scheduled_at == due, suffix
        assert posts[f"fr-chat/q2{suffix}"].state == "skipped", suffix
    assert posts["fr-chat/q1+lfp_bsky@masslib_bsky"].scheduled_at == due.replace(minute=2)
    assert posts["fr-chat/q2+lfp_bsky@masslib_bsky"].state == "skipped"
