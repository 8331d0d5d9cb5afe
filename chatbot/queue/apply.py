"""Writing a plan to the queue in one transaction.

Re-applying unchanged content writes nothing. An edit to text, card or alt text voids the post's
approvals (recorded with the reason) and sends it back to draft; a change of time alone keeps
them, because the reviewer approved the words, not the minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from chatbot.config import Config
from chatbot.content.model import ContentSet, PostSpec
from chatbot.db.audit import audit
from chatbot.db.models import Approval, Campaign, Chat, Post, PostState
from chatbot.queue.accounts import sync_accounts
from chatbot.queue.plan import REMOVED_FROM_CONTENT, Change, Plan, compute_plan
from chatbot.timeutil import parse_local_datetime, zone


def _sync_groups(session: Session, content: ContentSet, config: Config) -> None:
    chats = {c.key: c for c in session.scalars(select(Chat))}
    for chat in content.chats.values():
        tz_name = chat.timezone or config.account_zone_name(chat.hosts[0])
        starts = parse_local_datetime(chat.starts_at, zone(tz_name))
        row = chats.get(chat.id)
        values = {
            "timezone": tz_name,
            "title": chat.title,
            "hashtag": chat.hashtag,
            "host": chat.hosts[0],
            "starts_at": starts,
            "follow": {
                "x": chat.follow.x,
                "x_max_reads": chat.follow.x_max_reads,
                "after": chat.follow.after.total_seconds() if chat.follow.after else None,
            },
        }
        if row is None:
            session.add(Chat(key=chat.id, removed=False, **values))
        else:
            for name, value in values.items():
                if getattr(row, name) != value:
                    setattr(row, name, value)
            if row.removed:
                row.removed = False
    for key, row in chats.items():
        if key not in content.chats and not row.removed:
            row.removed = True
    campaigns = {c.key: c for c in session.scalars(select(Campaign))}
    for campaign in content.campaigns.values():
        camp_row = campaigns.get(campaign.id)
        if camp_row is None:
            session.add(Campaign(key=campaign.id, title=campaign.title, removed=False))
        else:
            if camp_row.title != campaign.title:
                camp_row.title = campaign.title
            if camp_row.removed:
                camp_row.removed = False
    for key, camp_row in campaigns.items():
        if key not in content.campaigns and not camp_row.removed:
            camp_row.removed = True


# Rows per bulk statement. Measured on 10,000 new posts: PostgreSQL (psycopg) took 3.9 s at
# 1,000 rows a statement and 3.2 s at 100 (a longer statement costs more per row); SQLite
# is the same at either.
CHUNK = 100
# Rows per executemany of a plain INSERT (see apply_plan). psycopg runs an executemany as one
# pipeline, and pipelines of 500-2,000 rows stall on this machine: client and server both
# wait, for 0.4-1.5 s more per 10,000 rows, at random. Measured over 10,000 new posts on
# PostgreSQL, six runs each: 0.38-0.39 s at 200 rows, 0.36-1.4 s at 1,000, 0.40 s at 100.
INSERT_CHUNK = 200
# Keys per read-back of new ids: one query of 900 instead of nine of 100 (each a round trip:
# 0.33 -> 0.25 s for 10,000 new posts on PostgreSQL); under SQLite's oldest limit
# of 999 variables a statement.
KEY_CHUNK = 900
T = TypeVar("T")


def _values(spec: PostSpec, change: Change, by: str, now: datetime) -> dict[str, Any]:
    """The post's columns as the content says (``depends_on_id`` is set separately)."""
    existing = change.existing
    # A host's live controls (delay, resume after a pause, now) moved scheduled_at away from
    # the planned time; an apply keeps that shift instead of undoing it.
    shift = timedelta(0)
    if existing is not None and existing.scheduled_at is not None and existing.planned_at:
        shift = existing.scheduled_at - existing.planned_at
    values: dict[str, Any] = {
        "account_key": spec.account,
        "platform": spec.platform,
        "kind": spec.kind,
        "chat_key": spec.chat,
        "campaign_key": spec.campaign,
        "number": spec.number,
        "seq": spec.seq,
        "text": spec.text,
        "card": spec.card,
        "card_fields": spec.fields or None,
        "alt": spec.alt,
        "image": spec.image,
        "reply_to_previous": spec.reply_to_previous,
        "planned_at": spec.scheduled_at,
        "scheduled_at": spec.scheduled_at + shift,
        "offset_seconds": spec.offset.total_seconds() if spec.offset is not None else None,
        "estimated_cost": change.cost,
        "source_path": str(spec.source.path),
        "source_line": spec.source.line,
        "updated_at": now,
        "content_hash": spec.content_hash,
    }
    if existing is None or existing.content_hash != spec.content_hash:
        values["edited_by"] = by
    return values


