"""Stored credentials: save, read, delete, and refresh an expiring access token safely.

X's OAuth 2.0 access tokens last two hours and each refresh *rotates* the refresh token: the old
one stops working. Two workers refreshing at once would make one of them fail and could lose
the account. So a refresh happens inside a write transaction holding the credential's row
(``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite); the second worker,
once it gets the row, sees the version changed and uses the new token without refreshing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chatbot.connect.crypto import TokenBox
from chatbot.db.models import Credential, Invite
from chatbot.db.session import Database


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None


class RefreshFailed(Exception):
    """The platform refused the refresh (revoked, expired): a person must reconnect."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def save(
    session: Session,
    box: TokenBox,
    account: str,
    platform: str,
    kind: str,
    secrets: dict[str, Any],
    expires_at: datetime | None,
    by: str,
    now: datetime,
) -> Credential:
    row = session.scalars(select(Credential).where(Credential.account_key == account)).first()
    if row is None:
        row = Credential(account_key=account, connected_at=now, version=0)
        session.add(row)
    row.platform, row.kind, row.secret = platform, kind, box.seal(secrets)
    row.expires_at, row.connected_by, row.connected_at = expires_at, by, now
    row.version = (row.version or 0) + 1
    row.refreshed_at = None
    return row


def load(db: Database, box: TokenBox, account: str) -> tuple[Credential, dict[str, Any]] | None:
    with db.read() as session:
        row = session.scalars(select(Credential).where(Credential.account_key == account)).first()
        if row is None:
            return None
        session.expunge(row)
    return row, box.open(row.secret)


def connected_accounts(db: Database) -> dict[str, Credential]:
    with db.read() as session:
        rows = list(session.scalars(select(Credential)))
        for row in rows:
            session.expunge(row)
    return {row.account_key: row for row in rows}


def remove(session: Session, account: str) -> bool:
    result = session.execute(delete(Credential).where(Credential.account_key == account))
    return bool(getattr(result, "rowcount", 0))


def access_token(
    db: Database,
    box: TokenBox,
    account: str,
    now: datetime,
    margin: timedelta,
    refresher: Callable[[str], TokenSet],
) -> str:
    """A valid access token, refreshed first when it expires within ``margin``."""
    found = load(db, box, account)
    if found is None:
        raise RefreshFailed(f"{account} is not connected (or was disconnected)")
    row, secrets = found
    if row.expires_at is None or row.expires_at - now > margin:
        return str(secrets["access_token"])
    with db.write() as session:
        locked = session.scalars(
            select(Credential).where(Credential.account_key == account).with_for_update()
        ).first()
        if locked is None:
            raise RefreshFailed(f"{account} was disconnected")
        secrets = box.open(locked.secret)
        if locked.version != row.version or (
            locked.expires_at is not None and locked.expires_at - now > margin
        ):
            return str(secrets["access_token"])  # another worker refreshed it meanwhile
        refresh = secrets.get("refresh_token")
        if not refresh:
            raise RefreshFailed(f"{account}'s access token expired and there is no refresh token")
        fresh = refresher(str(refresh))
        secrets["access_token"] = fresh.access_token
        if fresh.refresh_token:
            secrets["refresh_token"] = fresh.refresh_token
        locked.secret = box.seal(secrets)
        locked.expires_at = fresh.expires_at
        locked.version += 1
        locked.refreshed_at = now
        return fresh.access_token


def rotate_all(db: Database, box: TokenBox) -> int:
    """Re-seal every stored secret with the newest key; returns how many rows."""
    with db.write() as session:
        rows = list(session.scalars(select(Credential)))
        for row in rows:
            row.secret = box.rotate(row.secret)
        for invite in session.scalars(select(Invite).where(Invite.oauth_secret.is_not(None))):
            invite.oauth_secret = box.rotate(invite.oauth_secret or "")
    return len(rows)
