"""The short commands' path without SQLAlchemy (``chatbot.db.direct``) does exactly what the
session path does: the same controls and overviews run through both on copies of one applied
queue, on SQLite and on PostgreSQL, leave the same rows as stored and say the same things."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import JSON, Boolean

from chatbot.db.direct import DatabaseBusy, DirectDatabase
from chatbot.db.forms import FLAGS, JSONS, TIMES
from chatbot.db.models import Base, UTCDateTime
from chatbot.db.session import open_database
from chatbot.errors import UserError
from chatbot.queue import live
from chatbot.queue.status import queue_status
from chatbot.queue.store_direct import DirectStore
from chatbot.queue.store_orm import OrmStore
from tests.conftest import PG_ADMIN_URL, PG_AVAILABLE, PG_SKIP_REASON, Project, _pg_admin

CHAT_START = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)  # the example chat, 8 pm EST
MIN = timedelta(minutes=1)


TABLES = ("chats", "posts", "audit_log", "accounts", "answer_counts")
# What an overview reports: a failed post, an unknown one, one posted this month (its spend),
# and answers counted.
SEEDS = (
    "UPDATE posts SET state = 'failed', state_reason = 'X said 403' "
    "WHERE key = 'ban-push/chat-invite@ifc'",
    "UPDATE posts SET state = 'unknown' WHERE key = 'fr-chat/intro@masslib'",
    "UPDATE posts SET state = 'posted', sent_at = '2026-12-02 10:00:00.000000', "
    "estimated_cost = 0.015 WHERE key = 'ban-push/chat-invite'",
    "INSERT INTO answer_counts (chat_key, question, platform, answers) "
    "VALUES ('fr-chat', 1, 'x', 4), ('fr-chat', 1, 'bluesky', 2), ('fr-chat', 0, 'x', 1)",
)


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def _execute(url: str, statement: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite:"):
        with sqlite3.connect(_sqlite_path(url)) as conn:
            return conn.execute(statement).fetchall()
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as server:
        cursor = server.execute(statement)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def _dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables the controls and overviews touch, as stored (on PostgreSQL as
    the server prints it, JSON columns as their text)."""
    if url.startswith("sqlite:"):
        query = "SELECT * FROM {} ORDER BY 1, 2, 3"
    else:
        query = "SELECT row_to_json(t)::text AS r FROM {} t ORDER BY r"
    return {table: _execute(url, query.format(table)) for table in TABLES}


@pytest.fixture(params=["sqlite", "postgresql"])
def twins(
    request: pytest.FixtureRequest,
    example: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[str, str]]:
    """Two copies of the example queue, applied and the chat approved, seeded (``SEEDS``): one
    for the session path, one for the direct path, on SQLite and on PostgreSQL."""
    names: list[str] = []
    if request.param == "postgresql":
        if not PG_AVAILABLE:
            pytest.skip(PG_SKIP_REASON)
        names = [f"chatbot_test_{uuid.uuid4().hex[:10]}" for _ in range(2)]
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        _pg_admin(f'CREATE DATABASE "{names[0]}"')
        source = f"{base}/{names[0]}"
        monkeypatch.setenv("DATABASE_URL", source)
    else:
        source = f"sqlite:///{example.root / 'var' / 'chatbot.db'}"
    try:
        with freeze_time("2026-11-23 12:00:00"):
            assert example.run("apply", "--by", "maty").exit_code == 0
            assert example.run("approve", "fr-chat", "--by", "maty").exit_code == 0
        for statement in SEEDS:
            _execute(source, statement)
        if names:
            _pg_admin(f'CREATE DATABASE "{names[1]}" TEMPLATE "{names[0]}"')
            yield source, f"{base}/{names[1]}"
        else:
            orm, direct = tmp_path / "orm.db", tmp_path / "direct.db"
            shutil.copy(_sqlite_path(source), orm)
            shutil.copy(_sqlite_path(source), direct)
            yield f"sqlite:///{orm}", f"sqlite:///{direct}"
    finally:
        for name in names:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_queue(twins: tuple[str, str]) -> Path:
    """An applied SQLite queue, for what only SQLite has (its write lock)."""
    if not twins[1].startswith("sqlite:"):
        pytest.skip("SQLite's write lock: PostgreSQL's writers lock rows, not the database")
    return _sqlite_path(twins[1])


