"""The accounts table: kept in step with the config, and paused or resumed by a person."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.config import Config
from chatbot.db.audit import audit
from chatbot.db.models import Account


def sync_accounts(session: Session, config: Config) -> None:
    """Make the accounts table match the config (new accounts added, platform/handle updated)."""
    rows = {a.key: a for a in session.scalars(select(Account))}
    for key, account in config.settings.accounts.items():
        row = rows.get(key)
        if row is None:
            session.add(Account(key=key, platform=account.platform, handle=account.handle))
        elif (row.platform, row.handle) != (account.platform, account.handle):
            row.platform, row.handle = account.platform, account.handle


def set_account_paused(
    session: Session, config: Config, key: str, paused: bool, by: str, reason: str, now: datetime
) -> None:
    """Pause an account (it posts nothing) or let it post again; audited. Resuming also clears
    a rate-limit wait: a person resuming means "try again now"."""
    sync_accounts(session, config)
    session.flush()
    row = session.scalars(select(Account).where(Account.key == key)).one()
    row.paused = paused
    row.paused_reason = reason if paused else None
    if not paused:
        row.rate_limited_until = None
    audit(session, now, by, "account.paused" if paused else "account.resumed", key, reason=reason)
