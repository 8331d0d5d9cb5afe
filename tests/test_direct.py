"""The short commands' SQLite path without SQLAlchemy (``chatbot.db.direct``) does exactly
what the session path does: the same controls and overviews run through both on copies of one
applied queue leave the same rows, byte for byte, and say the same things."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import JSON, Boolean

from chatbot.db.direct import FLAGS, JSONS, TIMES, DatabaseBusy, DirectDatabase
from chatbot.db.models import Base, UTCDateTime
from chatbot.db.session import open_database
from chatbot.errors import UserError
from chatbot.queue import live
from chatbot.queue.status import queue_status
from chatbot.queue.store_direct import DirectStore
from chatbot.queue.store_orm import OrmStore
from tests.conftest import Project

CHAT_START = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)  # the example chat, 8 pm EST
MIN = timedelta(minutes=1)


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables the controls and overviews touch, as stored."""
    with sqlite3.connect(path) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()
            for table in ("chats", "posts", "audit_log", "accounts", "answer_counts")
        }


@pytest.fixture
def twins(example: Project, tmp_path: Path) -> tuple[Path, Path]:
    """Two copies of the example queue, applied and the chat approved, with a few posts in the
    states an overview reports (failed, unknown, posted this month) and answers counted."""
    with freeze_time("2026-11-23 12:00:00"):
        assert example.run("apply", "--by", "maty").exit_code == 0
        assert example.run("approve", "fr-chat", "--by", "maty").exit_code == 0
    source = example.root / "var" / "chatbot.db"
    with sqlite3.connect(source) as conn:
        conn.execute(
            "UPDATE posts SET state = 'failed', state_reason = 'X said 403' "
            "WHERE key = 'ban-push/chat-invite@ifc'"
        )
        conn.execute("UPDATE posts SET state = 'unknown' WHERE key = 'fr-chat/intro@masslib'")
        conn.execute(
            "UPDATE posts SET state = 'posted', sent_at = '2026-12-02 10:00:00.000000', "
            "estimated_cost = 0.015 WHERE key = 'ban-push/chat-invite'"
        )
        conn.execute(
            "INSERT INTO answer_counts (chat_key, question, platform, answers) "
            "VALUES ('fr-chat', 1, 'x', 4), ('fr-chat', 1, 'bluesky', 2), ('fr-chat', 0, 'x', 1)"
        )
    orm, direct = tmp_path / "orm.db", tmp_path / "direct.db"
    shutil.copy(source, orm)
    shutil.copy(source, direct)
    return orm, direct


@contextmanager
def _orm(path: Path, write: bool) -> Iterator[OrmStore]:
    db = open_database(f"sqlite:///{path}")
    try:
        with db.write() if write else db.read() as session:
            yield OrmStore(session)
    finally:
        db.dispose()


@contextmanager
def _direct(path: Path, write: bool) -> Iterator[DirectStore]:
    db = DirectDatabase.open(f"sqlite:///{path}", 15.0)
    assert db is not None, "an applied queue at this schema takes the direct path"
    try:
        with db.write() if write else db.read() as connection:
            yield DirectStore(connection)
    finally:
        db.close()


def _outcome(
    opener: Callable[[Path, bool], Any], path: Path, action: Callable[..., Any], **kwargs: Any
) -> tuple[str, Any]:
    try:
        with opener(path, True) as store:
            result = action(store, "fr-chat", **kwargs)
    except UserError as exc:
        return ("refused", str(exc))
    return ("done", (result.action, result.changed, result.message, result.version, result.posts))


def _chat_view(status: live.ChatStatus) -> list[tuple[Any, ...]]:
    return [
        (
            live.label(p),
            p.key,
            p.state,
            p.scheduled_at,
            p.posted_at,
            p.state_reason,
            p.depends_on_id,
            p.held,
        )
        for p in (*status.posts, *status.dependents)
    ] + [(status.state, status.chat.control_version, status.chat.paused_at, status.paused)]