@contextmanager
def _orm(url: str, write: bool) -> Iterator[OrmStore]:
    db = open_database(url)
    try:
        with db.write() if write else db.read() as session:
            yield OrmStore(session)
    finally:
        db.dispose()


@contextmanager
def _direct(url: str, write: bool) -> Iterator[DirectStore]:
    db = DirectDatabase.open(url, 15.0)
    assert db is not None, "an applied queue at this schema takes the direct path"
    try:
        with db.write() if write else db.read() as connection:
            yield DirectStore(connection)
    finally:
        db.close()


def _outcome(
    opener: Callable[[str, bool], Any], url: str, action: Callable[..., Any], **kwargs: Any
) -> tuple[str, Any]:
    try:
        with opener(url, True) as store:
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


def test_every_control_and_overview_matches_the_session_path(twins: tuple[str, str]) -> None:
    orm, direct = twins
    assert _dump(orm) == _dump(direct)
    for minutes, action, kwargs in SCRIPT:
        # Odd microseconds: a time stored with less precision than the other path keeps shows.
        now = CHAT_START + minutes * MIN + timedelta(microseconds=123_457)
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
    actions = [a for (a,) in _execute(direct, "SELECT action FROM audit_log ORDER BY id")]
    states = dict(_execute(direct, "SELECT state, count(*) FROM posts GROUP BY state"))
    assert actions.count("chat.skip") == 2 and "chat.now" in actions and "chat.delay" in actions
    assert states["skipped"] > 3


def test_an_unknown_chat_is_the_same_refusal_on_both_paths(twins: tuple[str, str]) -> None:
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


def test_only_an_existing_queue_at_this_schema_takes_the_direct_path(
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
        "postgresql://postgres@127.0.0.1:5432/test",  # SQLAlchemy's psycopg2 driver
        "postgresql+psycopg://postgres@127.0.0.1:5432/test?sslmode=disable",  # options
        "postgresql+psycopg://postgres@127.0.0.1:1/queue",  # no server: the session path says
    ):
        assert DirectDatabase.open(url, 1.0) is None, url
    assert not (tmp_path / "missing.db").exists()


def test_a_held_write_lock_is_one_busy_line_and_changes_nothing(sqlite_queue: Path) -> None:
    path = sqlite_queue
    url = f"sqlite:///{path}"
    before = _dump(url)
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
    after = _dump(url)
    assert after["chats"] != before["chats"]


def test_a_control_that_fails_midway_leaves_nothing_behind(twins: tuple[str, str]) -> None:
    _, url = twins
    before = _dump(url)
    db = DirectDatabase.open(url, 1.0)
    assert db is not None
    with pytest.raises(RuntimeError), db.write() as connection:
        live.delay(DirectStore(connection), "fr-chat", CHAT_START, "alison", by_how_much=MIN)
        raise RuntimeError("the process was interrupted")
    db.close()
    assert _dump(url) == before


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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize(
    "argv",
    [
        ["chat", "pause", "fr-chat"],
        ["chat", "status", "fr-chat"],
        ["chat", "skip", "fr-chat", "--question", "3"],
        ["status"],
    ],
)
def test_the_short_commands_load_no_sqlalchemy(
    request: pytest.FixtureRequest,
    example: Project,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    argv: list[str],
) -> None:
    """What makes `chatbot chat pause` answer in a tenth of a second without a worker."""
    env = {**os.environ, "XDG_RUNTIME_DIR": str(example.root), "CHATBOT_USER": "test"}
    env.pop("DATABASE_URL", None)
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("DATABASE_URL", url)
        env["DATABASE_URL"] = url
    with freeze_time("2026-11-23 12:00:00"):
        assert example.run("apply", "--by", "maty").exit_code == 0
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
