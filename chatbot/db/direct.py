"""The queue on SQLite through the standard library's ``sqlite3``, without SQLAlchemy.

A host's ``chatbot chat pause`` in its own process spent most of its time loading SQLAlchemy:
its core, the ORM, the models and their mappers are about a quarter of a second on the 2-core
machine the benchmarks run on (``docs/benchmarks.md``), more than the whole command may take.
So the short commands (the live controls and the status overviews) read and write an existing
SQLite queue through this module, with the same connection set-up and the same locking as
``chatbot.db.session`` (which imports what is shared from here), and the same stored forms
(``Record``): the state machine that decides what a control changes is one
(``chatbot.queue.live``), whichever way the rows were read.

Anything else (PostgreSQL, a URL with options, a file that does not exist yet or whose schema
is not this code's) takes the SQLAlchemy path, which creates and migrates.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatbot.errors import UserError

log = logging.getLogger("chatbot.db")

# The newest migration's revision. Every command compares it with the database's in one cheap
# query instead of loading Alembic (a fifth of a second) to find it; a test keeps it equal to
# the newest file in migrations/versions.
SCHEMA_HEAD = "0010"
VERSION_QUERY = "SELECT version_num FROM alembic_version"
LOCK_ATTEMPTS = 3
# A long-running process (the worker, the web app) keeps its pooled SQLite connections, and
# their caches, for months: each connection's page cache (2 MiB by default) and the sqlite3
# module's prepared statements (128 by default; an IN list of each length is a statement of its
# own). Both fill as the queue grows and were most of a worker's growth in a burst of 10,000:
# RSS 97 -> 106 MiB from post 1,000 to the last with the defaults, 94 -> 96 MiB with these.
# Its queries read a few rows through indexes, so it is no slower (2.0-2.1 ms a post either
# way). Bulk commands keep the defaults: an apply of 50,000 posts holds its dirty pages until
# it commits.
LONG_RUN_PAGE_CACHE_KIB = 256
LONG_RUN_STATEMENTS = 16
# How SQLAlchemy's DateTime stores a time on SQLite (always six digits of microseconds): text
# that sorts as time does, so a comparison in SQL is a comparison of times.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class DatabaseBusy(UserError):
    """Another process held SQLite's write lock for longer than ``database_lock_wait``."""


def busy_message(safe_url: str, lock_wait: float) -> str:
    return (
        f"the database {safe_url} is busy: another process kept its write lock for "
        f"{lock_wait:g} s (a long command, or a stuck process?); nothing was changed. "
        "Try again, or raise database_lock_wait in the config"
    )


def is_locked(exc: sqlite3.OperationalError) -> bool:
    return "database is locked" in str(exc) or "database is busy" in str(exc)


def busy_ms(lock_wait: float) -> int:
    """SQLite's busy timeout: a write lock is tried ``LOCK_ATTEMPTS`` times within the wait."""
    return max(1, round(lock_wait * 1000 / LOCK_ATTEMPTS))


def enable_wal(cursor: Any) -> None:
    """Switch a fresh database to WAL. When several processes open a brand-new file at once,
    SQLite refuses all but one converter with "database is locked" without calling the busy
    handler (it would deadlock); once one has converted the file, the pragma is a no-op."""
    for _ in range(100):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.05)
    cursor.execute("PRAGMA journal_mode=WAL")


def prepare_connection(connection: sqlite3.Connection, busy: int, long_running: bool) -> None:
    """Every connection to the queue, whichever way it was opened: WAL so the web app reads
    while the worker writes, a busy timeout so writers wait instead of failing, foreign keys."""
    # Transactions are begun explicitly (BEGIN IMMEDIATE for writes, see ``DirectDatabase``).
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={busy}")
    enable_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    if long_running:
        cursor.execute(f"PRAGMA cache_size=-{LONG_RUN_PAGE_CACHE_KIB}")
    cursor.close()


