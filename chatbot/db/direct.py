"""The queue through a plain DB-API connection (``sqlite3``, psycopg), without SQLAlchemy.

A host's ``chatbot chat pause`` in its own process spent most of its time loading SQLAlchemy:
its core, the ORM, the models and their mappers are about a quarter of a second on the 2-core
machine the benchmarks run on (``docs/benchmarks.md``), more than the whole command may take.
So the short commands (the live controls and the status overviews) read and write an existing
queue through this module: on SQLite with the same connection set-up and the same locking as
``chatbot.db.session`` (which imports what is shared from here), on PostgreSQL in the same
read-committed transactions as a session's, and on both in the same stored forms
(``chatbot.db.forms``). The state machine that decides what a control changes is one
(``chatbot.queue.live``), whichever way the rows were read.

Anything else (a URL with options or another driver, a file that does not exist yet, a schema
that is not this code's, a server that does not answer) takes the SQLAlchemy path, which
creates, migrates and reports.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from chatbot.db.forms import Forms, PostgresForms, SqliteForms
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
    """One transaction's connection: rows as ``Record`` objects, changes written at the end.
    Statements mark their parameters with ``?``, whichever the backend."""

    def __init__(self, connection: Any, forms: Forms):
        self.raw = connection
        self.forms = forms
        self._loaded: list[Record] = []

    def time(self, value: datetime) -> Any:
        """A time as a parameter compared with a stored time."""
        return self.forms.time(value)

    def records(self, table: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """The rows as ``Record`` objects (``Any``: each caller reads them as its view, e.g.
        ``chatbot.queue.views.PostView``)."""
        cursor = self.raw.execute(self.forms.sql(sql), params)
        names = [d[0] for d in cursor.description]
        convert = self.forms.to_python
        out: list[Any] = []
        for row in cursor:
            values = {n: convert(table, n, v) for n, v in zip(names, row, strict=True)}
            out.append(Record(table, values))
        self._loaded.extend(out)
        return out

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return list(self.raw.execute(self.forms.sql(sql), params))

    def insert(self, table: str, **values: Any) -> None:
        columns = ", ".join(values)
        marks = ", ".join(self.forms.mark(table, k) for k in values)
        stored = tuple(self.forms.to_stored(table, k, v) for k, v in values.items())
        self.raw.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", stored)

    def flush(self) -> None:
        """Write back what was set on the records read in this transaction."""
        forms = self.forms
        for record in self._loaded:
            changed = sorted(record._changed)
            if not changed:
                continue
            table = record._table
            assignments = ", ".join(f"{name} = {forms.mark(table, name)}" for name in changed)
            values = [forms.to_stored(table, name, record._values[name]) for name in changed]
            key = forms.sql("?")
            self.raw.execute(
                f"UPDATE {table} SET {assignments} WHERE id = {key}",
                (*values, record._values["id"]),
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


def postgres_conninfo(url: str) -> str | None:
    """libpq's URI for a plain ``postgresql+psycopg://`` URL (the driver the session path uses),
    else None: options after ``?`` are SQLAlchemy's to read."""
    prefix = "postgresql+psycopg://"
    if not url.startswith(prefix) or "?" in url:
        return None
    return "postgresql://" + url[len(prefix) :]


class DirectDatabase:
    """An existing queue at this code's schema; ``read()`` and ``write()`` are one transaction
    each, as ``chatbot.db.session.Database``'s are."""

    def __init__(self, url: str, connection: Any, forms: Forms, lock_wait: float):
        self.url = url
        self.lock_wait = lock_wait
        self.is_sqlite = isinstance(forms, SqliteForms)
        self._connection = connection
        self._forms = forms

    @classmethod
    def open(cls, url: str, lock_wait: float) -> DirectDatabase | None:
        """The queue at ``url`` if this module can serve it, else None (use the other path,
        which also reports whatever is wrong, in its own words)."""
        db = cls._connect(url, lock_wait)
        if db is None:
            return None
        try:
            current = {row[0] for row in db._connection.execute(VERSION_QUERY)}
        except Exception:
            current = set()
        if current != {SCHEMA_HEAD}:  # missing or older: the other path migrates it
            db.close()
            return None
        return db

    @classmethod
    def _connect(cls, url: str, lock_wait: float) -> DirectDatabase | None:
        path = sqlite_file(url)
        if path is not None:
            try:
                connection = sqlite3.connect(path, isolation_level=None)
                prepare_connection(connection, busy_ms(lock_wait), long_running=False)
            except sqlite3.Error:
                return None
            return cls(url, connection, SqliteForms(), lock_wait)
        conninfo = postgres_conninfo(url)
        if conninfo is None:
            return None
        import psycopg

        try:
            # Transactions are begun explicitly, as on SQLite.
            server = psycopg.connect(conninfo, autocommit=True)
        except psycopg.Error:
            return None
        return cls(url, server, PostgresForms(), lock_wait)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        # One transaction for every query of the block, as a session has.
        self._connection.execute("BEGIN")
        try:
            yield Connection(self._connection, self._forms)
        finally:
            self._rollback()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """Committed when the block ends, rolled back on any exception; on SQLite the write
        lock is taken first and its wait retried, then ``DatabaseBusy``, never a half-done
        change."""
        if self.is_sqlite:
            self._begin_immediate()
        else:
            self._connection.execute("BEGIN")
        connection = Connection(self._connection, self._forms)
        try:
            yield connection
            connection.flush()
            self._connection.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # A database may end the transaction itself on some errors (SQLite on a full disk, a
        # lost PostgreSQL connection): nothing to undo then.
        if self.is_sqlite:
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
            return
        from psycopg.pq import TransactionStatus

        status = self._connection.info.transaction_status
        if status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
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
