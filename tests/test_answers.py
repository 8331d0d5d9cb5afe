"""Following a chat's answers: read from the loopback X, Mastodon and Bluesky servers over real
HTTP, placed under questions, counted, shown, acted on through the engine, and purged.

Time is a FakeClock shared by the servers, the dispatcher and the follower; the follower's
cycle is called directly, as the worker's timer would call it. Only Mastodon's stream runs
on its own thread (it is a real server-sent-events connection); the test waits for its event.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from freezegun import freeze_time
from sqlalchemy import select

from chatbot.answers import store
from chatbot.answers.actions import ActionError, act
from chatbot.answers.follower import Follower
from chatbot.answers.grouping import Question, numbered, place
from chatbot.cli import cli
from chatbot.config import Config, load_config
from chatbot.connect.publishers import build_publishers
from chatbot.content.load import load_content
from chatbot.db import Post, open_database
from chatbot.db.models import Answer, AnswerCount, AnswerSource, AuditEntry, PostState
from chatbot.db.models import Chat as Chat_
from chatbot.db.session import Database
from chatbot.engine.clock import FakeClock
from chatbot.engine.dispatcher import Dispatcher
from chatbot.engine.notify import Notifier
from chatbot.publishers.base import FoundPost
from chatbot.publishers.mastodon import clear_instance_cache
from chatbot.queue.apply import apply_plan
from chatbot.queue.plan import compute_plan
from chatbot.queue.review import approve
from tests.blueskyserver import BlueskyServer
from tests.conftest import ROOT, write
from tests.enginekit import T0, clear_credentials
from tests.mastodonserver import MastodonServer
from tests.xserver import XServer

CONFIG = """
timezone: UTC
database_url: {db}
publisher: live
accounts:
  lfp: {{platform: x, handle: "@libraryfreedom", env_prefix: LFP}}
  lfp_masto: {{platform: mastodon, handle: "@lfp", env_prefix: LFPM, instance_url: {masto}}}
  lfp_bsky: {{platform: bluesky, handle: "@lfp.bsky.social", env_prefix: LFPB, instance_url: {bsky}}}
platforms:
  x: {{api_base_url: {x}, request_timeout: 2}}
  mastodon: {{request_timeout: 2}}
  bluesky: {{request_timeout: 2}}
lateness: {{chat: 2m, campaign: 1h, repost: 30m}}
answers: {{streaming: {streaming}, keep: 24h}}
"""

CHAT = """
id: fr-chat
title: Face surveillance in libraries
hashtag: "#LFPchat"
host: [lfp, lfp_masto, lfp_bsky]
starts_at: 2026-12-03 20:00
interval: 10m
follow: {follow}
intro: "Welcome to #LFPchat! Tonight, face surveillance in libraries."
questions:
  - text: What does face surveillance mean for library patrons?
  - text: Who carries the risk when a library scans faces?