def _chunks(items: list[T], size: int = CHUNK) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _by_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by the set of columns they set: one executemany needs the same ones."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return list(groups.values())


def _bulk_update(session: Session, rows: list[dict[str, Any]]) -> None:
    """UPDATE by primary key, grouped by the set of columns (one executemany each)."""
    for group in _by_columns(rows):
        for chunk in _chunks(group):
            session.execute(update(Post), chunk)


def apply_plan(
    session: Session,
    content: ContentSet,
    config: Config,
    now: datetime,
    by: str,
    costs: dict[str, float] | None = None,
) -> Plan:
    """Compute and write the plan inside the caller's transaction; returns what was done.
    ``costs``: the posts' estimated costs already known, by key (see ``compute_plan``).

    The queue is read once (by the plan); new posts are inserted and changed ones updated in
    bulk statements of ``CHUNK`` rows, so a blast of 10,000 posts is about a hundred
    statements, not tens of thousands."""
    sync_accounts(session, config)
    _sync_groups(session, content, config)
    session.flush()
    plan = compute_plan(session, content, config, now, costs)
    if plan.is_empty:
        return plan
    ids = {key: row.id for key, row in plan.queue.items()}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    voiding: list[Change] = []
    removed: list[int] = []
    for change in plan.changes:
        if change.action == "add":
            assert change.spec is not None
            values = _values(change.spec, change, by, now)
            values.update(state=PostState.DRAFT, state_reason=None)
            if change.existing is None:  # a new post
                inserts.append({"key": change.key, "created_at": now, **values})
            else:  # a cancelled post back in the content
                updates.append({"id": change.existing.id, **values})
        elif change.action == "change":
            assert change.spec is not None and change.existing is not None
            values = _values(change.spec, change, by, now)
            if change.voids_approval:
                voiding.append(change)
                if change.existing.state != PostState.DRAFT:
                    values.update(
                        state=PostState.DRAFT,
                        state_reason="edited after approval: needs a new approval",
                    )
            updates.append({"id": change.existing.id, **values})
        elif change.action == "remove":
            assert change.existing is not None
            removed.append(change.existing.id)
            updates.append(
                {
                    "id": change.existing.id,
                    "state": PostState.CANCELLED,
                    "state_reason": REMOVED_FROM_CONTENT,
                    "updated_at": now,
                }
            )
    # Inserted without RETURNING, then the new ids read back by key: psycopg converts a long
    # statement's placeholders in Python at every execution, and an INSERT ... RETURNING of
    # many rows is one long statement; a plain executemany is one short one. Measured on
    # 10,000 new posts on PostgreSQL: 1.56 s with RETURNING, 0.41 s so.
    connection = session.connection()
    for group in _by_columns(inserts):
        for chunk in _chunks(group, INSERT_CHUNK):
            connection.execute(insert(Post), chunk)  # Core: no ORM bulk path
    for chunk in _chunks([row["key"] for row in inserts], KEY_CHUNK):
        for post_id, key in session.execute(select(Post.id, Post.key).where(Post.key.in_(chunk))):
            ids[key] = post_id
    # Dependencies once every post has its id (an original may be new in this same apply).
    for change in plan.changes:
        if change.action in ("add", "change") and change.spec is not None:
            depends = change.spec.depends_on
            known = change.existing.depends_on if change.existing is not None else None
            if depends != known:  # new posts were inserted without one
                updates.append(
                    {"id": ids[change.key], "depends_on_id": ids[depends] if depends else None}
                )
    _bulk_update(session, updates)
    voided = _void_approvals(
        session,
        [c.existing.id for c in voiding if c.existing],
        now,
        "text, card or alt text edited",
    )
    for change in voiding:
        assert change.existing is not None
        if voided.get(change.existing.id):
            audit(session, now, by, "approval.voided", change.key, count=voided[change.existing.id])
    _void_approvals(session, removed, now, "removed from content")
    audit(
        session,
        now,
        by,
        "apply",
        "content",
        added=len(plan.of("add")),
        changed=len(plan.of("change")),
        removed=len(plan.of("remove")),
    )
    # Posts the caller loaded before are stale after bulk statements: reload them on next use.
    session.expire_all()
    return plan


def _void_approvals(
    session: Session, post_ids: list[int], now: datetime, reason: str
) -> dict[int, int]:
    """Void the live approvals of these posts; how many each had."""
    counts: dict[int, int] = {}
    for chunk in _chunks(post_ids):
        live = (Approval.post_id.in_(chunk), Approval.voided_at.is_(None))
        for post_id, count in session.execute(
            select(Approval.post_id, func.count()).where(*live).group_by(Approval.post_id)
        ):
            counts[post_id] = count
        if any(post_id in counts for post_id in chunk):
            session.execute(
                update(Approval)
                .where(*live)
                .values(voided_at=now, voided_reason=reason)
                .execution_options(synchronize_session=False)
            )
    return counts
