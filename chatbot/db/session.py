"""Opening the database: engine options per backend, migrations on first use, sessions.

SQLite: WAL so the web app can read while the worker writes; ``busy_timeout`` so writers wait
instead of failing; and ``BEGIN IMMEDIATE`` for write transactions, because a deferred
transaction that reads and then writes fails with "database is locked" without waiting.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:  # Alembic loads only when a schema must change
    from alembic.config import Config as AlembicConfig

from chatbot.configpath import mask_password
from chatbot.db.direct import (
    LOCK_ATTEMPTS,
    LONG_RUN_STATEMENTS,
    SCHEMA_HEAD,
    VERSION_QUERY,
    DatabaseBusy,
    busy_message,
    busy_ms,
    is_locked,
    prepare_connection,
)
from chatbot.errors import ConfigError

__all__ = ["SCHEMA_HEAD", "Database", "DatabaseBusy", "open_database"]

log = logging.getLogger("chatbot.db")
MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 7_245_911  # arbitrary, fixed: the advisory lock id for schema migrations


def _locked(exc: OperationalError) -> bool:
    return isinstance(exc.orig, sqlite3.OperationalError) and is_locked(exc.orig)


def _sqlite_setup(engine: Engine, busy: int, long_running: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The same set-up as the short commands' connections; SQLAlchemy's "begin" event
        # decides how transactions start (see below).
        prepare_connection(dbapi_connection, busy, long_running)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class Database:
    """An engine and two kinds of session: ``read()`` and ``write()`` (one transaction each)."""

    def __init__(
        self, url: str, lock_wait: float = 15.0, *, long_running: bool = False, **engine_args: Any
    ):
        """``long_running``: for a process that runs for good (the worker, the web app): small
        SQLite caches per connection (see ``LONG_RUN_PAGE_CACHE_KIB``)."""
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            raise ConfigError(
                f"database_url {mask_password(url)!r} is not a database URL; use "
                "sqlite:///path.db or postgresql+psycopg://user@host/db"
            ) from None
        self.url = url
        self.lock_wait = lock_wait
        self.long_running = long_running
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if not self.is_sqlite:
            engine_args.setdefault("pool_pre_ping", True)
        elif long_running:  # the caller's own connect_args win (and are not changed)
            engine_args["connect_args"] = {
                "cached_statements": LONG_RUN_STATEMENTS,
                **engine_args.get("connect_args", {}),
            }
        self.engine = create_engine(url, **engine_args)
        if self.is_sqlite:
            _sqlite_setup(self.engine, busy_ms(lock_wait), long_running)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        writer_engine = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE")
            if self.is_sqlite
            else self.engine
        )
        self._writer = sessionmaker(writer_engine, expire_on_commit=False)
        # SQLite has one writer at a time. Between processes its busy handler decides who is
        # next, by sleeping and retrying (1, 2, 5, 10 ... 100 ms); between this process's own
        # threads (a worker's sixteen send threads, each recording an outcome) a lock hands
        # the turn over at once instead. Measured on a burst of 3,000 posts: 6.8 ms a post
        # without it, 4.5 with it.
        self._write_turn = threading.RLock()

    def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision."""
        from alembic import command

        cfg = alembic_config(self.url)
        # Two processes starting on a fresh database must not both create the schema: take the
        # write lock (SQLite) or an advisory lock (PostgreSQL) before Alembic reads the version.
        engine = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE")
            if self.is_sqlite
            else self.engine
        )
        try:
            with engine.begin() as conn:
                if not self.is_sqlite:
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except OperationalError as exc:
            raise ConfigError(f"cannot open the database {self.safe_url}: {exc.orig}") from None

    def needs_upgrade(self) -> bool:
        """Whether the schema is older than this code's (or missing): one query."""
        with self.engine.connect() as conn:
            try:
                current = {row[0] for row in conn.execute(text(VERSION_QUERY))}
            except ProgrammingError:  # PostgreSQL: no alembic_version table yet
                return True
            except OperationalError as exc:
                if "no such table" in str(exc.orig):  # SQLite: the same
                    return True
                raise
        return current != {SCHEMA_HEAD}

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        # Closing (not rolling back) keeps loaded objects readable after the block.
        with self._reader() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on any exception.

        On SQLite the write lock is taken first (``BEGIN IMMEDIATE``); if another process holds
        it past the busy timeout, the begin is retried, and after ``lock_wait`` in all the
        caller gets ``DatabaseBusy`` (one line for a person), never a half-done change."""
        if self.is_sqlite and not self._write_turn.acquire(timeout=self.lock_wait):
            raise self._busy()
        try:
            with self._writer() as session:
                try:
                    if self.is_sqlite:
                        self._take_write_lock(session)
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        finally:
            if self.is_sqlite:
                self._write_turn.release()

    def _take_write_lock(self, session: Session) -> None:
        for attempt in range(1, LOCK_ATTEMPTS + 1):
            try:
                session.connection()  # runs BEGIN IMMEDIATE, waiting up to busy_timeout
                return
            except OperationalError as exc:
                if not _locked(exc):
                    raise
                session.rollback()
                log.warning(
                    "database is locked; retrying",
                    extra={"event": "db.locked", "attempt": attempt},
                )
        raise self._busy()

    def _busy(self) -> DatabaseBusy:
        return DatabaseBusy(busy_message(self.safe_url, self.lock_wait))

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(
    url: str,
    migrate: bool = True,
    lock_wait: float = 15.0,
    *,
    long_running: bool = False,
    **engine_args: Any,
) -> Database:
    db = Database(url, lock_wait, long_running=long_running, **engine_args)
    if migrate:
        try:
            if db.needs_upgrade():
                db.upgrade()
        except OperationalError as exc:
            raise ConfigError(f"cannot open the database {db.safe_url}: {exc.orig}") from None
    return db
