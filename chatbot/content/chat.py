"""A chat's timetable: intro at ``starts_at``, ``Q1: ...`` one interval later (or at ``at:`` /
``after:``), outro one interval after the last question; the chat hashtag is appended to any
post lacking it; one copy per host account (one host per platform)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from chatbot.config import Config
from chatbot.content.expand import (
    card_of,
    checked_image,
    media_keys,
    mirrored_key,
    parse_at,
    source_of,
    with_hashtag,
)
from chatbot.content.located import check_account, content_zone, located_error
from chatbot.content.model import ChatIn, Media, PostKind, PostSpec
from chatbot.platforms import family
from chatbot.yamlmarks import LocatedYaml, PathKey

_NUMBERED = re.compile(r"^\s*Q\d+\s*[:.)]", re.IGNORECASE)


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


def chat_posts(chat: ChatIn, doc: LocatedYaml, config: Config) -> list[PostSpec]:
    hosts = chat.hosts
    _check_hosts(doc, ("host",), hosts, config)
    tz = content_zone(doc, ("timezone",), chat.timezone, config.account_zone_name(hosts[0]))
    start = parse_at(doc, ("starts_at",), chat.starts_at, tz)
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
            new_at = parse_at(doc, (*keys, "at"), question.at, tz)
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
            brand = chat.brand or config.settings.accounts[host].brand
            card, fields = card_of(media.card, media.text, defaults, brand)
            text_keys = media_keys(keys, item)
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
