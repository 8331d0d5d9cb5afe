"""The queue database: models, engine set-up and migrations."""

from chatbot.db.models import Account, Approval, AuditEntry, Base, Campaign, Chat, Post, PostState
from chatbot.db.session import Database, open_database

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
