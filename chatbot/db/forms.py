"""How the queue's columns are stored, per backend, for the short commands' direct path
(``chatbot.db.direct``): what SQLAlchemy's column types (``chatbot.db.models``) do on the other
path, so that either path reads and writes the same stored forms (a test compares them)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

# How SQLAlchemy's DateTime stores a time on SQLite (always six digits of microseconds): text
# that sorts as time does, so a comparison in SQL is a comparison of times.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def naive_utc(value: datetime) -> datetime:
    """An aware time as every backend stores it: naive UTC (``UTCDateTime`` on the session
    path, both direct paths here)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
    return value.astimezone(UTC).replace(tzinfo=None)


def db_time(value: datetime | None) -> str | None:
    """An aware time as the queue stores it on SQLite (naive UTC text)."""
    return None if value is None else naive_utc(value).strftime(TIME_FORMAT)


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


class SqliteForms:
    """SQLite: times as text, flags as 0/1, JSON as text; ``?`` marks the parameters."""

    def time(self, value: datetime) -> Any:
        return db_time(value)

    def sql(self, statement: str) -> str:
        return statement

    def mark(self, table: str, column: str) -> str:
        return "?"

    def to_python(self, table: str, column: str, value: Any) -> Any:
        if column in TIMES[table]:
            return py_time(value)
        if column in FLAGS[table]:
            return None if value is None else bool(value)
        if column in JSONS[table]:
            return None if value is None else json.loads(value)
        return value

    def to_stored(self, table: str, column: str, value: Any) -> Any:
        if column in TIMES[table]:
            return db_time(value)
        if column in FLAGS[table]:
            return None if value is None else int(value)
        if column in JSONS[table]:
            return json.dumps(value)  # None is stored as JSON null, as SQLAlchemy's JSON does
        if isinstance(value, str):
            return str(value)  # a PostState is stored as its plain value
        return value


class PostgresForms:
    """PostgreSQL through psycopg: times as naive UTC timestamps, real booleans, JSON (psycopg
    parses it; it is written as SQLAlchemy writes it, ``json.dumps`` cast to json)."""

    def time(self, value: datetime) -> Any:
        return naive_utc(value)

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s")  # the statements here hold no other "?" or "%"

    def mark(self, table: str, column: str) -> str:
        return "CAST(%s AS JSON)" if column in JSONS[table] else "%s"

    def to_python(self, table: str, column: str, value: Any) -> Any:
        if column in TIMES[table] and value is not None:
            return value.replace(tzinfo=UTC)
        return value

    def to_stored(self, table: str, column: str, value: Any) -> Any:
        if column in TIMES[table]:
            return None if value is None else naive_utc(value)
        if column in JSONS[table]:
            return json.dumps(value)
        if isinstance(value, str):
            return str(value)
        return value


Forms = SqliteForms | PostgresForms