def _queue_view(store: Any, now: datetime) -> dict[str, Any]:
    status = queue_status(store, now, timedelta(days=30))
    return {
        "accounts": [
            (
                a.key,
                a.platform,
                a.paused,
                a.paused_reason,
                a.rate_limited_until,
                dict(a.counts),
                a.next_due.key if a.next_due else None,
                round(a.month_spend, 6),
            )
            for a in status.accounts
        ],
        "attention": [(p.key, p.state, p.state_reason) for p in status.attention],
        "unapproved": [(p.key, p.scheduled_at) for p in status.unapproved],
        "total": status.unapproved_total,
    }


# (minutes after the chat's start, control, its arguments): every branch a host can reach,
# including the refusals, which must change nothing on either path.
SCRIPT: list[tuple[int, Callable[..., Any], dict[str, Any]]] = [
    (-30, live.resume, {"mode": "shift"}),  # not paused: nothing changes
    (-20, live.pause, {}),
    (-20, live.pause, {}),  # already paused
    (-5, live.post_now, {"number": 2}),  # paused: refused
    (-4, live.resume, {"mode": "shift"}),
    (1, live.skip, {"number": 2}),
    (1, live.skip, {"number": 2}),  # already skipped
    (2, live.skip, {"number": 99}),  # no such question
    (3, live.delay, {"by_how_much": 3 * MIN}),
    (4, live.post_now, {"number": 4}),
    (4, live.post_now, {"number": 4}),  # already due
    (5, live.delay, {"by_how_much": 2 * MIN, "expect_version": 1}),  # stale version
    (6, live.pause, {}),
    (40, live.resume, {"mode": "keep"}),  # what fell due while paused is skipped
    (41, live.skip, {}),  # the next one
    (42, live.post_now, {}),
]


def test_every_control_and_overview_matches_the_session_path(
    twins: tuple[Path, Path],
) -> None:
    orm, direct = twins
    assert _dump(orm) == _dump(direct)
    for minutes, action, kwargs in SCRIPT:
        now = CHAT_START + minutes * MIN
        args = {"now": now, "by": "alison", **kwargs}
        expected = _outcome(_orm, orm, action, **args)
        got = _outcome(_direct, direct, action, **args)
        assert got == expected, (action.__name__, minutes, kwargs)
        assert _dump(direct) == _dump(orm), (action.__name__, minutes, kwargs)
        with _orm(orm, False) as a, _direct(direct, False) as b:
            assert _chat_view(live.load_status(b, "fr-chat")) == _chat_view(
                live.load_status(a, "fr-chat")
            )
            assert _queue_view(b, now) == _queue_view(a, now)
            assert b.answer_counts("fr-chat") == a.answer_counts("fr-chat")
    with sqlite3.connect(direct) as conn:
        actions = [a for (a,) in conn.execute("SELECT action FROM audit_log ORDER BY id")]
        states = dict(conn.execute("SELECT state, count(*) FROM posts GROUP BY state").fetchall())
    assert actions.count("chat.skip") == 2 and "chat.now" in actions and "chat.delay" in actions
    assert states["skipped"] > 3


def test_an_unknown_chat_is_the_same_refusal_on_both_paths(twins: tuple[Path, Path]) -> None:
    orm, direct = twins
    with _orm(orm, False) as a, pytest.raises(live.ChatControlError) as on_orm:
        live.load_status(a, "nope")
    with _direct(direct, False) as b, pytest.raises(live.ChatControlError) as on_direct:
        live.load_status(b, "nope")
    assert str(on_direct.value) == str(on_orm.value)
    assert "known chats: fr-chat" in str(on_direct.value)


def test_the_stored_forms_match_the_models_column_types() -> None:
    """``Record`` converts what SQLAlchemy's types convert: times, flags, JSON."""
    for table, times in TIMES.items():
        columns = Base.metadata.tables[table].columns
        assert times == {c.name for c in columns if isinstance(c.type, UTCDateTime)}, table
        assert FLAGS[table] == {c.name for c in columns if isinstance(c.type, Boolean)}, table
        assert JSONS[table] == {c.name for c in columns if isinstance(c.type, JSON)}, table


