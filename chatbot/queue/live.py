"""Host controls for a live chat: status, pause, resume, skip, delay and post-next-now.

The controls read and change rows through a ``ChatStore``: a SQLAlchemy session's
(``chatbot.queue.store_orm``) or, for a command in its own process, one that needs no
SQLAlchemy (``chatbot.queue.store_direct``). The decisions are made here, once, for both.

Every control is one transaction on the posts table, so a running worker sees it at its next
cycle; the chat's ``control_version`` is incremented so workers notice within their control poll
(a fraction of a second) instead of waiting for the next due time. Controls are safe to repeat:
pausing a paused chat or resuming a running one changes nothing; skip and now name the post they
act on; and a control sent with the version its sender saw (``expect_version``: the web panel
always sends it) is refused if someone else acted in between, so a double click or two hosts on
one chat never skip two questions or delay twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from chatbot.db.states import PostState
from chatbot.errors import UserError
from chatbot.kinds import CHAT_KINDS
from chatbot.queue.stores import as_store
from chatbot.queue.views import ChatStore, ChatView, PostView, QueueStore
from chatbot.timeutil import format_duration, zone

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# Not yet handed to the platform: these move when the host steers the chat.
PENDING = (PostState.DRAFT, PostState.APPROVED, PostState.QUEUED)
ResumeMode = Literal["shift", "keep"]


class ChatControlError(UserError):
    """A control that cannot be applied; nothing was changed."""


@dataclass
class ChatStatus:
    chat: ChatView
    posts: list[PostView]
    dependents: list[PostView]
    # Where it was read: a control writes its audit row there, in the same transaction.
    store: ChatStore = field(repr=False, compare=False)

    @property
    def paused(self) -> bool:
        return self.chat.live_state == "paused"

    @property
    def sent(self) -> list[PostView]:
        return [p for p in self.posts if p.state not in PENDING]

    @property
    def remaining(self) -> list[PostView]:
        return [p for p in self.posts if p.state in PENDING]

    @property
    def next(self) -> PostView | None:
        remaining = self.remaining
        return remaining[0] if remaining else None

    @property
    def state(self) -> str:
        if self.paused:
            return "paused"
        if not self.remaining and not any(p.state == PostState.SENDING for p in self.posts):
            return "ended"
        if any(p.state == PostState.POSTED for p in self.posts):
            return "live"
        return "scheduled"


@dataclass
class ControlResult:
    action: str
    changed: bool
    message: str
    version: int
    posts: list[str] = field(default_factory=list)


def label(post: PostView) -> str:
    if post.kind == "question" and post.number is not None:
        return f"Q{post.number}"
    return post.kind


def _local(status: ChatStatus, post: PostView) -> str:
    """A post's time in the chat's own zone: every message speaks one zone, the chat's."""
    return post.scheduled_at.astimezone(zone(status.chat.timezone)).strftime("%H:%M:%S %Z")


def load_status(session: Session | QueueStore, chat_key: str) -> ChatStatus:
    store = as_store(session)
    chat = store.find_chat(chat_key)
    if chat is None or chat.removed:
        known = sorted(store.chat_keys())
        hint = f"known chats: {', '.join(known)}" if known else "no chat is applied yet"
        raise ChatControlError(f"no chat called {chat_key!r} in the queue ({hint})")
    rows = store.chat_posts(chat_key)
    originals = [p for p in rows if p.depends_on_id is None and p.kind in CHAT_KINDS]
    dependents = [p for p in rows if p.depends_on_id is not None]
    return ChatStatus(chat, originals, dependents, store)


def _begin(
    session: Session | QueueStore, chat_key: str, expect_version: int | None, action: str
) -> ChatStatus:
    status = load_status(session, chat_key)
    if expect_version is not None and expect_version != status.chat.control_version:
        raise ChatControlError(
            f"{chat_key} changed since you looked (version {expect_version}, now "
            f"{status.chat.control_version}); nothing was done. Look at its status again and "
            f"{action} again if it is still needed"
        )
    return status


