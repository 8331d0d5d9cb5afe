"""Hosting a live chat: every control verb during a running chat, through the CLI (time frozen
with freezegun) and the real dispatcher (fake clock), against the loopback X server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from freezegun import freeze_time
from sqlalchemy import select

from chatbot.cli import cli
from chatbot.db.models import AuditEntry, Chat, PostState
from tests.enginekit import (
    FR_QUESTIONS,
    MASSLIB_AFTER_2M,
    NELA_SKIPS_Q2,
    T0,
    Engine,
    fr_chat,
    make_engine,
)
from tests.xserver import XServer

CHAT = fr_chat(*FR_QUESTIONS, amplify=MASSLIB_AFTER_2M + NELA_SKIPS_Q2)
MIN = timedelta(minutes=1)


@pytest.fixture
def engine(
    tmp_path: Path, server: XServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    eng = make_engine(tmp_path, server, db_url, monkeypatch, CHAT)
    yield eng
    eng.close()


def chat(engine: Engine, *args: str, ok: bool = True) -> Result:
    """Run `chatbot chat ...` as the host would, with the wall clock frozen at the fake now.

    `status` reads no clock and runs unfrozen: freezegun's datetime drops ``fold``, so it would
    print 01:30 EST as 01:30 EDT on the night clocks fall back."""
    argv = ["--config", str(engine.config_path), "chat", *args]
    if args[0] == "status":
        result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    else:
        with freeze_time(engine.clock.now()):
            result = CliRunner().invoke(cli, [*argv, "--by", "alison"], catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result


def at(engine: Engine, when: datetime) -> datetime | None:
    """Move the clock and run one dispatch step, as the worker's timer would."""
    engine.clock.set(when)
    return engine.dispatcher().run_due()


def posted(engine: Engine, user: str = "libraryfreedom") -> list[str]:
    tweets = sorted(engine.server.posts_by(user), key=lambda t: (t.created_at, int(t.id)))
    return [t.text.split(":", 1)[0] if t.text else f"RT {t.retweet_of}" for t in tweets]


def audit(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.db.read() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(a.actor, a.action, a.target) for a in rows if a.action.startswith("chat.")]


def test_pause_across_a_questions_time_holds_it_and_resume_shifts_the_rest(
    engine: Engine,
) -> None:
    at(engine, T0 + 10 * MIN)  # Q1 goes out
    assert posted(engine) == ["Q1"]
    engine.clock.set(T0 + 15 * MIN)
    assert "paused fr-chat" in chat(engine, "pause", "fr-chat").output
    # Q2's time passes while paused: nothing goes out and the timer does not wake for it.
    wake = at(engine, T0 + 20 * MIN)
    assert posted(engine) == ["Q1"]
    assert engine.post("fr-chat/q2").state == PostState.QUEUED
    assert wake is None or wake > T0 + 20 * MIN
    # The reposts of Q1, already posted, are not held by the pause.
    assert engine.post("fr-chat/q1@masslib").state == PostState.POSTED
    # Resume after a 9-minute pause: Q2 moves from 20:20 to 20:29, Q3 from 20:30 to 20:39.
    engine.clock.set(T0 + 24 * MIN)
    out = chat(engine, "resume", "fr-chat").output
    assert "moved 9m later" in out
    # One zone per message, the chat's (UTC here), named, not a bare "Z".
    assert out.rstrip().endswith("next: Q2 at 20:29:00 UTC")
    assert engine.post("fr-chat/q2").scheduled_at == T0 + 29 * MIN
    assert engine.post("fr-chat/q3").scheduled_at == T0 + 39 * MIN
    assert engine.post("fr-chat/q2").planned_at == T0 + 20 * MIN
    assert at(engine, T0 + 28 * MIN) == T0 + 29 * MIN
    at(engine, T0 + 29 * MIN)
    assert posted(engine) == ["Q1", "Q2"]
    assert [a[1] for a in audit(engine)] == ["chat.pause", "chat.resume"]
    assert {a[0] for a in audit(engine)} == {"alison"}


def test_resume_keeping_times_skips_what_fell_due(engine: Engine) -> None:
    at(engine, T0 + 10 * MIN)
    engine.clock.set(T0 + 15 * MIN)
    chat(engine, "pause", "fr-chat")
    engine.clock.set(T0 + 31 * MIN)
    out = chat(engine, "resume", "fr-chat", "--keep-times").output
    assert "skipped Q2, Q3" in out
    states = engine.states()
    assert states["fr-chat/q2"] == states["fr-chat/q3"] == PostState.SKIPPED
    assert states["fr-chat/q2@masslib"] == PostState.SKIPPED
    at(engine, T0 + 40 * MIN)
    assert posted(engine) == ["Q1", "Q4"]
    # Q4 keeps its number: nothing is renumbered.
    assert engine.post("fr-chat/q4").text.startswith("Q4: ")


