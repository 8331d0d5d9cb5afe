"""Publishers: the transport to each platform behind one small interface (see ``base``)."""

from chatbot.publishers.base import (
    BadRequest,
    DuplicateContent,
    OutcomeUnknown,
    OutgoingPost,
    Published,
    Publisher,
    PublishError,
    RateLimited,
    RemotePost,
    TransientError,
    Unauthorized,
    UsageCapped,
)

__all__ = [
    "BadRequest",
    "DuplicateContent",
    "OutcomeUnknown",
    "OutgoingPost",
    "PublishError",
    "Published",
    "Publisher",
    "RateLimited",
    "RemotePost",
    "TransientError",
    "Unauthorized",
    "UsageCapped",
]