def _done(
    status: ChatStatus,
    now: datetime,
    by: str,
    action: str,
    message: str,
    posts: list[PostView] | None = None,
    **detail: object,
) -> ControlResult:
    status.chat.control_version += 1
    keys = [p.key for p in posts or []]
    status.store.audit(now, by, f"chat.{action}", status.chat.key, posts=keys, **detail)
    return ControlResult(action, True, message, status.chat.control_version, keys)


def _unchanged(status: ChatStatus, action: str, message: str) -> ControlResult:
    return ControlResult(action, False, message, status.chat.control_version)


def _move(status: ChatStatus, posts: list[PostView], delta: timedelta, now: datetime) -> None:
    """Shift posts and keep their reposts' displayed times in step (reposts are due from
    their original's confirmed time anyway)."""
    moved = {p.id for p in posts}
    for post in posts:
        post.scheduled_at = post.scheduled_at + delta
        post.updated_at = now
    for dep in status.dependents:
        if dep.depends_on_id in moved and dep.state in PENDING:
            dep.scheduled_at = dep.scheduled_at + delta
            dep.updated_at = now


def _skip_posts(status: ChatStatus, posts: list[PostView], now: datetime, reason: str) -> None:
    skipped = {p.id for p in posts}
    for post in posts:
        post.state = PostState.SKIPPED
        post.state_reason = reason
        post.updated_at = now
    for dep in status.dependents:
        if dep.depends_on_id in skipped and dep.state in PENDING:
            dep.state = PostState.SKIPPED
            dep.state_reason = "its original was skipped by the host"
            dep.updated_at = now


def _target(status: ChatStatus, number: int | None, action: str) -> PostView | None:
    """The post a skip/now acts on: question ``number``, or the next one not yet sent."""
    if number is None:
        return status.next
    for post in status.posts:
        if post.kind == "question" and post.number == number:
            return post
    count = sum(1 for p in status.posts if p.kind == "question")
    raise ChatControlError(
        f"{status.chat.key} has no Q{number}; it has Q1 to Q{count}; nothing was {action}"
    )


def _copies(status: ChatStatus, post: PostView) -> list[PostView]:
    """The post and its copies on the chat's other host platforms: one step of the script
    (they share ``seq``), which a skip or a post-now moves together."""
    return [p for p in status.posts if p.seq == post.seq]


def pause(
    session: Session | QueueStore,
    chat_key: str,
    now: datetime,
    by: str,
    expect_version: int | None = None,
) -> ControlResult:
    status = _begin(session, chat_key, expect_version, "pause")
    if status.paused:
        return _unchanged(status, "pause", f"{chat_key} is already paused; nothing changed")
    if status.state == "ended":
        raise ChatControlError(f"{chat_key} has nothing left to post; there is nothing to pause")
    status.chat.live_state = "paused"
    status.chat.paused_at = now
    sending = [label(p) for p in status.posts if p.state == PostState.SENDING]
    note = f" ({', '.join(sending)} was already being sent)" if sending else ""
    return _done(
        status,
        now,
        by,
        "pause",
        f"paused {chat_key}: nothing more is posted until you resume it{note}",
    )


def resume(
    session: Session | QueueStore,
    chat_key: str,
    now: datetime,
    by: str,
    mode: ResumeMode = "shift",
    expect_version: int | None = None,
) -> ControlResult:
    """``shift``: the rest moves later by the length of the pause, so the cadence (and the gap
    the audience was told to expect) is kept from the moment of resuming. ``keep``: original
    times stay and whatever fell due during the pause is skipped."""
    status = _begin(session, chat_key, expect_version, "resume")
    if not status.paused:
        return _unchanged(status, "resume", f"{chat_key} is not paused; nothing changed")
    paused_at = status.chat.paused_at or now
    pause_length = max(now - paused_at, timedelta(0))
    status.chat.live_state = "scheduled"
    status.chat.paused_at = None
    remaining = status.remaining
    if mode == "shift":
        _move(status, remaining, pause_length, now)
        nxt = remaining[0] if remaining else None
        when = f"; next: {label(nxt)} at {_local(status, nxt)}" if nxt else ""
        return _done(
            status,
            now,
            by,
            "resume",
            f"resumed {chat_key}: the rest moved {format_duration(pause_length)} later{when}",
            remaining,
            mode=mode,
            paused_for=pause_length.total_seconds(),
        )
    past = [p for p in remaining if p.scheduled_at < now]
    _skip_posts(status, past, now, f"its time passed while the chat was paused (resumed by {by})")
    names = ", ".join(label(p) for p in past) or "nothing"
    return _done(
        status,
        now,
        by,
        "resume",
        f"resumed {chat_key} keeping the original times; skipped {names}",
        past,
        mode=mode,
        paused_for=pause_length.total_seconds(),
    )


