"""The audit log: who did what to which item, and when, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from chatbot.db.models import AuditEntry


def audit(
    session: Session, now: datetime, actor: str, action: str, target: str, **detail: Any
) -> None:
    session.add(AuditEntry(at=now, actor=actor, action=action, target=target, detail=detail))
