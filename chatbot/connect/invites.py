"""Single-use, expiring invites bound to one account entry. Only a hash of the token is
stored, so the database cannot hand out a working link."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.db.models import Invite
from chatbot.errors import UserError


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, account: str, by: str, now: datetime, ttl: timedelta) -> str:
    """A new invite for ``account``; returns the token (shown once, never stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        Invite(
            token_hash=digest(token),
            account_key=account,
            created_by=by,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return token


def find(session: Session, token: str, now: datetime) -> Invite:
    """The open invite for ``token``, or a UserError saying why it cannot be used."""
    invite = session.scalars(select(Invite).where(Invite.token_hash == digest(token))).first()
    if invite is None:
        raise UserError("this invite link is not valid; ask the organizer for a new one")
    if invite.used_at is not None:
        raise UserError(
            "this invite link was already used; ask the organizer for a new one if the "
            "account needs connecting again"
        )
    if invite.expires_at <= now:
        raise UserError("this invite link has expired; ask the organizer for a new one")
    return invite


def new_state() -> str:
    """A fresh OAuth ``state`` to send with the sign-in request."""
    return secrets.token_urlsafe(32)


def begin_oauth(invite: Invite, state: str) -> None:
    """Start an OAuth round trip for ``invite`` with ``state``. The caller keeps the round
    trip's secret (PKCE verifier, app credentials) sealed in ``oauth_secret``."""
    invite.oauth_state_hash = digest(state)


def by_state(session: Session, state: str, now: datetime) -> Invite:
    """The invite an OAuth callback's ``state`` belongs to; refuses unknown or reused states."""
    invite = session.scalars(select(Invite).where(Invite.oauth_state_hash == digest(state))).first()
    if invite is None or not hmac.compare_digest(invite.oauth_state_hash or "", digest(state)):
        raise UserError(
            "the sign-in came back with an unknown state: start again from the invite link"
        )
    if invite.used_at is not None:
        raise UserError("this invite link was already used; ask the organizer for a new one")
    if invite.expires_at <= now:
        raise UserError("this invite link has expired; ask the organizer for a new one")
    return invite


def consume(invite: Invite, now: datetime) -> None:
    invite.used_at = now
    invite.oauth_state_hash = None
    invite.oauth_secret = None