def test_pause_and_resume_are_safe_to_repeat(engine: Engine) -> None:
    engine.clock.set(T0 + 5 * MIN)
    chat(engine, "pause", "fr-chat")
    assert "already paused" in chat(engine, "pause", "fr-chat").output
    engine.clock.set(T0 + 8 * MIN)
    chat(engine, "resume", "fr-chat")
    assert "not paused" in chat(engine, "resume", "fr-chat").output
    # One pause and one resume recorded; the 3-minute shift applied once.
    assert [a[1] for a in audit(engine)] == ["chat.pause", "chat.resume"]
    assert engine.post("fr-chat/q1").scheduled_at == T0 + 13 * MIN


def test_skip_drops_the_next_question_and_its_reposts_without_renumbering(
    engine: Engine,
) -> None:
    at(engine, T0 + 10 * MIN)
    engine.clock.set(T0 + 12 * MIN)
    out = chat(engine, "skip", "fr-chat").output
    assert "skipped Q2" in out and "--question 2" in out
    assert engine.post("fr-chat/q2").state == PostState.SKIPPED
    assert engine.post("fr-chat/q2").state_reason == "skipped by alison"
    assert engine.post("fr-chat/q2@masslib").state == PostState.SKIPPED
    # Naming the question makes a repeat harmless: Q3 is not skipped by a second run.
    assert "already skipped" in chat(engine, "skip", "fr-chat", "--question", "2").output
    assert engine.post("fr-chat/q3").state == PostState.QUEUED
    for minute in (12, 20, 30):
        at(engine, T0 + minute * MIN)
    assert posted(engine) == ["Q1", "Q3"]
    # Skipping something already posted is refused with the reason.
    out = chat(engine, "skip", "fr-chat", "--question", "1", ok=False).output
    assert "Q1 of fr-chat is already posted; it cannot be skipped" in out


def test_delay_shifts_the_rest_and_apply_keeps_the_shift(engine: Engine) -> None:
    at(engine, T0 + 10 * MIN)
    engine.clock.set(T0 + 14 * MIN)
    out = chat(engine, "delay", "fr-chat", "5m").output
    assert "delayed the rest of fr-chat by 5m" in out
    assert [engine.post(f"fr-chat/q{n}").scheduled_at for n in (2, 3, 4)] == [
        T0 + 25 * MIN,
        T0 + 35 * MIN,
        T0 + 45 * MIN,
    ]
    # Re-applying the content (say, a typo fixed elsewhere) does not undo the host's delay.
    engine.apply_and_approve()
    assert engine.post("fr-chat/q2").scheduled_at == T0 + 25 * MIN
    assert at(engine, T0 + 20 * MIN) == T0 + 25 * MIN
    assert posted(engine) == ["Q1"]
    at(engine, T0 + 25 * MIN)
    assert posted(engine) == ["Q1", "Q2"]
    # The interface's argument order (DURATION before CHAT_ID) works too.
    chat(engine, "delay", "1m", "fr-chat")
    assert engine.post("fr-chat/q3").scheduled_at == T0 + 36 * MIN
    assert "DURATION" in chat(engine, "delay", "fr-chat", "soon", ok=False).output


def test_now_posts_the_next_question_at_once_and_only_once(engine: Engine) -> None:
    at(engine, T0 + 10 * MIN)
    engine.clock.set(T0 + 13 * MIN)
    assert "posting Q2 of fr-chat now" in chat(engine, "now", "fr-chat").output
    at(engine, T0 + 13 * MIN)
    assert posted(engine) == ["Q1", "Q2"]
    assert engine.post("fr-chat/q2").posted_at == T0 + 13 * MIN
    # Repeating it for the same question does nothing more; Q3 keeps its time.
    assert "already posted" in chat(engine, "now", "fr-chat", "--question", "2").output
    assert engine.post("fr-chat/q3").scheduled_at == T0 + 30 * MIN
    # The reposts follow the confirmed time of Q2.
    at(engine, T0 + 15 * MIN)
    assert engine.post("fr-chat/q2@masslib").posted_at == T0 + 15 * MIN


def test_a_stale_control_is_refused_and_changes_nothing(engine: Engine) -> None:
    with engine.db.read() as session:
        version = session.scalars(select(Chat.control_version)).one()
    engine.clock.set(T0 + 5 * MIN)
    chat(engine, "delay", "fr-chat", "2m", "--if-version", str(version))
    # A second host (or a double click) sends the same control with the same version.
    out = chat(engine, "delay", "fr-chat", "2m", "--if-version", str(version), ok=False).output
    assert "changed since you looked" in out and "nothing was done" in out
    assert engine.post("fr-chat/q1").scheduled_at == T0 + 12 * MIN
    assert len(audit(engine)) == 1


