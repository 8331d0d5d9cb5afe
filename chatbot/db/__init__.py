"""The queue database: models, engine set-up and migrations.

The names below load on first use (PEP 562), not with the package: ``chatbot.db.direct``, which
the short commands use to read SQLite without SQLAlchemy, lives in this package too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatbot.db.models import (
        Account,
        Approval,
        AuditEntry,
        Base,
        Campaign,
        Chat,
        Post,
        PostState,
    )
    from chatbot.db.session import Database, open_database

_WHERE = {
    **dict.fromkeys(
        ("Account", "Approval", "AuditEntry", "Base", "Campaign", "Chat", "Post", "PostState"),
        "chatbot.db.models",
    ),
    "Database": "chatbot.db.session",
    "open_database": "chatbot.db.session",
}

__all__ = [
    "Account",
    "Approval",
    "AuditEntry",
    "Base",
    "Campaign",
    "Chat",
    "Database",
    "Post",
    "PostState",
    "open_database",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'chatbot.db' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
