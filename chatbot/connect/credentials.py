"""Stored credentials: save, read, delete, and refresh an expiring access token safely.

X's OAuth 2.0 access tokens last two hours and each refresh *rotates* the refresh token: the old
one stops working. Two workers refreshing at once would make one of them fail and could lose
the account. So one worker claims the refresh with a lease on the credential's row (a short
transaction: ``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), calls the
token endpoint with no transaction open, and records the new tokens; the others wait for the
row's version to change and use the new token without refreshing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chatbot.connect.crypto import TokenBox
from chatbot.db.models import Credential, Invite
from chatbot.db.session import Database
from chatbot.platforms import TokenSet


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
    now: Callable[[], datetime],
    margin: timedelta,
    refresher: Callable[[str], TokenSet],
    wait: float = 30.0,
) -> str:
    """A valid access token, refreshed first when it expires within ``margin``.

    X rotates the refresh token on every refresh, so only one worker may refresh. The one that
    claims the refresh (a lease on the credential's row, taken in a short transaction) calls
    the token endpoint with no transaction open, then records the new tokens; the others wait
    for the row's version to change and use the new token. A lease whose worker died expires
    after ``REFRESH_LEASE``."""
    deadline = time.monotonic() + wait
    while True:
        found = load(db, box, account)
        if found is None:
            raise RefreshFailed(f"{account} is not connected (or was disconnected)")
        row, secrets = found
        if row.expires_at is None or row.expires_at - now() > margin:
            return str(secrets["access_token"])
        if _claim_refresh(db, account, row.version, now()):
            break
        if time.monotonic() > deadline:
            raise RefreshFailed(f"another worker's refresh of {account}'s token did not finish")
        time.sleep(REFRESH_POLL)
    refresh = secrets.get("refresh_token")
    try:
        if not refresh:
            raise RefreshFailed(f"{account}'s access token expired and there is no refresh token")
        fresh = refresher(str(refresh))
    except BaseException:
        _release_refresh(db, account, row.version)
        raise
    secrets["access_token"] = fresh.access_token
    if fresh.refresh_token:
        secrets["refresh_token"] = fresh.refresh_token
    with db.write() as session:
        locked = _locked_row(session, account)
        if locked.version != row.version:  # our lease expired and another worker refreshed
            return str(box.open(locked.secret)["access_token"])
        locked.secret = box.seal(secrets)
        locked.expires_at = fresh.expires_at
        locked.version += 1
        locked.refreshed_at = now()
        locked.refreshing_until = None
    return fresh.access_token


REFRESH_LEASE = timedelta(seconds=60)
REFRESH_POLL = 0.05


def _locked_row(session: Session, account: str) -> Credential:
    locked = session.scalars(
        select(Credential).where(Credential.account_key == account).with_for_update()
    ).first()
    if locked is None:
        raise RefreshFailed(f"{account} was disconnected")
    return locked


def _claim_refresh(db: Database, account: str, version: int, now: datetime) -> bool:
    """Take the refresh lease if nobody holds it and nobody refreshed since ``version``."""
    with db.write() as session:
        locked = _locked_row(session, account)
        if locked.version != version:
            return False  # refreshed meanwhile: the caller reads the new token
        if locked.refreshing_until is not None and locked.refreshing_until > now:
            return False
        locked.refreshing_until = now + REFRESH_LEASE
        return True


def _release_refresh(db: Database, account: str, version: int) -> None:
    with db.write() as session:
        row = session.scalars(select(Credential).where(Credential.account_key == account)).first()
        if row is not None and row.version == version:
            row.refreshing_until = None


def rotate_all(db: Database, box: TokenBox) -> int:
    """Re-seal every stored secret with the newest key; returns how many rows."""
    with db.write() as session:
        rows = list(session.scalars(select(Credential)))
        for row in rows:
            row.secret = box.rotate(row.secret)
        for invite in session.scalars(select(Invite).where(Invite.oauth_secret.is_not(None))):
            invite.oauth_secret = box.rotate(invite.oauth_secret or "")
    return len(rows)