def test_controls_explain_what_cannot_be_done(engine: Engine) -> None:
    engine.clock.set(T0 + 5 * MIN)
    assert "no chat called 'nope'" in chat(engine, "pause", "nope", ok=False).output
    assert "has no Q9" in chat(engine, "skip", "fr-chat", "--question", "9", ok=False).output
    chat(engine, "pause", "fr-chat")
    assert "resume it first" in chat(engine, "now", "fr-chat", ok=False).output
    status = chat(engine, "status", "fr-chat").output
    assert "paused" in status and "Q1 ← next" in status


def test_paused_partner_does_not_hold_up_the_others(engine: Engine) -> None:
    with freeze_time(T0):
        CliRunner().invoke(
            cli,
            ["--config", str(engine.config_path), "account", "pause", "nela", "--by", "jo"],
            catch_exceptions=False,
        )
    for minute in (10, 12, 13, 20, 22):
        at(engine, T0 + minute * MIN)
    states = engine.states()
    assert states["fr-chat/q1@masslib"] == states["fr-chat/q2@masslib"] == PostState.POSTED
    assert states["fr-chat/q2"] == PostState.POSTED
    assert states["fr-chat/q1@nela"] == PostState.QUEUED
    # nela opted out of Q2: there is no such repost at all.
    assert "fr-chat/q2@nela" not in states


DST_CHAT = """
id: fr-chat
hashtag: "#LFPchat"
host: lfp
timezone: America/New_York
starts_at: 2026-11-01 00:50
interval: 20m
questions:
  - text: One?
  - text: Two?
  - text: Three?
  - text: Four?
"""


def test_a_chat_across_the_fall_back_change_pauses_and_resumes_in_elapsed_time(
    tmp_path: Path, server: XServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2026-11-01: New York falls back at 02:00 EDT (06:00Z) to 01:00 EST.
    eng = make_engine(tmp_path, server, db_url, monkeypatch, DST_CHAT)
    try:
        start = datetime(2026, 11, 1, 4, 50, tzinfo=UTC)  # 00:50 EDT
        times = [eng.post(f"fr-chat/q{n}").scheduled_at for n in (1, 2, 3, 4)]
        assert times == [start + n * 20 * MIN for n in (1, 2, 3, 4)]
        at(eng, start + 20 * MIN)  # Q1 01:10 EDT
        eng.clock.set(start + 35 * MIN)  # 01:25 EDT, before Q2 at 01:30 EDT
        chat(eng, "pause", "fr-chat")
        # 01:25 EST: the wall clock reads the same, but the pause lasted an hour.
        eng.clock.set(start + 95 * MIN)
        chat(eng, "resume", "fr-chat")
        assert eng.post("fr-chat/q2").scheduled_at == start + 100 * MIN
        status = chat(eng, "status", "fr-chat").output
        assert "01:30:00 EST" in status and "01:10:00 EDT" in status
        at(eng, start + 100 * MIN)
        assert posted(eng) == ["Q1", "Q2"]
    finally:
        eng.close()


OWN_WORDS_CHAT = CHAT.replace(
    "    skip: [q2]\n",
    "    skip: [q2]\n    own_words:\n      q1: New England friends, tell us about camera vendors.\n",
)


def test_a_partners_own_words_go_out_after_the_confirmed_original(
    tmp_path: Path, server: XServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = make_engine(tmp_path, server, db_url, monkeypatch, OWN_WORDS_CHAT)
    try:
        # Q1 goes out a minute late (the worker was busy): nela's words follow the real time.
        at(eng, T0 + 11 * MIN)
        assert at(eng, T0 + 13 * MIN) == T0 + 14 * MIN
        assert eng.server.posts_by("nelib") == []
        at(eng, T0 + 14 * MIN)
        [tweet] = eng.server.posts_by("nelib")
        assert tweet.text == "New England friends, tell us about camera vendors. #LFPchat"
        assert tweet.retweet_of is None
        assert eng.post("fr-chat/q1@nela").posted_at == T0 + 14 * MIN
    finally:
        eng.close()


def test_every_effective_control_bumps_the_version_workers_poll(engine: Engine) -> None:
    from chatbot.engine import store

    before = store.control_version(engine.db)
    engine.clock.set(T0 + 5 * MIN)
    chat(engine, "pause", "fr-chat")
    assert store.control_version(engine.db) == before + 1
    chat(engine, "pause", "fr-chat")  # a no-op: a worker has nothing new to react to
    assert store.control_version(engine.db) == before + 1
    chat(engine, "resume", "fr-chat")
    chat(engine, "delay", "fr-chat", "1m")
    assert store.control_version(engine.db) == before + 3
