"""Which store a control or an overview reads through, for callers that hold a session (the
worker, the web app, the tests) as well as for those that hold a store already."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from chatbot.queue.views import QueueStore

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def as_store(session: Session | QueueStore) -> QueueStore:
    """A session's store (``chatbot.queue.store_orm``); a store as it is."""
    if hasattr(session, "find_chat"):
        return cast(QueueStore, session)
    from chatbot.queue.store_orm import OrmStore

    return OrmStore(cast("Session", session))
