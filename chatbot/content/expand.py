"""Turning a chat or a campaign into concrete posts with UTC times.

Chats: intro at ``starts_at``, ``Q1: ...`` one interval later (or at ``at:`` / ``after:``), outro
one interval after the last question; the chat hashtag is appended to any post lacking it.
Campaigns: posts take the next free slot of their account, in that account's own zone; posts
without an ``account:`` are dealt to the campaign's accounts in turn, so no two accounts post the
same text (X's automation rules). Amplification adds a repost per partner that depends on its
original and is due ``after`` the original is confirmed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from chatbot.config import Config
from chatbot.content.located import check_account, content_zone, located_error
from chatbot.content.model import (
    DAYS,
    CampaignIn,
    CardIn,
    ChatIn,
    Media,
    PostKind,
    PostSpec,
    Source,
)
from chatbot.errors import ContentError
from chatbot.timeutil import TimeFormatError, parse_local_datetime
from chatbot.yamlmarks import LocatedYaml, PathKey

_NUMBERED = re.compile(r"^\s*Q\d+\s*[:.)]", re.IGNORECASE)


def with_hashtag(text: str, hashtag: str | None) -> str:
    """Append ``hashtag`` unless the text already carries it (any letter case)."""
    if not hashtag:
        return text
    pattern = re.compile(rf"(?<!\w){re.escape(hashtag)}(?!\w)", re.IGNORECASE)
    if pattern.search(text):
        return text
    return f"{text.rstrip()} {hashtag}"


def card_of(
    card: str | CardIn | None, text: str, defaults: dict[str, str]
) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """The template name and the text of each box: defaults from the post, overrides from
    the card mapping."""
    if card is None:
        return None, ()
    fields = {"text": text.strip(), **defaults}
    name = card
    if isinstance(card, CardIn):
        name = card.template
        for key in ("text", "label", "attribution", "title", "when", "footer"):
            value = getattr(card, key)
            if value is not None:
                fields[key] = value.strip()
    return str(name), tuple(sorted((k, v) for k, v in fields.items() if v))


def source_of(doc: LocatedYaml, keys: PathKey) -> Source:
    node = doc.node(keys)
    line = doc.line(keys) or 1
    column = doc.column(keys) or 1
    single_line = node is not None and node.start_mark.line == node.end_mark.line
    style = doc.scalar_style(keys)
    # Columns inside the text can be computed only for one-line plain or quoted scalars;
    # a quoted scalar's first character is one column after the quote.
    if style in ('"', "'"):
        column += 1
    return Source(doc.path, line, column, text_offset_ok=single_line and style in ("", '"', "'"))


def _parse_at(doc: LocatedYaml, keys: PathKey, value: object, tz: ZoneInfo) -> datetime:
    try:
        return parse_local_datetime(value, tz)
    except TimeFormatError as exc:
        raise located_error(doc, keys, str(exc)) from None


def _media_keys(keys: PathKey, value: object) -> PathKey:
    """Path of the text node: ``intro`` for a plain string, ``intro.text`` for a mapping."""
    return (*keys, "text") if isinstance(value, Media) else keys


def chat_posts(chat: ChatIn, doc: LocatedYaml, config: Config) -> list[PostSpec]:
    check_account(doc, ("host",), chat.host, config)
    tz = content_zone(doc, ("timezone",), chat.timezone, config.account_zone_name(chat.host))
    start = _parse_at(doc, ("starts_at",), chat.starts_at, tz)
    if chat.interval <= timedelta(0):
        raise located_error(doc, ("interval",), "must be longer than 0s, e.g. 10m")
    platform = config.platform_of(chat.host)
    posts: list[PostSpec] = []

    def add(
        kind: PostKind,
        key: str,
        item: str | Media,
        keys: PathKey,
        at: datetime,
        number: int | None = None,
    ) -> None:
        media = item if isinstance(item, Media) else Media(text=item)
        raw = media.text
        text = f"Q{number}: {raw.strip()}" if kind == "question" else raw.strip()
        handle = config.settings.accounts[chat.host].handle
        # Defaults are only what the card shows, so that approving the words of a question
        # card survives a change of time; an intro or outro card shows the date and time.
        defaults = {"footer": " · ".join(x for x in (chat.hashtag, handle) if x)}
        if kind == "question":
            defaults["label"] = f"Q{number}"
        else:
            defaults["title"] = chat.title
            defaults["when"] = (
                start.astimezone(tz).strftime("%A, %B %d · %I:%M %p %Z").replace(" 0", " ")
            )
        card, fields = card_of(media.card, raw, defaults)
        posts.append(
            PostSpec(
                key=f"{chat.id}/{key}",
                account=chat.host,
                platform=platform,
                kind=kind,
                text=with_hashtag(text, chat.hashtag),
                source_text=raw,
                scheduled_at=at,
                source=source_of(doc, _media_keys(keys, item)),
                card=card,
                card_fields=fields,
                alt=media.alt,
                image=media.image,
                chat=chat.id,
                number=number,
                seq=len(posts),
                reply_to_previous=chat.thread and bool(posts),
            )
        )

    if chat.intro is not None:
        add("intro", "intro", chat.intro, ("intro",), start)
    at = start
    for index, question in enumerate(chat.questions):
        keys: PathKey = ("questions", index)
        if _NUMBERED.match(question.text):
            raise located_error(
                doc, (*keys, "text"), "do not number questions yourself; the chat adds 'Qn: '"
            )
        if question.at is not None and question.after is not None:
            raise located_error(doc, keys, "use either at: or after:, not both")
        if question.at is not None:
            new_at = _parse_at(doc, (*keys, "at"), question.at, tz)
        elif question.after is not None:
            new_at = at + question.after
        else:
            new_at = at + chat.interval
        if new_at < start or (posts and new_at <= posts[-1].scheduled_at):
            raise located_error(
                doc,
                keys,
                f"Q{index + 1} would be before starts_at or the post before it; "
                "times in a chat must increase",
            )
        at = new_at
        add("question", f"q{index + 1}", question, keys, at, number=index + 1)
    if chat.outro is not None:
        add("outro", "outro", chat.outro, ("outro",), at + chat.interval)
    return posts


def slot_times(
    days: list[str], times: list[object], tz: ZoneInfo, first_day: datetime, daily_cap: int | None
) -> Iterator[datetime]:
    """Successive slot instants (UTC) from ``first_day`` onwards, in ``tz`` wall-clock time.

    A slot in a skipped hour (spring forward) moves to the same wall time after the gap; a slot in
    a repeated hour takes its first occurrence. Recurring slots must not fail on transition days.
    """
    wanted = {DAYS.index(d) for d in days}
    ordered = sorted(set(times))  # type: ignore[type-var]
    day = first_day.date()
    while True:
        if day.weekday() in wanted:
            for count, clock in enumerate(ordered):
                if daily_cap is not None and count >= daily_cap:
                    break
                local = datetime.combine(day, clock).replace(tzinfo=tz, fold=0)  # type: ignore[arg-type]
                instant = local.astimezone(UTC)
                # A nonexistent time round-trips to a different wall time; that is the shift.
                yield instant
        day += timedelta(days=1)


def campaign_posts(campaign: CampaignIn, doc: LocatedYaml, config: Config) -> list[PostSpec]:
    for index, account in enumerate(campaign.accounts):
        check_account(doc, ("accounts", index), account, config)
    if campaign.slots is not None and campaign.starts_on is None:
        raise located_error(doc, ("slots",), "slots need starts_on, e.g. starts_on: 2026-12-01")
    if campaign.ends_on and campaign.starts_on and campaign.ends_on < campaign.starts_on:
        raise located_error(doc, ("ends_on",), "ends_on is before starts_on")
    slots: dict[str, Iterator[datetime]] = {}
    taken: dict[str, set[datetime]] = {}
    posts: list[PostSpec] = []
    seen_ids: set[str] = set()
    for index, item in enumerate(campaign.posts):
        keys: PathKey = ("posts", index)
        account = item.account or campaign.accounts[index % len(campaign.accounts)]
        if item.account is not None:
            check_account(doc, (*keys, "account"), item.account, config)
        tz = content_zone(doc, ("timezone",), campaign.timezone, config.account_zone_name(account))
        if item.at is not None:
            at = _parse_at(doc, (*keys, "at"), item.at, tz)
        elif campaign.slots is not None and campaign.starts_on is not None:
            if account not in slots:
                # Each account's slots are in its own zone unless the campaign pins one.
                account_tz = content_zone(
                    doc, ("timezone",), campaign.timezone, config.account_zone_name(account)
                )
                first = datetime.combine(campaign.starts_on, datetime.min.time())
                cap = config.settings.accounts[account].daily_cap
                slots[account] = slot_times(
                    list(campaign.slots.days), list(campaign.slots.times), account_tz, first, cap
                )
                taken[account] = set()
            at = next(slots[account])
            while at in taken[account]:
                at = next(slots[account])
            if campaign.ends_on is not None:
                last = datetime.combine(campaign.ends_on, datetime.max.time()).replace(tzinfo=tz)
                if at > last.astimezone(UTC):
                    raise located_error(
                        doc,
                        keys,
                        f"no free slot for this post before ends_on {campaign.ends_on} "
                        "(add slots, move ends_on, or give the post an at:)",
                    )
        else:
            raise located_error(
                doc,
                keys,
                "needs a time: add slots and starts_on to the campaign, or give this post an at:",
            )
        taken.setdefault(account, set()).add(at)
        post_id = item.id or f"p{index + 1}"
        handle = config.settings.accounts[account].handle
        card, fields = card_of(
            item.card,
            item.text,
            {"footer": " · ".join(x for x in (campaign.hashtag or "", handle) if x)},
        )
        if post_id in seen_ids:
            raise located_error(doc, (*keys, "id"), f"post id {post_id!r} is used twice")
        seen_ids.add(post_id)
        posts.append(
            PostSpec(
                key=f"{campaign.id}/{post_id}",
                account=account,
                platform=config.platform_of(account),
                kind="campaign",
                text=with_hashtag(item.text.strip(), campaign.hashtag),
                source_text=item.text,
                scheduled_at=at,
                source=source_of(doc, (*keys, "text")),
                card=card,
                card_fields=fields,
                alt=item.alt,
                image=item.image,
                campaign=campaign.id,
                seq=index,
            )
        )
    return posts


def _reference_names(post: PostSpec) -> set[str]:
    """Names a partner may use in ``skip:`` to opt out of one post."""
    names = {post.key, post.key.split("/", 1)[1]}
    if post.number is not None:
        names |= {f"q{post.number}", str(post.number)}
    return {n.lower() for n in names}


def jitter_for(key: str, jitter: timedelta) -> timedelta:
    """A stable pseudo-random delay in [0, jitter]: the same plan every time it is computed."""
    if jitter <= timedelta(0):
        return timedelta(0)
    digest = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    return timedelta(seconds=digest % (int(jitter.total_seconds()) + 1))


def amplify_posts(
    owner: ChatIn | CampaignIn, originals: list[PostSpec], doc: LocatedYaml, config: Config
) -> list[PostSpec]:
    reposts: list[PostSpec] = []
    for index, entry in enumerate(owner.amplify):
        keys: PathKey = ("amplify", index)
        check_account(doc, (*keys, "account"), entry.account, config)
        skips = {str(s).lower() for s in entry.skip}
        known = set().union(*(_reference_names(p) for p in originals)) if originals else set()
        unknown = sorted(skips - known)
        if unknown:
            raise located_error(
                doc,
                (*keys, "skip"),
                f"{', '.join(unknown)} names no post here; use names "
                "like intro, q3, outro or a campaign post id",
            )
        for post in originals:
            if post.account == entry.account or _reference_names(post) & skips:
                continue
            key = f"{post.key}@{entry.account}"
            reposts.append(
                PostSpec(
                    key=key,
                    account=entry.account,
                    platform=config.platform_of(entry.account),
                    kind="repost",
                    text="",
                    scheduled_at=post.scheduled_at + entry.after + jitter_for(key, entry.jitter),
                    source=Source(doc.path, doc.line(keys) or 1, doc.column(keys) or 1),
                    depends_on=post.key,
                    offset=entry.after + jitter_for(key, entry.jitter),
                    chat=post.chat,
                    campaign=post.campaign,
                    number=post.number,
                    seq=post.seq,
                )
            )
    return reposts


__all__ = ["ContentError", "amplify_posts", "campaign_posts", "chat_posts", "with_hashtag"]
