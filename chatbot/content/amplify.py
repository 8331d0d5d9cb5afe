"""Amplification: a repost (or the partner's own words) per partner and post, on the partner's
own platform, due ``after`` its original is confirmed; partners acting on one post are spread a
minute apart."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from typing import cast

from chatbot.config import Config
from chatbot.content.expand import source_of, with_hashtag
from chatbot.content.located import check_account, located_error
from chatbot.content.model import CampaignIn, ChatIn, PostKind, PostSpec, Source
from chatbot.platforms import family, platform_named
from chatbot.yamlmarks import LocatedYaml, PathKey


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
    if platform_named(platform).stands_in:
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
