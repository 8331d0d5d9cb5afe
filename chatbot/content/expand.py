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
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from chatbot.config import Config
from chatbot.content.located import check_account, content_zone, located_error
from chatbot.content.media import ImageProblem, check_image
from chatbot.content.model import (
    DAYS,
    CampaignIn,
    CardIn,
    ChatIn,
    Media,
    PostKind,
    PostSpec,
    Source,
    family,
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


def checked_image(
    doc: LocatedYaml, keys: PathKey, name: str | None, platform: str, config: Config
) -> str | None:
    """The post's image name once it is known to be a real image inside the content folder,
    within the platform's limit; otherwise an error at the image's line."""
    if name is None:
        return None
    try:
        check_image(config.content_dir, name, platform)
    except ImageProblem as exc:
        raise located_error(doc, (*keys, "image"), str(exc)) from None
    return name


def _media_keys(keys: PathKey, value: object) -> PathKey:
    """Path of the text node: ``intro`` for a plain string, ``intro.text`` for a mapping."""
    return (*keys, "text") if isinstance(value, Media) else keys


def _check_hosts(doc: LocatedYaml, keys: PathKey, accounts: list[str], config: Config) -> None:
    """Each account known, and at most one per platform: the same words from two accounts on
    one platform break X's automation rules and read as spam anywhere."""
    seen: dict[str, str] = {}
    for index, account in enumerate(accounts):
        where: PathKey = keys if len(accounts) == 1 else (*keys, index)
        check_account(doc, where, account, config)
        platform = family(config.platform_of(account))
        if platform in seen:
            raise located_error(
                doc,
                where,
                f"{seen[platform]} and {account} are both {platform} accounts; a chat has one "
                "host per platform (partners amplify with amplify:)",
            )
        seen[platform] = account


def mirrored_key(key: str, account: str, first: bool) -> str:
    """The first account keeps the plain key; the same post on another platform's account is
    ``key+account``."""
    return key if first else f"{key}+{account}"


def chat_posts(chat: ChatIn, doc: LocatedYaml, config: Config) -> list[PostSpec]:
    hosts = chat.hosts
    _check_hosts(doc, ("host",), hosts, config)
    tz = content_zone(doc, ("timezone",), chat.timezone, config.account_zone_name(hosts[0]))
    start = _parse_at(doc, ("starts_at",), chat.starts_at, tz)
    if chat.interval <= timedelta(0):
        raise located_error(doc, ("interval",), "must be longer than 0s, e.g. 10m")
    timetable: list[tuple[PostKind, str, str | Media, PathKey, datetime, int | None]] = []

    def add(
        kind: PostKind,
        key: str,
        item: str | Media,
        keys: PathKey,
        at: datetime,
        number: int | None = None,
    ) -> None:
        timetable.append((kind, key, item, keys, at, number))

    if chat.intro is not None:
        add("intro", "intro", chat.intro, ("intro",), start)
    at = start
    previous: datetime | None = start if chat.intro is not None else None
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
        if new_at < start or (previous is not None and new_at <= previous):
            raise located_error(
                doc,
                keys,
                f"Q{index + 1} would be before starts_at or the post before it; "
                "times in a chat must increase",
            )
        at = previous = new_at
        add("question", f"q{index + 1}", question, keys, at, number=index + 1)
    if chat.outro is not None:
        add("outro", "outro", chat.outro, ("outro",), at + chat.interval)

    posts: list[PostSpec] = []
    for host_index, host in enumerate(hosts):
        platform = config.platform_of(host)
        handle = config.settings.accounts[host].handle
        for seq, (kind, key, item, keys, when, number) in enumerate(timetable):
            media = item if isinstance(item, Media) else Media(text=item)
            raw = media.text_on(platform)
            text = f"Q{number}: {raw.strip()}" if kind == "question" else raw.strip()
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
            card, fields = card_of(media.card, media.text, defaults)
            text_keys = _media_keys(keys, item)
            if platform in media.text_for:
                text_keys = (*keys, "text_for", platform)
            posts.append(
                PostSpec(
                    key=mirrored_key(f"{chat.id}/{key}", host, host_index == 0),
                    account=host,
                    platform=platform,
                    kind=kind,
                    text=with_hashtag(text, chat.hashtag),
                    source_text=raw,
                    scheduled_at=when,
                    source=source_of(doc, text_keys),
                    card=card,
                    card_fields=fields,
                    alt=media.alt,
                    image=checked_image(doc, keys, media.image, platform, config),
                    chat=chat.id,
                    number=number,
                    seq=seq,
                    reply_to_previous=chat.thread and seq > 0,
                )
            )
    return posts


def slot_times(
    days: list[str], times: list[object], tz: ZoneInfo, first_day: datetime
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
            for clock in ordered:
                local = datetime.combine(day, clock).replace(tzinfo=tz, fold=0)  # type: ignore[arg-type]
                # A nonexistent time round-trips to a different wall time; that is the shift.
                yield local.astimezone(UTC)
        day += timedelta(days=1)


# Without ends_on, a search for a free slot stops this far ahead (a cap of 0 would loop forever).
_SLOT_HORIZON = timedelta(days=5 * 366)


class SlotBook:
    """One account's slots in one campaign: which are taken, and the daily and weekly caps,
    counted in the account's own zone (a week starts on Monday)."""

    def __init__(
        self,
        slots: Iterator[datetime],
        tz: ZoneInfo,
        first: datetime,
        last: datetime | None,
        daily_cap: int | None,
        weekly_cap: int | None,
    ):
        self._slots = slots
        self._seen: list[datetime] = []
        self.tz = tz
        self.last = last if last is not None else first + _SLOT_HORIZON
        self.daily_cap = daily_cap
        self.weekly_cap = weekly_cap
        self.taken: set[datetime] = set()
        self._per_day: dict[object, int] = {}
        self._per_week: dict[object, int] = {}

    def _slot(self, index: int) -> datetime | None:
        while len(self._seen) <= index:
            at = next(self._slots)
            if at > self.last:
                return None
            self._seen.append(at)
        return self._seen[index]

    def take_time(self, at: datetime) -> None:
        """Count a post at ``at`` (a slot or an explicit ``at:``) against the caps."""
        local = at.astimezone(self.tz).date()
        week = local.isocalendar()[:2]
        self.taken.add(at)
        self._per_day[local] = self._per_day.get(local, 0) + 1
        self._per_week[week] = self._per_week.get(week, 0) + 1

    def take(self, earliest: datetime | None = None) -> datetime | None:
        """The first free slot at or after ``earliest`` within the caps, or None."""
        index = 0
        while (at := self._slot(index)) is not None:
            index += 1
            if at in self.taken or (earliest is not None and at < earliest):
                continue
            local = at.astimezone(self.tz).date()
            if self.daily_cap is not None and self._per_day.get(local, 0) >= self.daily_cap:
                continue
            week = local.isocalendar()[:2]
            if self.weekly_cap is not None and self._per_week.get(week, 0) >= self.weekly_cap:
                continue
            self.take_time(at)
            return at
        return None


def _book(campaign: CampaignIn, doc: LocatedYaml, config: Config, account: str) -> SlotBook | None:
    if campaign.slots is None or campaign.starts_on is None:
        return None
    # Each account's slots are in its own zone unless the campaign pins one.
    tz = content_zone(doc, ("timezone",), campaign.timezone, config.account_zone_name(account))
    first = datetime.combine(campaign.starts_on, datetime.min.time())
    last = None
    if campaign.ends_on is not None:
        last = datetime.combine(campaign.ends_on, datetime.max.time()).replace(tzinfo=tz)
    settings = config.settings.accounts[account]
    return SlotBook(
        slot_times(list(campaign.slots.days), list(campaign.slots.times), tz, first),
        tz,
        first.replace(tzinfo=tz),
        last,
        settings.daily_cap,
        settings.weekly_cap,
    )


def _owners(campaign: CampaignIn, config: Config) -> list[list[tuple[str, bool]]]:
    """For each post, the accounts it goes out from and whether each is the primary copy.

    A post with ``account:`` goes out from that account only. Any other post goes out once per
    platform: within one platform the campaign's accounts take posts in turn (no two accounts
    on a platform post the same text, X's automation rules), and every platform gets every post.
    """
    by_platform: dict[str, list[str]] = {}
    for account in campaign.accounts:
        by_platform.setdefault(family(config.platform_of(account)), []).append(account)
    owners = []
    for index, item in enumerate(campaign.posts):
        if item.account is not None:
            owners.append([(item.account, True)])
            continue
        owners.append(
            [
                (group[index % len(group)], rank == 0)
                for rank, group in enumerate(by_platform.values())
            ]
        )
    return owners


def campaign_posts(campaign: CampaignIn, doc: LocatedYaml, config: Config) -> list[PostSpec]:
    for index, account in enumerate(campaign.accounts):
        check_account(doc, ("accounts", index), account, config)
    if campaign.slots is not None and campaign.starts_on is None:
        raise located_error(doc, ("slots",), "slots need starts_on, e.g. starts_on: 2026-12-01")
    if campaign.ends_on and campaign.starts_on and campaign.ends_on < campaign.starts_on:
        raise located_error(doc, ("ends_on",), "ends_on is before starts_on")
    if campaign.evergreen is not None and (campaign.slots is None or campaign.ends_on is None):
        raise located_error(
            doc, ("evergreen",), "evergreen re-queueing needs slots and an ends_on to stop at"
        )
    for index, item in enumerate(campaign.posts):
        if item.account is not None:
            check_account(doc, ("posts", index, "account"), item.account, config)
    books: dict[str, SlotBook | None] = {}
    posts: list[PostSpec] = []
    seen_ids: set[str] = set()
    placed: list[tuple[int, bool, str, datetime]] = []
    owners = _owners(campaign, config)
    # Explicit times first, so that slot posts do not take a day an explicit post fills.
    for index, (item, accounts) in enumerate(zip(campaign.posts, owners, strict=True)):
        for account, primary in accounts:
            if account not in books:
                books[account] = _book(campaign, doc, config, account)
            if item.at is None:
                continue
            tz = content_zone(
                doc, ("timezone",), campaign.timezone, config.account_zone_name(account)
            )
            at = _parse_at(doc, ("posts", index, "at"), item.at, tz)
            book = books[account]
            if book is not None:
                book.take_time(at)
            placed.append((index, not primary, account, at))
    for index, accounts in enumerate(owners):
        if campaign.posts[index].at is not None:
            continue
        keys: PathKey = ("posts", index)
        for account, primary in accounts:
            book = books[account]
            if book is None:
                raise located_error(
                    doc,
                    keys,
                    "needs a time: add slots and starts_on to the campaign, or give this post "
                    "an at:",
                )
            slot = book.take()
            if slot is None:
                caps = config.settings.accounts[account]
                limits = [
                    f"{name} {value}"
                    for name, value in (
                        ("daily_cap", caps.daily_cap),
                        ("weekly_cap", caps.weekly_cap),
                    )
                    if value is not None
                ]
                capped = f" within {account}'s {' and '.join(limits)}" if limits else ""
                raise located_error(
                    doc,
                    keys,
                    f"no free slot for this post on {account}{capped} before ends_on "
                    f"{campaign.ends_on} (add slots, move ends_on, raise the caps, or give the "
                    "post an at:)",
                )
            placed.append((index, not primary, account, slot))
    placed.sort()
    for index, mirror, account, at in placed:
        item = campaign.posts[index]
        keys = ("posts", index)
        post_id = item.id or f"p{index + 1}"
        if not mirror:
            if post_id in seen_ids:
                raise located_error(doc, (*keys, "id"), f"post id {post_id!r} is used twice")
            seen_ids.add(post_id)
        key = mirrored_key(f"{campaign.id}/{post_id}", account, not mirror)
        posts.append(_campaign_spec(campaign, doc, config, index, account, at, key))
    posts.extend(_evergreen(campaign, doc, config, posts, books))
    return posts


def _campaign_spec(
    campaign: CampaignIn,
    doc: LocatedYaml,
    config: Config,
    index: int,
    account: str,
    at: datetime,
    key: str,
    text: str | None = None,
    seq: int | None = None,
) -> PostSpec:
    item = campaign.posts[index]
    keys: PathKey = ("posts", index, "text")
    platform = config.platform_of(account)
    handle = config.settings.accounts[account].handle
    card, fields = card_of(
        item.card,
        item.text,
        {"footer": " · ".join(x for x in (campaign.hashtag or "", handle) if x)},
    )
    raw = item.text_on(platform) if text is None else text
    if text is None and platform in item.text_for:
        keys = ("posts", index, "text_for", platform)
    return PostSpec(
        key=key,
        account=account,
        platform=platform,
        kind="campaign",
        text=with_hashtag(raw.strip(), campaign.hashtag),
        source_text=raw,
        scheduled_at=at,
        source=source_of(doc, keys),
        card=card,
        card_fields=fields,
        alt=item.alt,
        image=checked_image(doc, ("posts", index), item.image, platform, config),
        campaign=campaign.id,
        seq=index if seq is None else seq,
    )


def _evergreen(
    campaign: CampaignIn,
    doc: LocatedYaml,
    config: Config,
    posts: list[PostSpec],
    books: dict[str, SlotBook | None],
) -> list[PostSpec]:
    """Re-queue posts marked ``evergreen`` into later free slots of the same account, each
    repeat at least ``min_gap`` after the previous one, until ends_on or ``repeats``.

    Same account only: the same words from another account would break X's automation rules.
    A repeat uses the post's next ``variants`` wording when it has any, because X refuses a
    post identical to a recent one from the same account.
    """
    policy = campaign.evergreen
    if policy is None:
        return []
    repeats: list[PostSpec] = []
    last = {p.key: p.scheduled_at for p in posts}
    for round_no in range(2, policy.repeats + 2):
        for original in posts:
            item = campaign.posts[original.seq]
            if not item.evergreen:
                continue
            book = books.get(original.account)
            if book is None:
                continue
            slot = book.take(earliest=last[original.key] + policy.min_gap)
            if slot is None:
                continue
            last[original.key] = slot
            variants = item.variants
            text = variants[(round_no - 2) % len(variants)] if variants else None
            post_id, plus, _ = original.key.split("/", 1)[1].partition("+")
            key = mirrored_key(f"{campaign.id}/{post_id}~{round_no}", original.account, not plus)
            repeats.append(
                _campaign_spec(
                    campaign,
                    doc,
                    config,
                    original.seq,
                    original.account,
                    slot,
                    key,
                    text=text,
                    seq=len(campaign.posts) * (round_no - 1) + original.seq,
                )
            )
    return repeats


def _reference_names(post: PostSpec) -> set[str]:
    """Names a partner may use in ``skip:`` to opt out of one post."""
    name = post.key.split("/", 1)[1].split("+", 1)[0]  # a copy on another platform answers too
    names = {post.key, name, name.split("~", 1)[0]}  # an evergreen repeat answers to its post
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
        own = {str(name).lower(): (name, text) for name, text in entry.own_words.items()}
        unknown = sorted(set(own) - known)
        if unknown:
            raise located_error(
                doc,
                (*keys, "own_words", own[unknown[0]][0]),
                f"{', '.join(unknown)} names no post here; use names "
                "like intro, q3, outro or a campaign post id",
            )
        for post in _same_platform(originals, entry.account, config, doc, keys):
            names = _reference_names(post)
            if post.account == entry.account or names & skips:
                continue
            key = f"{post.key}@{entry.account}"
            offset = entry.after + jitter_for(key, entry.jitter)
            wording = next((own[n] for n in sorted(names) if n in own), None)
            text, kind = "", cast(PostKind, "repost")
            source = Source(doc.path, doc.line(keys) or 1, doc.column(keys) or 1)
            if wording is not None:
                # The partner's own words go out as its own post after the original; the
                # near-duplicate check compares them with every other account's posts.
                text_keys: PathKey = (*keys, "own_words", wording[0])
                text = with_hashtag(wording[1].strip(), owner.hashtag)
                kind, source = cast(PostKind, "partner"), source_of(doc, text_keys)
            reposts.append(
                PostSpec(
                    key=key,
                    account=entry.account,
                    platform=config.platform_of(entry.account),
                    kind=kind,
                    text=text,
                    source_text=wording[1] if wording else "",
                    scheduled_at=post.scheduled_at + offset,
                    source=source,
                    depends_on=post.key,
                    offset=offset,
                    chat=post.chat,
                    campaign=post.campaign,
                    number=post.number,
                    seq=post.seq,
                )
            )
    return spread(reposts)


def _same_platform(
    originals: list[PostSpec], partner: str, config: Config, doc: LocatedYaml, keys: PathKey
) -> list[PostSpec]:
    """The posts a partner can repost: those on its own platform (a Mastodon account cannot
    boost an X post). A dry-run account follows the primary copies."""
    platform = config.platform_of(partner)
    mine = [p for p in originals if family(p.platform) == family(platform)]
    if mine or not originals:
        return mine
    if platform == "dryrun":
        return [p for p in originals if "+" not in p.key.split("/", 1)[1]]
    where = sorted({p.platform for p in originals})
    raise located_error(
        doc,
        (*keys, "account"),
        f"{partner} is a {platform} account, but everything here goes out on "
        f"{', '.join(where)}; a partner reposts on its own platform, so add a {platform} "
        "account to the host (or the campaign's accounts) or amplify from the partner's "
        f"{'/'.join(where)} account",
    )


MIN_SPREAD = timedelta(minutes=1)


def spread(followers: list[PostSpec]) -> list[PostSpec]:
    """Move partners' reposts so no two accounts post the same item in the same minute, and
    none in the original's minute: each is at least a minute after the one before (in
    offset order, ties in the order the partners are listed). X reads several accounts acting
    on one post at the same instant as coordinated automation."""
    groups: dict[str | None, list[PostSpec]] = {}
    for post in followers:
        groups.setdefault(post.depends_on, []).append(post)
    out: list[PostSpec] = []
    for group in groups.values():
        floor = MIN_SPREAD
        for post in sorted(group, key=lambda p: p.offset or timedelta(0)):
            offset = max(post.offset or timedelta(0), floor)
            if offset != post.offset:
                moved = offset - (post.offset or timedelta(0))
                post = replace(post, offset=offset, scheduled_at=post.scheduled_at + moved)
            floor = offset + MIN_SPREAD
            out.append(post)
    order = {p.key: i for i, p in enumerate(followers)}
    return sorted(out, key=lambda p: order[p.key])


__all__ = ["ContentError", "amplify_posts", "campaign_posts", "chat_posts", "with_hashtag"]
