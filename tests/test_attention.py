"""No silent gaps: what a host or an operator must be told, and told once.

A chat post not approved in time, overdue chat posts going out in their order, a failure that
repeats every cycle, a locked database, a config with nothing to run, and what ``chatbot check``
says about times, ids, cards and an empty content folder."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from chatbot.cli import cli
from chatbot.db.models import Post, PostState
from chatbot.engine.clock import FakeClock
from chatbot.engine.jobqueue import JobQueue
from chatbot.engine.notify import Notifier, Problems
from chatbot.queue import live
from tests.conftest import Project
from tests.enginekit import FR_QUESTIONS, T0, Engine, clear_credentials, fr_chat, make_engine
from tests.fakehttp import Webhook
from tests.xserver import XServer

MIN = timedelta(minutes=1)


def chat_with(q2: str) -> str:
    return fr_chat(FR_QUESTIONS[0], q2, FR_QUESTIONS[2])


@pytest.fixture
def engine(
    tmp_path: Path, server: XServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    eng = make_engine(tmp_path, server, db_url, monkeypatch, chat_with("Who carries the risk?"))
    yield eng
    eng.close()


def cli_at(engine: Engine, *args: str) -> str:
    with freeze_time(engine.clock.now()):
        result = CliRunner().invoke(
            cli, ["--config", str(engine.config_path), *args], catch_exceptions=False
        )
    assert result.exit_code == 0, result.output
    return result.output


def test_a_chat_post_edited_mid_chat_is_flagged_then_skipped_and_next_moves_on(
    engine: Engine,
) -> None:
    dispatcher = engine.dispatcher()
    engine.clock.set(T0 + 10 * MIN)
    dispatcher.run_due()  # Q1 goes out
    # Q2 is edited while the chat runs: the edit voids its approval.
    engine.content("chats", "fr", chat_with("Who carries the risk, and who decides?"))
    engine.clock.set(T0 + 12 * MIN)
    engine.apply_and_approve()
    assert engine.post("fr-chat/q2").state == PostState.DRAFT

    status = cli_at(engine, "status")
    assert "not approved, due within 1d (" in status
    assert "fr-chat/q2 (lfp) is not approved and due in 8m" in status
    assert "chatbot chat skip fr-chat --question 2" in status
    assert "nothing needs attention" not in status
    data = json.loads(cli_at(engine, "status", "--format", "json"))
    assert [u["post"] for u in data["unapproved"]] == ["fr-chat/q2"]

    # Within the lateness window it waits for an approval; past it, it is skipped with the
    # reason, a person is told, its repost goes with it, and Q3 still goes out on time.
    engine.clock.set(T0 + 21 * MIN)
    dispatcher.run_due()
    assert engine.post("fr-chat/q2").state == PostState.DRAFT
    engine.clock.set(T0 + 22 * MIN + timedelta(seconds=1))
    dispatcher.run_due()
    q2 = engine.post("fr-chat/q2")
    assert q2.state == PostState.SKIPPED
    assert q2.state_reason is not None and "not approved by its time" in q2.state_reason
    assert engine.notifier.sent[-1][0] == "Post fr-chat/q2 skipped: not approved"
    with engine.db.read() as session:
        status_now = live.load_status(session, "fr-chat")
    assert status_now.next is not None and status_now.next.key == "fr-chat/q3"
    engine.clock.set(T0 + 30 * MIN)
    dispatcher.run_due()
    texts = [t.text for t in engine.server.posts_by("libraryfreedom")]
    assert any(t.startswith("Q3:") for t in texts) and not any(t.startswith("Q2:") for t in texts)
    assert engine.post("fr-chat/q2@masslib").state == PostState.SKIPPED
    assert "nothing needs attention" in cli_at(engine, "status")


def test_overdue_chat_posts_of_one_account_go_out_in_their_order(
    tmp_path: Path, server: XServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After downtime Q1 (with a card to render) and Q2 are both due: Q2 waits for Q1's
    outcome even with eight send threads, so the audience never sees Q2 first."""
    clear_credentials(monkeypatch)
    eng = Engine(tmp_path, f"sqlite:///{tmp_path / 'q.db'}", server, server.clock)  # type: ignore[attr-defined]
    eng.content(
        "chats",
        "fr",
        """
        id: fr-chat
        hashtag: "#LFPchat"
        host: lfp
        starts_at: 2026-12-03 20:00
        interval: 30s
        questions:
          - {text: 'What does face surveillance mean?', card: question, alt: A card with Q1}
          - text: Who carries the risk?
          - text: What would a ban look like?
        """,
    )
    eng.clock.set(T0 - timedelta(hours=1))
    eng.apply_and_approve("fr-chat")
    eng.clock.set(T0 + timedelta(seconds=105))  # Q1, Q2 and Q3 all overdue, within 2m
    woken = threading.Event()
    with ThreadPoolExecutor(8) as pool:
        dispatcher = eng.dispatcher(pool, on_sent=woken.set)
        for _ in range(10):
            woken.clear()
            dispatcher.run_due()
            assert dispatcher.wait_for_sends(10, queued_too=True)
            if len(eng.server.posts_by("libraryfreedom")) == 3:
                break
            assert woken.is_set(), "the next chat post was never woken for"
    tweets = sorted(eng.server.posts_by("libraryfreedom"), key=lambda t: int(t.id))
    assert [t.text[:3] for t in tweets] == ["Q1:", "Q2:", "Q3:"]
    eng.close()


