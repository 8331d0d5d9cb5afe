"""Signing in and out: sessions bound to one user row, and throttled guessing.

A session is a random token in the (signed) cookie and its SHA-256 in ``web_sessions``; the
row belongs to one user for life. Signing out, a new password, a new role or removing the user
deletes the user's rows, so every copy of every cookie stops working at once.

Guessing is throttled per user name and per client address: after ``web.sign_in_attempts``
failures in a row, sign-in for that name (or from that client) is refused with HTTP 429 for
``web.sign_in_lockout``, doubling with each further failure up to an hour; the password is not
even checked meanwhile, so the right one works again only once the wait is over. Every failure
is audited. No hashing happens inside a transaction: the user is read, the password verified,
then the outcome written in one short transaction.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from chatbot.db.audit import audit
from chatbot.db.models import SignInFailure, User, WebSession
from chatbot.db.session import Database
from chatbot.web.users import needs_rehash, new_password, verify_password

LONGEST_WAIT = timedelta(hours=1)
FORGET_AFTER = timedelta(hours=1)  # failures this old no longer count


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Throttle:
    attempts: int
    lockout: timedelta

    def wait_after(self, failures: int) -> timedelta | None:
        if failures < self.attempts:
            return None
        return min(self.lockout * 2 ** (failures - self.attempts), LONGEST_WAIT)


@dataclass(frozen=True)
class Outcome:
    user_id: int | None = None
    token: str | None = None
    retry_after: int | None = None  # seconds, when refused for throttling


def _keys(name: str, client: str) -> list[str]:
    return [f"name:{name.lower()[:150]}", f"client:{client[:150]}"]


def locked_for(db: Database, name: str, client: str, now: datetime) -> int | None:
    """Seconds until sign-in for this name or from this client is allowed again, if locked."""
    with db.read() as session:
        rows = session.scalars(
            select(SignInFailure).where(SignInFailure.key.in_(_keys(name, client)))
        )
        until = max((r.locked_until for r in rows if r.locked_until), default=None)
    if until is None or until <= now:
        return None
    return max(1, math.ceil((until - now).total_seconds()))


def sign_in(
    db: Database,
    name: str,
    password: str,
    client: str,
    now: datetime,
    throttle: Throttle,
    lifetime: timedelta,
) -> Outcome:
    waiting = locked_for(db, name, client, now)
    if waiting is not None:
        return Outcome(retry_after=waiting)
    with db.read() as session:
        user = session.scalars(select(User).where(User.name == name)).first()
        stored = (user.id, user.password_hash) if user is not None else None
    # The slow part, outside any transaction.
    ok = verify_password(stored[1] if stored else None, password)
    if not ok or stored is None:
        _failed(db, name, client, now, throttle)
        return Outcome()
    user_id, password_hash = stored
    rehashed = new_password(password).hash if needs_rehash(password_hash) else None
    token = secrets.token_urlsafe(32)
    with db.write() as session:
        row = session.get(User, user_id)
        if row is None or row.password_hash != password_hash:
            return Outcome()  # removed or changed while the password was being checked
        row.last_login_at = now
        if rehashed is not None:
            row.password_hash = rehashed
        session.execute(delete(SignInFailure).where(SignInFailure.key.in_(_keys(name, client))))
        session.add(
            WebSession(
                token_hash=token_hash(token),
                user_id=user_id,
                created_at=now,
                expires_at=now + lifetime,
            )
        )
    return Outcome(user_id=user_id, token=token)


def _failed(db: Database, name: str, client: str, now: datetime, throttle: Throttle) -> None:
    with db.write() as session:
        locked: list[str] = []
        for key in _keys(name, client):
            row = session.get(SignInFailure, key)
            if row is None:
                row = SignInFailure(key=key, failures=0, last_at=now)
                session.add(row)
            elif now - row.last_at > FORGET_AFTER:
                row.failures = 0
            row.failures += 1
            row.last_at = now
            wait = throttle.wait_after(row.failures)
            if wait is not None:
                row.locked_until = now + wait
                locked.append(f"{key} for {int(wait.total_seconds())} s")
        audit(
            session,
            now,
            name[:128] or "(no name)",
            "sign_in.failed",
            name[:200],
            client=client,
            locked=", ".join(locked),
        )


def current_user(db: Database, token: str | None, now: datetime) -> User | None:
    """The user a session token signs in, if the session still exists and has not expired."""
    if not token:
        return None
    with db.read() as session:
        row = session.get(WebSession, token_hash(token))
        if row is None or row.expires_at <= now:
            return None
        user = session.get(User, row.user_id)
        if user is not None:
            session.expunge(user)
        return user


def sign_out_everywhere(db: Database, token: str | None) -> None:
    """Signing out ends every session of the user, on every device."""
    if not token:
        return
    with db.write() as session:
        row = session.get(WebSession, token_hash(token))
        if row is not None:
            session.execute(delete(WebSession).where(WebSession.user_id == row.user_id))