def skip(
    session: Session | QueueStore,
    chat_key: str,
    now: datetime,
    by: str,
    number: int | None = None,
    expect_version: int | None = None,
) -> ControlResult:
    status = _begin(session, chat_key, expect_version, "skip")
    post = _target(status, number, "skipped")
    if post is None:
        raise ChatControlError(f"{chat_key} has nothing left to skip")
    pending = [p for p in _copies(status, post) if p.state in PENDING]
    if not pending and post.state == PostState.SKIPPED:
        return _unchanged(status, "skip", f"{label(post)} is already skipped; nothing changed")
    if not pending:
        raise ChatControlError(
            f"{label(post)} of {chat_key} is already {post.state}; it cannot be skipped"
        )
    _skip_posts(status, pending, now, f"skipped by {by}")
    return _done(
        status,
        now,
        by,
        "skip",
        f"skipped {label(post)} of {chat_key} (and its reposts)"
        if post.number is not None
        else f"skipped the {label(post)} of {chat_key} (and its reposts)",
        pending,
    )


def delay(
    session: Session | QueueStore,
    chat_key: str,
    now: datetime,
    by: str,
    by_how_much: timedelta,
    expect_version: int | None = None,
) -> ControlResult:
    if by_how_much <= timedelta(0):
        raise ChatControlError("delay must be longer than 0s, e.g. 5m")
    status = _begin(session, chat_key, expect_version, "delay")
    remaining = status.remaining
    if not remaining:
        raise ChatControlError(f"{chat_key} has nothing left to delay")
    _move(status, remaining, by_how_much, now)
    nxt = remaining[0]
    return _done(
        status,
        now,
        by,
        "delay",
        f"delayed the rest of {chat_key} by {format_duration(by_how_much)}; "
        f"next: {label(nxt)} at {_local(status, nxt)}",
        remaining,
        seconds=by_how_much.total_seconds(),
    )


def post_now(
    session: Session | QueueStore,
    chat_key: str,
    now: datetime,
    by: str,
    number: int | None = None,
    expect_version: int | None = None,
) -> ControlResult:
    """Make the next post (or question ``number``) due now. Later posts keep their times."""
    status = _begin(session, chat_key, expect_version, "post now")
    post = _target(status, number, "posted")
    if post is None:
        raise ChatControlError(f"{chat_key} has nothing left to post")
    if post.state not in PENDING:
        return _unchanged(
            status, "now", f"{label(post)} is already {post.state}; nothing more to do"
        )
    if status.paused:
        raise ChatControlError(f"{chat_key} is paused; resume it first")
    copies = [p for p in _copies(status, post) if p.state in PENDING]
    for copy in copies:
        if copy.state == PostState.DRAFT or copy.held:
            why = "not approved yet" if copy.state == PostState.DRAFT else "held for a person"
            where = "" if copy is post else f" (its {copy.platform} copy)"
            raise ChatControlError(
                f"{label(post)} of {chat_key}{where} is {why}; it cannot go out now"
            )
    later = [p for p in copies if p.scheduled_at > now]
    if not later:
        return _unchanged(status, "now", f"{label(post)} is already due; it is going out")
    for copy in later:  # every platform's copy at once, each with its own reposts
        _move(status, [copy], now - copy.scheduled_at, now)
    return _done(status, now, by, "now", f"posting {label(post)} of {chat_key} now", later)