def test_the_last_send_under_way_asks_for_another_look(
    tmp_path: Path, server: XServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A campaign post with nothing waiting on it: when its send ends and nothing else is under
    way, the dispatcher still asks for a cycle. Without it, a cycle that ran while the send was
    finishing saw it in flight, `--until-idle` could not stop then, and no timer looked again
    (a worker that never exited in about 1 of 15 runs on a loaded machine)."""
    clear_credentials(monkeypatch)
    eng = Engine(tmp_path, f"sqlite:///{tmp_path / 'q.db'}", server, server.clock)  # type: ignore[attr-defined]
    eng.content(
        "campaigns",
        "one",
        f"""
        id: one
        accounts: [lfp]
        posts:
          - {{id: a, text: 'Ask your library board to ban face surveillance', at: '{T0:%Y-%m-%dT%H:%MZ}'}}
          - {{id: b, text: 'Write to your council about the camera contract', at: '{T0:%Y-%m-%dT%H:%MZ}'}}
        """,
    )
    eng.clock.set(T0 - timedelta(hours=1))
    eng.apply_and_approve("one")
    eng.clock.set(T0 + timedelta(seconds=5))
    looks: list[int] = []
    with ThreadPoolExecutor(2) as pool:
        dispatcher = eng.dispatcher(pool, on_sent=lambda: looks.append(len(dispatcher.in_flight)))
        dispatcher.run_due()
        assert dispatcher.wait_for_sends(10, queued_too=True)
    assert len(eng.server.posts_by("libraryfreedom")) == 2
    assert looks and looks[-1] == 0, "nothing asked for a look once the sends were done"
    eng.close()


class Boom(Exception):
    pass


def test_a_failure_repeated_every_cycle_is_told_once_and_once_when_it_clears(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The timer retries every 5 s; a person hears once per problem and once when it clears,
    and the log reminds with a doubling gap, not every cycle. Driven through the timer's own
    processing step with a fake clock, as the worker runs it."""
    hook = Webhook().start()
    clock = FakeClock(T0)
    problems = Problems(Notifier([hook.apprise_url]), clock.now)
    failing: list[Exception | None] = [sqlite3.OperationalError("database or disk is full")]

    def step() -> datetime | None:
        if failing[0] is not None:
            raise failing[0]
        return None

    queue = JobQueue(step, {}, problems.failed, on_success=problems.succeeded)
    caplog.set_level(logging.INFO, logger="chatbot")
    try:
        for _ in range(200):  # 1,000 s of failing cycles, 5 s apart
            queue.run_job("dispatch")
            clock.advance(timedelta(seconds=5))
        reminders = [r for r in caplog.records if getattr(r, "event", "") == "worker.still_failing"]
        # At 60 s, then 120 s, 240 s and 480 s later: four reminders in 1,000 s, not 199.
        assert len(reminders) == 4
        failing[0] = None
        queue.run_job("dispatch")
        queue.run_job("dispatch")
        failing[0] = Boom("a different problem")
        queue.run_job("dispatch")
        queue.run_job("dispatch")
    finally:
        hook.stop()
    received = hook.received
    assert [m["title"] for m in received] == [
        "The posting worker hit an error",
        "The posting worker recovered",
        "The posting worker hit an error",
    ]
    assert "database or disk is full" in str(received[0]["message"])
    assert "200 failed cycles" in str(received[1]["message"])


def test_cli_meets_a_locked_database_with_a_retry_then_one_line(project: Project) -> None:
    project.config(project.config_path.read_text() + "database_lock_wait: 600ms\n")
    project.chat("fr", chat_with("Who carries the risk?"))
    db_path = project.root / "var" / "q.db"
    assert project.run("status").exit_code == 0  # creates the schema
    holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = project.run("apply", "--by", "maty")
    finally:
        holder.execute("ROLLBACK")
    assert result.exit_code == 1
    assert "error: the database" in result.output and "is busy" in result.output
    assert "nothing was changed" in result.output and "Traceback" not in result.output
    assert "queue already matches" not in project.run("plan").output  # nothing was written

    # Held only through the first attempt: the retry gets through.
    holder.execute("BEGIN IMMEDIATE")
    released = threading.Event()

    class Release(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if getattr(record, "event", "") == "db.locked" and not released.is_set():
                holder.execute("ROLLBACK")
                released.set()

    handler = Release()
    logging.getLogger("chatbot.db").addHandler(handler)
    try:
        result = project.run("apply", "--by", "maty")
    finally:
        logging.getLogger("chatbot.db").removeHandler(handler)
    assert released.is_set() and result.exit_code == 0, result.output
    assert "queue already matches" in project.run("apply").output
    holder.close()


def test_threads_of_one_process_take_turns_at_sqlites_lock_without_waiting_on_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Writers in one process queue on the database's own turn (handed over at once), not on
    SQLite's busy handler (which sleeps and retries); a turn held past ``lock_wait`` is the
    same one-line DatabaseBusy, and nothing is written."""
    from sqlalchemy import text

    from chatbot.db.session import DatabaseBusy, open_database

    # Sixteen writers queue for their turn: the default wait, as a worker has it (a short one
    # could run out while the machine is busy, which is not what this part is about).
    db = open_database(f"sqlite:///{tmp_path / 'turns.db'}")
    with db.write() as session:
        session.execute(text("CREATE TABLE counter (n INTEGER)"))
        session.execute(text("INSERT INTO counter VALUES (0)"))

    def add_one(_: int) -> None:
        with db.write() as session:
            n = session.execute(text("SELECT n FROM counter")).scalar_one()
            session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(add_one, range(400)))
    with db.read() as session:
        assert session.execute(text("SELECT n FROM counter")).scalar_one() == 400
    db.dispose()
    db = open_database(f"sqlite:///{tmp_path / 'turns.db'}", lock_wait=0.3)
    held, release = threading.Event(), threading.Event()

    def hold_the_turn() -> None:
        with db.write():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_turn)
    holder.start()
    held.wait(10)
    try:
        with pytest.raises(DatabaseBusy, match="is busy"):
            add_one(0)
    finally:
        release.set()
        holder.join(10)
    # It waited for its turn, not in SQLite's busy handler (which retries and says so).
    assert not [r for r in caplog.records if getattr(r, "event", "") == "db.locked"]
    with db.read() as session:
        assert session.execute(text("SELECT n FROM counter")).scalar_one() == 400
    db.dispose()


@pytest.mark.parametrize("command", [["run"], ["web"]])
@pytest.mark.parametrize("config", ["", "timezone: UTC\naccounts: {}\n"])
def test_run_and_web_refuse_a_config_without_accounts(
    project: Project, command: list[str], config: str
) -> None:
    project.config(config)
    result = project.run(*command)
    assert result.exit_code == 1
    assert f"{project.config_path}: no accounts: chatbot {command[0]} needs" in result.output
    assert "Traceback" not in result.output


def test_check_warns_of_past_times_per_chat_or_campaign(project: Project) -> None:
    chat = project.chat("fr", chat_with("Who carries the risk?"))
    campaign = project.campaign(
        "ban",
        """
        id: ban
        accounts: [lfp]
        posts:
          - {text: Libraries protect privacy., at: 2026-11-01 10:00}
          - {text: Ban face surveillance in libraries., at: 2026-11-02 10:00}
          - {text: Write to your council this week., at: 2027-01-05 10:00}
        """,
    )
    with freeze_time("2026-11-23 12:00:00"):
        ahead = project.run("check")
    assert str(chat) not in ahead.output  # the chat is ahead: nothing to say about it
    assert f"{campaign}:4:" in ahead.output
    assert (
        "warning schedule.past: 2 of 3 posts of ban are already past (the first, ban/p1, was "
        "due 2026-11-01 15:00Z); unless already sent, they will not be posted"
    ) in ahead.output
    with freeze_time("2026-12-24 12:00:00"):
        later = project.run("check")
    assert f"{chat}:" in later.output
    assert "fr-chat is entirely in the past (it began 2026-12-04 01:10Z)" in later.output
    assert later.exit_code == 0  # a warning, not an error


def test_check_with_no_content_says_where_it_looked(project: Project) -> None:
    result = project.run("check")
    assert result.exit_code == 0
    root = project.root / "content"
    assert (
        f"nothing to check: no chat in {root / 'chats'}/*.yaml and no campaign in "
        f"{root / 'campaigns'}/*.yaml"
    ) in result.output
    project.config(
        project.config_path.read_text().replace("content_dir: content", "content_dir: nowhere")
    )
    missing = project.run("check")
    assert missing.exit_code == 1
    assert f"content_dir {project.root / 'nowhere'} does not exist" in missing.output


def test_check_gives_missing_templates_and_glyphs_their_own_rule_ids(project: Project) -> None:
    path = project.campaign(
        "c",
        """
        id: c
        accounts: [lfp]
        posts:
          - {text: Privacy for all, card: qestion, alt: A card, at: 2027-01-05 10:00}
          - {text: "\U00012000\U00012001\U00012002 \U00013000", card: question, alt: A card, at: 2027-01-06 10:00}
        """,
    )
    result = project.run("check")
    assert result.exit_code == 1
    assert f"{path}:4:" in result.output and "error card.template: card 'qestion'" in result.output
    assert "no card template 'qestion'; templates: announcement, question, quote" in result.output
    assert "error card.glyph:" in result.output
    assert "no font of the brand kit can draw 4 characters in all: '\U00012000' (U+12000)" in (
        result.output
    )
    assert "card.contrast" not in result.output


def test_the_unapproved_hint_says_whole_seconds() -> None:
    """A person reads "due 3h52m40s ago", not "3h52m40s395ms ago" (the clock is not rounded)."""
    from chatbot.queue.status import unapproved_hint

    post = Post(key="ban-push/chat-invite", account_key="lfp", scheduled_at=T0)
    late = unapproved_hint(post, T0 + timedelta(hours=3, minutes=52, seconds=40, milliseconds=395))
    assert "is not approved and due 3h52m40s ago:" in late
    early = unapproved_hint(post, T0 - timedelta(minutes=8, milliseconds=600))
    assert "is not approved and due in 8m1s:" in early


def test_a_database_that_fails_mid_command_is_one_line(example: Project) -> None:
    """The schema is current, but a table the command reads is gone (a damaged database):
    one line saying the database failed and nothing changed, never a traceback."""
    assert example.run("apply", "--by", "maty").exit_code == 0
    with sqlite3.connect(example.root / "var" / "chatbot.db") as conn:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("DROP TABLE approvals")
        conn.execute("DROP TABLE posts")
    result = CliRunner().invoke(cli, ["--config", str(example.config_path), "status"])
    assert result.exit_code == 1
    assert "error: the database failed: no such table: posts" in result.output
    assert "nothing was changed, try again" in result.output
    assert "Traceback" not in result.output