def test_only_an_existing_sqlite_queue_at_this_schema_takes_the_direct_path(
    tmp_path: Path, _sqlite_template: Path
) -> None:
    current = tmp_path / "current.db"
    shutil.copy(_sqlite_template, current)
    old = tmp_path / "old.db"
    shutil.copy(_sqlite_template, old)
    with sqlite3.connect(old) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0009'")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    found = DirectDatabase.open(f"sqlite:///{current}", 1.0)
    assert found is not None
    found.close()
    for url in (
        f"sqlite:///{old}",  # an older schema: the session path migrates it
        f"sqlite:///{empty}",  # no schema yet
        f"sqlite:///{tmp_path / 'missing.db'}",  # created by the session path
        f"sqlite:///{current}?timeout=5",  # options: SQLAlchemy's to read
        "sqlite://",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",  # never even connected to
    ):
        assert DirectDatabase.open(url, 1.0) is None, url
    assert not (tmp_path / "missing.db").exists()


def test_a_held_write_lock_is_one_busy_line_and_changes_nothing(twins: tuple[Path, Path]) -> None:
    _, path = twins
    before = _dump(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    db = DirectDatabase.open(f"sqlite:///{path}", 0.3)
    assert db is not None
    try:
        with pytest.raises(DatabaseBusy, match="is busy") as busy, db.write() as connection:
            live.pause(DirectStore(connection), "fr-chat", CHAT_START, "alison")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "nothing was changed" in str(busy.value)
    with db.write() as connection:  # released: the same control goes through
        live.pause(DirectStore(connection), "fr-chat", CHAT_START, "alison")
    db.close()
    after = _dump(path)
    assert after["chats"] != before["chats"]


def test_a_control_that_fails_midway_leaves_nothing_behind(twins: tuple[Path, Path]) -> None:
    _, path = twins
    before = _dump(path)
    db = DirectDatabase.open(f"sqlite:///{path}", 1.0)
    assert db is not None
    with pytest.raises(RuntimeError), db.write() as connection:
        live.delay(DirectStore(connection), "fr-chat", CHAT_START, "alison", by_how_much=MIN)
        raise RuntimeError("the process was interrupted")
    db.close()
    assert _dump(path) == before


# At the frozen time the example content was applied at: the chat has not started yet.
PROBE = """
import json, sys
from freezegun import freeze_time
from chatbot.cli import main
sys.argv = ['chatbot', *sys.argv[1:]]
try:
    with freeze_time('2026-11-23 12:00:00'):
        main()
except SystemExit as exit:
    print('EXIT', exit.code or 0, file=sys.stderr)
print('LOADED', json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["chat", "pause", "fr-chat"],
        ["chat", "status", "fr-chat"],
        ["chat", "skip", "fr-chat", "--question", "3"],
        ["status"],
    ],
)
def test_the_short_commands_on_sqlite_load_no_sqlalchemy(example: Project, argv: list[str]) -> None:
    """What makes `chatbot chat pause` answer in a fifth of a second without a worker."""
    with freeze_time("2026-11-23 12:00:00"):
        assert example.run("apply", "--by", "maty").exit_code == 0
    env = {**os.environ, "XDG_RUNTIME_DIR": str(example.root), "CHATBOT_USER": "test"}
    env.pop("DATABASE_URL", None)
    for run in ("validates the config and keeps its brief", "reads the brief"):
        result = subprocess.run(
            [sys.executable, "-c", PROBE, *argv],
            cwd=example.root,
            env=env,
            capture_output=True,
            text=True,
        )
        loaded = set(json.loads(result.stderr.rsplit("LOADED ", 1)[1]))
        assert "EXIT 0" in result.stderr and result.stdout.strip(), result.stderr
        assert loaded & {"sqlalchemy", "alembic", "regex"} == set(), run
        if argv[:2] in (["chat", "pause"], ["chat", "skip"]):
            assert "rich" not in loaded  # one line of output needs no console library
    # The second run: nothing of the config's validation either (chatbot.cli.brief).
    assert loaded & {"pydantic", "yaml", "chatbot"} == {"chatbot"}