def db_time(value: datetime | None) -> str | None:
    """An aware time as the queue stores it (naive UTC text)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
    return value.astimezone(UTC).replace(tzinfo=None).strftime(TIME_FORMAT)


def py_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


# The columns stored in another form than Python's, per table (what SQLAlchemy's column types
# do on the other path; a test keeps these equal to the models).
TIMES: dict[str, frozenset[str]] = {
    "accounts": frozenset({"rate_limited_until"}),
    "chats": frozenset({"starts_at", "paused_at"}),
    "posts": frozenset(
        {
            "scheduled_at",
            "planned_at",
            "lease_until",
            "sent_at",
            "next_attempt_at",
            "posted_at",
            "created_at",
            "updated_at",
        }
    ),
    "audit_log": frozenset({"at"}),
    "answer_counts": frozenset(),
}
FLAGS: dict[str, frozenset[str]] = {
    "accounts": frozenset({"paused"}),
    "chats": frozenset({"removed"}),
    "posts": frozenset({"reply_to_previous", "held"}),
    "audit_log": frozenset(),
    "answer_counts": frozenset(),
}
JSONS: dict[str, frozenset[str]] = {
    "accounts": frozenset(),
    "chats": frozenset({"follow"}),
    "posts": frozenset({"card_fields"}),
    "audit_log": frozenset({"detail"}),
    "answer_counts": frozenset(),
}


def to_python(table: str, column: str, value: Any) -> Any:
    if column in TIMES[table]:
        return py_time(value)
    if column in FLAGS[table]:
        return None if value is None else bool(value)
    if column in JSONS[table]:
        return None if value is None else json.loads(value)
    return value


def to_stored(table: str, column: str, value: Any) -> Any:
    if column in TIMES[table]:
        return db_time(value)
    if column in FLAGS[table]:
        return None if value is None else int(value)
    if column in JSONS[table]:
        return json.dumps(value)  # None is stored as JSON null, as SQLAlchemy's JSON does
    if isinstance(value, str):
        return str(value)  # a PostState is stored as its plain value
    return value


class Record:
    """One row, read by attribute like a model object; what is set is remembered so that the
    transaction writes it back (``DirectDatabase.write``)."""

    __slots__ = ("_changed", "_table", "_values")

    def __init__(self, table: str, values: dict[str, Any]):
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_changed", set())

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"{self._table} has no column {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._values:
            raise AttributeError(f"{self._table} has no column {name!r}")
        self._values[name] = value
        self._changed.add(name)

    def __repr__(self) -> str:
        return f"<{self._table} {self._values.get('key', self._values.get('id'))}>"


class Connection:
    """One transaction's connection: rows as ``Record`` objects, changes written at the end."""

    def __init__(self, connection: sqlite3.Connection):
        self.raw = connection
        self._loaded: list[Record] = []

    def records(self, table: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """The rows as ``Record`` objects (``Any``: each caller reads them as its view, e.g.
        ``chatbot.queue.views.PostView``)."""
        cursor = self.raw.execute(sql, params)
        names = [d[0] for d in cursor.description]
        out: list[Any] = []
        for row in cursor:
            values = {n: to_python(table, n, v) for n, v in zip(names, row, strict=True)}
            out.append(Record(table, values))
        self._loaded.extend(out)
        return out

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return list(self.raw.execute(sql, params))

    def insert(self, table: str, **values: Any) -> None:
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        stored = tuple(to_stored(table, k, v) for k, v in values.items())
        self.raw.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", stored)

    def flush(self) -> None:
        """Write back what was set on the records read in this transaction."""
        for record in self._loaded:
            changed = sorted(record._changed)
            if not changed:
                continue
            table = record._table
            assignments = ", ".join(f"{name} = ?" for name in changed)
            values = [to_stored(table, name, record._values[name]) for name in changed]
            self.raw.execute(
                f"UPDATE {table} SET {assignments} WHERE id = ?", (*values, record._values["id"])
            )
            record._changed.clear()


def sqlite_file(url: str) -> Path | None:
    """The file of a plain ``sqlite:///path`` URL that exists, else None (the other path
    handles options, memory databases and creating the file)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url or "%" in url:
        return None
    path = Path(url[len(prefix) :])
    if not path.name or str(path) == ":memory:" or not path.is_file():
        return None
    return path


class DirectDatabase:
    """An existing SQLite queue at this code's schema; ``read()`` and ``write()`` are one
    transaction each, as ``chatbot.db.session.Database``'s are."""

    def __init__(self, url: str, path: Path, lock_wait: float):
        self.url = url
        self.lock_wait = lock_wait
        self._connection = sqlite3.connect(path, isolation_level=None)
        prepare_connection(self._connection, busy_ms(lock_wait), long_running=False)

    @classmethod
    def open(cls, url: str, lock_wait: float) -> DirectDatabase | None:
        """The queue at ``url`` if this module can serve it, else None (use the other path)."""
        path = sqlite_file(url)
        if path is None:
            return None
        try:
            db = cls(url, path, lock_wait)
        except sqlite3.Error:
            return None  # the other path reports what is wrong, in its own words
        try:
            current = {row[0] for row in db._connection.execute(VERSION_QUERY)}
        except sqlite3.Error:
            current = set()
        if current != {SCHEMA_HEAD}:  # missing or older: the other path migrates it
            db.close()
            return None
        return db

    @contextmanager
    def read(self) -> Iterator[Connection]:
        # One snapshot for every query of the block, as a session's transaction has.
        self._connection.execute("BEGIN")
        try:
            yield Connection(self._connection)
        finally:
            self._rollback()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """Committed when the block ends, rolled back on any exception; the write lock is taken
        first and its wait retried, then ``DatabaseBusy``, never a half-done change."""
        self._begin_immediate()
        connection = Connection(self._connection)
        try:
            yield connection
            connection.flush()
            self._connection.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # SQLite ends the transaction itself on some errors (a full disk): nothing to undo then.
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK")

    def _begin_immediate(self) -> None:
        for attempt in range(1, LOCK_ATTEMPTS + 1):
            try:
                self._connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_locked(exc):
                    raise
                log.warning(
                    "database is locked; retrying",
                    extra={"event": "db.locked", "attempt": attempt},
                )
        raise DatabaseBusy(busy_message(self.url, self.lock_wait))

    def close(self) -> None:
        self._connection.close()