outro: "Thanks for joining #LFPchat!"
"""
X_ON = "{x: true, x_max_reads: 50, after: 30m}"


@dataclass
class Chat:
    """The three-platform chat, applied and approved, with a follower on the same clock."""

    config: Config
    db: Database
    clock: FakeClock
    dispatcher: Dispatcher
    follower: Follower
    x: XServer
    masto: MastodonServer
    bsky: BlueskyServer
    root: Path

    def run_to(self, when: datetime) -> None:
        """Post everything due up to ``when``, stepping the clock as the timer would."""
        while True:
            wake = self.dispatcher.run_due()
            if wake is None or wake > when:
                break
            self.clock.set(max(wake, self.clock.now()))
        self.clock.set(when)

    def cycle(self, after: timedelta = timedelta(seconds=5)) -> None:
        """One follower cycle, ``after`` later (each platform is read at most every few s)."""
        self.clock.advance(after)
        self.follower.cycle()

    def question(self, platform: str, number: int) -> str:
        with self.db.read() as session:
            post = session.scalars(
                select(Post).where(
                    Post.kind == "question", Post.number == number, Post.platform == platform
                )
            ).one()
            assert post.remote_id is not None
            return post.remote_id

    def answers(self) -> list[Answer]:
        with self.db.read() as session:
            return list(session.scalars(select(Answer).order_by(Answer.id)))

    def counts(self) -> dict[tuple[int, str], int]:
        with self.db.read() as session:
            return store.counts(session, "fr-chat")

    def source(self, platform: str) -> AnswerSource:
        with self.db.read() as session:
            row = session.get(AnswerSource, ("fr-chat", platform))
            assert row is not None
            return row


def _chat(
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    follow: str = X_ON,
    streaming: bool = False,
) -> Iterator[Chat]:
    clear_credentials(monkeypatch)
    clear_instance_cache()
    clock = FakeClock(T0 - timedelta(hours=1))
    xsrv = XServer(now=clock.now).start()
    masto = MastodonServer(now=clock.now).start()
    bsky = BlueskyServer(now=clock.now).start()
    env = {
        **xsrv.env_for("LFP", xsrv.add_user("libraryfreedom")),
        **masto.env_for("LFPM", masto.add_account("lfp")),
        **bsky.env_for("LFPB", bsky.add_account("lfp.bsky.social")),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    write(
        tmp_path / "config.yaml",
        CONFIG.format(
            db=db_url,
            x=xsrv.url,
            masto=masto.url,
            bsky=bsky.url,
            streaming=str(streaming).lower(),
        ),
    )
    write(tmp_path / "content" / "chats" / "fr.yaml", CHAT.format(follow=follow))
    shutil.copytree(ROOT / "graphics", tmp_path / "graphics")
    config = load_config(str(tmp_path / "config.yaml"))
    db = open_database(config.database_url)
    with db.write() as session:
        apply_plan(session, load_content(config), config, clock.now(), "maty")
    with db.write() as session:
        approve(session, "fr-chat", "alison", "ok", clock.now())
    publishers = build_publishers(config, clock, None)
    dispatcher = Dispatcher(db, config, publishers, clock, Notifier())
    follower = Follower(config, db, publishers, clock.now)
    yield Chat(config, db, clock, dispatcher, follower, xsrv, masto, bsky, tmp_path)
    follower.close()
    for srv in (xsrv, masto, bsky):
        srv.stop()
    db.dispose()
    clear_instance_cache()


@pytest.fixture
def chat(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Chat]:
    yield from _chat(tmp_path, db_url, monkeypatch)


# -- placing an answer under its question ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A1 Nobody asked patrons #LFPchat", 1),
        ("a2: the most surveilled", 2),
        ("A 2. Black and brown patrons", 2),
        ("@libraryfreedom @masslib A2 the same patrons", 2),
        ("A10 is not a question here", None),
        ("A2x is not an answer number", None),
        ("Answer: yes", None),
        ("Great chat! #LFPchat", None),
    ],
)
def test_an_answer_number_is_read_after_any_mentions(text: str, expected: int | None) -> None:
    assert numbered(text, questions=3) == expected


def test_a_reply_wins_then_the_number_then_the_time() -> None:
    q1_at, q2_at = T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)
    questions = [
        Question(1, "mastodon", "m1", q1_at),
        Question(2, "mastodon", "m2", q2_at),
        Question(1, "bluesky", "b1", q1_at + timedelta(seconds=2)),
        Question(2, "bluesky", None, None),  # not posted on Bluesky yet
    ]

    def found(text: str, at: datetime, reply_to: str | None = None) -> FoundPost:
        return FoundPost("r", "@someone", text, "https://example/r", at, reply_to)

    late = q2_at + timedelta(minutes=1)
    assert place(found("late to Q1, as a reply", late, "m1"), "mastodon", questions) == 1
    assert place(found("A1 said late", late), "mastodon", questions) == 1
    assert place(found("no number", late), "mastodon", questions) == 2
    # By time on its own platform: Bluesky's Q2 is not out, so this is still Q1 there.
    assert place(found("no number", late), "bluesky", questions) == 1
    assert place(found("before the first question", T0), "mastodon", questions) is None


# -- reading the three platforms ----------------------------------------------------------------


def test_answers_from_three_platforms_are_placed_counted_and_written_once(chat: Chat) -> None:
    chat.run_to(T0 + timedelta(minutes=10, seconds=5))  # intro and Q1 are out everywhere
    x_q1, m_q1, b_q1 = (chat.question(p, 1) for p in ("x", "mastodon", "bluesky"))
    chat.x.post_as("ana", "A1 Nobody asked the patrons #LFPchat")
    chat.x.post_as("ben", "@libraryfreedom it chills reading", reply_to=x_q1)  # no hashtag
    chat.masto.post_as("cleo", "A1 a list of who walked in #lfpchat")
    chat.masto.post_as("dev", "@lfp replying without the tag", reply_to=m_q1)
    chat.bsky.post_as("eve.bsky.social", "A1 consent is impossible #LFPchat")
    chat.bsky.post_as("fay.bsky.social", "a reply, no tag", reply_to=b_q1)
    chat.cycle()

    answers = chat.answers()
    assert {(a.platform, a.author, a.question) for a in answers} == {
        ("x", "@ana", 1),
        ("x", "@ben", 1),
        ("mastodon", "@cleo", 1),
        ("mastodon", "@dev", 1),
        ("bluesky", "@eve.bsky.social", 1),
        ("bluesky", "@fay.bsky.social", 1),
    }
    ana = next(a for a in answers if a.author == "@ana")
    assert ana.url.startswith("https://x.com/ana/status/") and ana.text.startswith("A1 Nobody")
    assert chat.counts() == {(1, "x"): 2, (1, "mastodon"): 2, (1, "bluesky"): 2}
    # The host's own posts (the questions themselves) are never answers.
    assert not [a for a in answers if "face surveillance" in a.text]

    # Q2 goes out; an answer without a number lands under it by time; nothing is counted twice.
    chat.run_to(T0 + timedelta(minutes=20, seconds=5))
    chat.masto.post_as("cleo", "Exactly this. #LFPchat")
    chat.cycle()
    chat.cycle()
    assert chat.counts()[(2, "mastodon")] == 1
    assert chat.counts()[(1, "mastodon")] == 2
    assert len(chat.answers()) == 7
    assert chat.source("x").reads == 2  # X bills per post returned: each was read once


def test_reading_x_is_off_unless_the_chat_enables_it(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for c in _chat(tmp_path, db_url, monkeypatch, follow="{after: 30m}"):
        c.run_to(T0 + timedelta(minutes=10, seconds=5))
        c.x.post_as("ana", "A1 Nobody asked #LFPchat")
        c.masto.post_as("cleo", "A1 on Mastodon #LFPchat")
        c.cycle()
        assert c.x.requests_to("/2/tweets/search") == 0
        assert [a.platform for a in c.answers()] == ["mastodon"]
        source = c.source("x")
        assert source.mode == "off" and "follow: {x: true}" in (source.problem or "")
        assert "$0.005" in (source.problem or "")


def test_reading_x_stops_at_the_chats_cap_and_says_so(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for c in _chat(tmp_path, db_url, monkeypatch, follow="{x: true, x_max_reads: 2}"):
        c.run_to(T0 + timedelta(minutes=10, seconds=5))
        for name in ("ana", "ben", "cy"):
            c.x.post_as(name, f"A1 from {name} #LFPchat")
        c.cycle()
        searches = c.x.requests_to("/2/tweets/search")
        assert searches == 1 and c.x.reads == 3  # one page: the cap stops the next read
        c.x.post_as("dee", "A1 one more #LFPchat")
        c.cycle()
        c.cycle()
        assert c.x.requests_to("/2/tweets/search") == searches, "no read past the cap"
        source = c.source("x")
        assert source.mode == "capped"
        assert "3 posts read" in (source.problem or "") and "x_max_reads" in (source.problem or "")
        assert len([a for a in c.answers() if a.platform == "x"]) == 3


def test_a_rate_limited_platform_says_until_when_and_catches_up_later(chat: Chat) -> None:
    chat.run_to(T0 + timedelta(minutes=10, seconds=5))
    chat.masto.inject("GET", "/api/v1/timelines/tag", "429")
    chat.masto.post_as("cleo", "A1 held back by a rate limit #LFPchat")
    chat.bsky.post_as("eve.bsky.social", "A1 unaffected #LFPchat")
    chat.cycle()
    assert [a.platform for a in chat.answers()] == ["bluesky"]
    problem = chat.source("mastodon").problem or ""
    assert problem.startswith("rate limited reading mastodon until") and "catch up" in problem
    retry_at = chat.source("mastodon").retry_at
    assert retry_at is not None
    chat.clock.set(retry_at)
    chat.cycle(timedelta(seconds=1))
    assert sorted(a.platform for a in chat.answers()) == ["bluesky", "mastodon"]
    assert chat.source("mastodon").problem is None


def test_outside_the_follow_window_nothing_is_read(chat: Chat) -> None:
    chat.follower.cycle()  # an hour before the chat
    assert chat.masto.requests_to("/api/v1/timelines") == 0
    chat.run_to(T0 + timedelta(minutes=30, seconds=5))  # the outro is out
    chat.clock.set(T0 + timedelta(minutes=30 + 31))  # past its 30 minutes of follow: window
    chat.masto.post_as("cleo", "A2 late #LFPchat")
    chat.cycle()
    assert chat.answers() == []


def test_answers_are_purged_after_the_window_and_only_the_counts_stay(chat: Chat) -> None:
    chat.run_to(T0 + timedelta(minutes=10, seconds=5))
    chat.masto.post_as("cleo", "A1 a list of who walked in #LFPchat")
    chat.bsky.post_as("eve.bsky.social", "A1 consent is impossible #LFPchat")
    chat.cycle()
    assert len(chat.answers()) == 2
    chat.run_to(T0 + timedelta(minutes=30, seconds=5))
    window_closes = T0 + timedelta(minutes=60)  # outro at 20:30, then follow.after 30m
    chat.clock.set(window_closes + timedelta(hours=23, minutes=59))
    chat.follower._purged_at = None
    chat.follower.cycle()
    assert len(chat.answers()) == 2, "kept until answers.keep (24 h) after the window"
    chat.clock.set(window_closes + timedelta(hours=24, seconds=1))
    chat.follower._purged_at = None
    chat.follower.cycle()
    assert chat.answers() == []
    assert chat.counts() == {(1, "mastodon"): 1, (1, "bluesky"): 1}
    assert chat.source("mastodon").purged_at is not None


def test_mastodons_stream_carries_answers_and_a_dropped_stream_falls_back_to_polling(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for c in _chat(tmp_path, db_url, monkeypatch, streaming=True):
        c.run_to(T0 + timedelta(minutes=10, seconds=5))
        c.cycle()  # opens the stream
        assert c.source("mastodon").mode == "streaming"
        polls = c.masto.requests_to("/api/v1/timelines/tag")
        c.masto.post_as("cleo", "A1 streamed in #LFPchat")
        assert c.follower.arrived.wait(5), "the stream delivered the post"
        c.follower.drain()
        assert [(a.author, a.question) for a in c.answers()] == [("@cleo", 1)]
        assert c.masto.requests_to("/api/v1/timelines/tag") == polls, "no polling meanwhile"

        c.masto.drop_streams()
        stream = c.follower.streams[("fr-chat", "mastodon")]
        stream._handle.join(5)  # type: ignore[attr-defined]
        assert not stream.alive
        c.masto.streaming_enabled = False  # and it does not come back
        c.masto.post_as("dev", "A1 while the stream is down #LFPchat")
        c.cycle()
        source = c.source("mastodon")
        assert source.mode == "polling"
        assert "stream dropped; polling every 1.5s" in (source.problem or "")
        assert {a.author for a in c.answers()} == {"@cleo", "@dev"}


# -- the host's actions -----------------------------------------------------------------------


def _answer(c: Chat, platform: str) -> Answer:
    return next(a for a in c.answers() if a.platform == platform)


def test_like_repost_and_reply_go_out_once_through_the_engine(chat: Chat) -> None:
    chat.run_to(T0 + timedelta(minutes=10, seconds=5))
    chat.x.post_as("ana", "A1 Nobody asked the patrons #LFPchat")
    chat.masto.post_as("cleo", "A1 a list of who walked in #LFPchat")
    chat.bsky.post_as("eve.bsky.social", "A1 consent is impossible #LFPchat")
    chat.cycle()
    x, m, b = (_answer(chat, p) for p in ("x", "mastodon", "bluesky"))
    now = chat.clock.now()
    with chat.db.write() as s:
        act(s, chat.config, m.id, "like", "hank", now)
        act(s, chat.config, m.id, "repost", "hank", now)
        again = act(s, chat.config, m.id, "repost", "hank", now)  # a double click
        act(s, chat.config, b.id, "like", "hank", now)
        act(s, chat.config, x.id, "reply", "hank", now, text="Thank you, this is the point.")
        act(s, chat.config, x.id, "repost", "hank", now)
    assert not again.queued and again.message.startswith("already reposted")
    with pytest.raises(ActionError, match="X removed likes from its API"), chat.db.write() as s:
        act(s, chat.config, x.id, "like", "hank", now)

    chat.run_to(now + timedelta(seconds=5))
    assert {target for _, target in chat.masto.favourites} == {m.remote_id}
    assert [s.reblog_of for s in chat.masto.statuses_by("lfp") if s.reblog_of] == [m.remote_id]
    likes = chat.bsky.posts_by("lfp.bsky.social", "app.bsky.feed.like")
    assert [r.value["subject"]["uri"] for r in likes] == [b.remote_id]
    [reply] = [t for t in chat.x.posts_by("libraryfreedom") if t.reply_to == x.remote_id]
    assert reply.text == "Thank you, this is the point."
    assert [t.retweet_of for t in chat.x.posts_by("libraryfreedom") if t.retweet_of] == [
        x.remote_id
    ]
    with chat.db.read() as s:
        actions = list(s.scalars(select(Post).where(Post.kind.like("answer-%"))))
        audit = list(s.scalars(select(AuditEntry).where(AuditEntry.action.like("answer.%"))))
    assert len(actions) == 5 and {p.state for p in actions} == {PostState.POSTED}
    assert len(audit) == 5 and {e.detail["approval"] for e in audit} == {"the host's click"}
    assert {e.actor for e in audit} == {"hank"}

    # The content does not know these posts: apply leaves them alone.
    with chat.db.write() as s:
        plan = compute_plan(s, load_content(chat.config), chat.config, chat.clock.now())
    assert not [c for c in plan.changes if c.key.startswith("answer/")]


def test_a_reply_that_fails_the_checks_is_refused_and_nothing_is_queued(chat: Chat) -> None:
    chat.run_to(T0 + timedelta(minutes=10, seconds=5))
    chat.bsky.post_as("eve.bsky.social", "A1 consent is impossible #LFPchat")
    chat.cycle()
    answer = _answer(chat, "bluesky")
    with (
        pytest.raises(
            ActionError,
            match=r"the reply was not sent; fix it first: platform\.length: 301 characters as bluesky",
        ),
        chat.db.write() as s,
    ):
        act(s, chat.config, answer.id, "reply", "hank", chat.clock.now(), text="x" * 301)
    # The organisation's vision applies to a reply as to any post.
    shutil.copy(ROOT / "content" / "vision.yaml", chat.root / "content" / "vision.yaml")
    tracked = "Read https://example.org/ban?utm_source=chat"
    refused = r"lfp\.privacy\.no-tracking: remove 'utm_source'"
    with pytest.raises(ActionError, match=refused), chat.db.write() as s:
        act(s, chat.config, answer.id, "reply", "hank", chat.clock.now(), text=tracked)
    with pytest.raises(ActionError, match="write the reply first"), chat.db.write() as s:
        act(s, chat.config, answer.id, "reply", "hank", chat.clock.now(), text="  ")
    with chat.db.read() as s:
        assert list(s.scalars(select(Post).where(Post.kind.like("answer-%")))) == []


def test_an_action_on_a_purged_answer_says_so(chat: Chat) -> None:
    with pytest.raises(ActionError, match="no longer held"), chat.db.write() as s:
        act(s, chat.config, 999, "repost", "hank", chat.clock.now())


# -- the terminal and the plan ------------------------------------------------------------------


def test_chat_follow_prints_the_stream_as_json_lines_until_the_window_closes(chat: Chat) -> None:
    chat.run_to(T0 + timedelta(minutes=10, seconds=5))
    chat.masto.post_as("cleo", "A1 a list of who walked in #LFPchat")
    chat.bsky.post_as("eve.bsky.social", "Q1 is the question #LFPchat")
    chat.cycle()
    chat.run_to(T0 + timedelta(minutes=30, seconds=5))
    config = str(chat.root / "config.yaml")
    with freeze_time(T0 + timedelta(hours=2)):  # the window has closed: print and stop
        result = CliRunner().invoke(
            cli, ["--config", config, "chat", "follow", "fr-chat", "--format", "json"]
        )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    # In the order the worker read them (one cycle read both platforms).
    assert sorted((x["platform"], x["question"], x["author"]) for x in lines) == [
        ("bluesky", 1, "@eve.bsky.social"),
        ("mastodon", 1, "@cleo"),
    ]
    assert set(lines[0]) == {"platform", "question", "author", "url", "text", "at"}
    assert lines[0]["at"].endswith("Z")
    assert "2 answers printed" in result.stderr


def test_chat_follow_prints_answers_as_they_arrive(chat: Chat) -> None:
    from chatbot.cli.app import App
    from chatbot.cli.follow import follow

    chat.run_to(T0 + timedelta(minutes=10, seconds=5))
    app = App(str(chat.root / "config.yaml"), clock=chat.clock.now)
    arrivals = iter(
        [
            lambda: chat.masto.post_as("cleo", "A1 first #LFPchat"),
            lambda: chat.bsky.post_as("eve.bsky.social", "A1 second #LFPchat"),
        ]
    )

    def wait(_seconds: float) -> None:
        """Between two reads: somebody answers, the worker reads it, time passes."""
        arrive = next(arrivals, None)
        if arrive is not None:
            arrive()
            chat.cycle()
        else:
            chat.clock.set(T0 + timedelta(hours=3))

    out: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            out.append(text)

        def flush(self) -> None:
            pass

    printed = follow(app, "fr-chat", "text", out=Out(), wait=wait)  # type: ignore[arg-type]
    app.close()
    lines = [line for line in "".join(out).splitlines() if line]
    assert printed == 2 and len(lines) == 2
    assert lines[0].startswith("Q1   Mastodon") and "@cleo: A1 first #LFPchat" in lines[0]
    assert lines[1].startswith("Q1   Bluesky") and "@eve.bsky.social" in lines[1]


def test_chat_follow_of_an_unknown_chat_is_one_line(chat: Chat) -> None:
    config = str(chat.root / "config.yaml")
    result = CliRunner().invoke(cli, ["--config", config, "chat", "follow", "nope"])
    assert result.exit_code == 1
    assert "no chat called 'nope'" in result.stderr and "fr-chat" in result.stderr


def test_plan_shows_what_following_x_can_cost(chat: Chat) -> None:
    config = str(chat.root / "config.yaml")
    result = CliRunner().invoke(cli, ["--config", config, "plan"])
    assert result.exit_code == 0, result.output
    assert "fr-chat: following its answers on X costs at most $0.25 (50 posts at $0.005" in (
        result.stdout
    )


def test_the_counts_table_outlives_answers_and_is_per_question_and_platform(chat: Chat) -> None:
    with chat.db.write() as s:
        followed = store.chats(s, chat.config.settings, ["fr-chat"])[0]
        post = FoundPost("1", "@ana", "A2 yes", "https://x/1", T0, None)
        assert store.record(s, followed, "x", [post, post], T0) == 1
        assert store.record(s, followed, "x", [post], T0) == 0
    with chat.db.read() as s:
        rows = list(s.scalars(select(AnswerCount)))
    assert [(r.question, r.platform, r.answers) for r in rows] == [(2, "x", 1)]


def test_an_applied_chats_follow_options_are_stored(chat: Chat) -> None:
    with chat.db.read() as s:
        [followed] = store.chats(s, chat.config.settings, ["fr-chat"])
    assert followed.read_x and followed.x_max_reads == 50
    assert followed.starts == T0
    assert followed.ends == T0 + timedelta(minutes=30) + timedelta(minutes=30)
    assert set(followed.hosts) == {"x", "mastodon", "bluesky"}


def test_follow_keys_are_checked_like_the_rest_of_a_chat(project: object) -> None:
    from tests.conftest import Project

    assert isinstance(project, Project)
    project.chat(
        "fr",
        'id: fr-chat\nhashtag: "#LFPchat"\nhost: lfp\nstarts_at: 2026-12-03 20:00\n'
        "interval: 10m\nfollow: {x: yes-please, x_max_reads: 0}\nquestions:\n  - text: Why?\n",
    )
    result = project.run("check")
    assert result.exit_code == 1
    assert "follow.x" in result.output and "follow.x_max_reads" in result.output
    assert "Traceback" not in result.output


def test_thread_reads_for_untagged_replies_are_rarer_than_searches(chat: Chat) -> None:
    """Mastodon allows an account 300 requests in 5 minutes, posts included: its search runs
    every few seconds, its thread reads every ``answers.replies_every`` (15 s)."""
    chat.run_to(T0 + timedelta(minutes=10, seconds=5))
    m_q1 = chat.question("mastodon", 1)

    def contexts() -> int:
        return sum(1 for _, path, _ in chat.masto.log if path.endswith("/context"))

    chat.cycle()
    first = contexts()
    assert first == 1  # Q1's thread (Q2 is not out)
    chat.masto.post_as("dev", "@lfp no tag, a reply", reply_to=m_q1)
    chat.cycle(timedelta(seconds=5))
    chat.cycle(timedelta(seconds=5))
    assert contexts() == first and not [a for a in chat.answers() if a.author == "@dev"]
    chat.cycle(timedelta(seconds=5))  # 15 s after the last thread read
    assert contexts() == first + 1
    assert [(a.author, a.question) for a in chat.answers() if a.author == "@dev"] == [("@dev", 1)]


def test_a_burst_of_more_than_a_page_between_two_reads_is_read_whole(chat: Chat) -> None:
    """Mastodon's page is 40, X's and Bluesky's 100: a burst bigger than that between two
    reads is paged through, oldest to newest on Mastodon (min_id), so none is skipped."""
    chat.run_to(T0 + timedelta(minutes=10, seconds=5))
    chat.cycle()
    for i in range(130):
        chat.masto.post_as(f"m{i}", f"A1 number {i} #LFPchat")
        chat.x.post_as(f"x{i}", f"A1 number {i} #LFPchat")
        chat.bsky.post_as(f"b{i}.bsky.social", f"A1 number {i} #LFPchat")
    chat.cycle()
    chat.cycle()
    counts = chat.counts()
    assert counts == {(1, "mastodon"): 130, (1, "x"): 130, (1, "bluesky"): 130}


def test_chat_status_recaps_the_answers_per_question_and_platform(chat: Chat) -> None:
    chat.run_to(T0 + timedelta(minutes=10, seconds=5))
    chat.masto.post_as("cleo", "A1 a list #LFPchat")
    chat.bsky.post_as("eve.bsky.social", "A1 consent #LFPchat")
    chat.bsky.post_as("fay.bsky.social", "A1 too #LFPchat")
    chat.cycle()
    result = CliRunner().invoke(
        cli, ["--config", str(chat.root / "config.yaml"), "chat", "status", "fr-chat"]
    )
    assert result.exit_code == 0, result.output
    assert "answers: 3 in all; Q1 3 (Bluesky 2 · Mastodon 1)" in result.stdout


def test_a_malformed_answer_stops_only_its_platform_and_says_so(chat: Chat) -> None:
    chat.run_to(T0 + timedelta(minutes=10, seconds=5))
    chat.bsky.post_as("eve.bsky.social", "A1 fine #LFPchat")
    # A status without an id is not an answer (Mastodon.py would call its id "None").
    chat.masto.malformed = [{"content": "<p>A1 #LFPchat</p>"}]
    chat.cycle()
    assert [a.platform for a in chat.answers()] == ["bluesky"]
    assert chat.source("mastodon").problem is None
    # One the code cannot read at all stops that platform only, and the console says so.
    chat.masto.malformed = [{"id": "9", "account": "nobody", "content": "<p>A1</p>"}]
    chat.bsky.post_as("fay.bsky.social", "A1 still read #LFPchat")
    chat.cycle()
    assert [a.platform for a in chat.answers()] == ["bluesky", "bluesky"]
    assert chat.source("mastodon").problem == (
        "answers not read: internal error (AttributeError); see the log"
    )


def test_an_instance_without_a_stream_is_polled_and_not_called_dropped(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for c in _chat(tmp_path, db_url, monkeypatch, streaming=True):
        c.masto.streaming_enabled = False  # from the start: there never was a stream
        c.run_to(T0 + timedelta(minutes=10, seconds=5))
        c.masto.post_as("cleo", "A1 polled #LFPchat")
        c.cycle()
        source = c.source("mastodon")
        assert source.mode == "polling" and source.problem is None
        assert [a.author for a in c.answers()] == ["@cleo"]


def test_why_x_is_not_read_is_written_once_and_follows_the_chat(chat: Chat) -> None:
    """An X-off chat is noted once, not every cycle; when the chat enables X it is read."""
    chat.run_to(T0 + timedelta(minutes=10, seconds=5))
    with chat.db.write() as s:
        chat_row = s.scalars(select(Chat_)).one()
        chat_row.follow = {"x": False}
    chat.cycle()
    assert chat.source("x").mode == "off"
    with chat.db.write() as s:
        s.get(AnswerSource, ("fr-chat", "x")).problem = "changed elsewhere"  # type: ignore[union-attr]
    chat.cycle()
    assert chat.source("x").problem == "changed elsewhere", "not written again: nothing changed"
    with chat.db.write() as s:
        s.scalars(select(Chat_)).one().follow = {"x": True}
    chat.x.post_as("ana", "A1 read now #LFPchat")
    chat.cycle()
    assert chat.source("x").mode == "polling" and chat.source("x").problem is None
    with chat.db.write() as s:
        s.scalars(select(Chat_)).one().follow = {"x": False}
    chat.cycle()
    assert chat.source("x").mode == "off", "noted again after a read changed the row"


def test_chat_follow_started_late_prints_every_held_answer_in_order(
    chat: Chat, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """More answers held than one read prints: paged oldest to newest, none skipped; the
    header is said once; Ctrl-C (here, in the pause after the last page) is a clean stop."""
    from chatbot.cli import follow as follow_module
    from chatbot.cli.app import App

    monkeypatch.setattr(follow_module, "PAGE", 2)
    with chat.db.write() as s:
        [followed] = store.chats(s, chat.config.settings, ["fr-chat"])
        found = [
            FoundPost(str(i), f"@p{i}", f"A1 answer {i}", f"https://x/{i}", T0, None)
            for i in range(5)
        ]
        store.record(s, followed, "x", found, T0)
    app = App(str(chat.root / "config.yaml"), clock=chat.clock.now)
    reads = 0

    def wait(_seconds: float) -> None:
        nonlocal reads
        reads += 1
        raise KeyboardInterrupt

    lines: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            lines.extend(t for t in text.splitlines() if t)

        def flush(self) -> None:
            pass

    printed = follow_module.follow(app, "fr-chat", "json", out=Out(), wait=wait)  # type: ignore[arg-type]
    app.close()
    assert printed == 5 and reads == 1, "three pages, then one pause (where Ctrl-C came)"
    assert [json.loads(line)["author"] for line in lines] == [f"@p{i}" for i in range(5)]
    assert capsys.readouterr().err.count("following #LFPchat") == 1
