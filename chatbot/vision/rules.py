"""The rule kinds. Each is short: options, a default message, and a check."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import ClassVar
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, model_validator

from chatbot.content.model import PostSpec
from chatbot.platforms import family, platform_named
from chatbot.text import HASHTAG, MENTION, urls_in
from chatbot.vision.base import Context, Finding, Rule, RuleOptions, register


class RequireOptions(RuleOptions):
    text: str | None = None
    hashtag: str | None = Field(None, pattern=r"^#\w+$")
    pattern: str | None = None

    @model_validator(mode="after")
    def _one(self) -> RequireOptions:
        if sum(x is not None for x in (self.text, self.hashtag, self.pattern)) != 1:
            raise ValueError("a require rule needs exactly one of text, hashtag or pattern")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
        return self


@register
class Require(Rule):
    """The post must contain a text, a hashtag or a match of a pattern."""

    kind = "require"
    Options = RequireOptions
    default_message = "must include {required}"

    def check_post(self, post: PostSpec, context: Context) -> Iterator[Finding]:
        opts = self.options
        assert isinstance(opts, RequireOptions)
        if opts.hashtag is not None:
            found = re.search(rf"(?<!\w){re.escape(opts.hashtag)}(?!\w)", post.text, re.I)
            required = opts.hashtag
        elif opts.text is not None:
            found = re.search(re.escape(opts.text), post.text, re.I)
            required = repr(opts.text)
        else:
            found = re.search(opts.pattern or "", post.text)
            required = f"a match of /{opts.pattern}/"
        if not found:
            yield self.finding(post, required=required)


class SubstituteOptions(RuleOptions):
    swap: dict[str, str | None] = Field(min_length=1)
    ignorecase: bool = True


@register
class Substitute(Rule):
    """Forbidden terms, each with a suggested replacement (or none: simply not to be used)."""

    kind = "substitute"
    Options = SubstituteOptions
    default_message = "use '{suggestion}' instead of '{match}'"

    def __init__(self, options: RuleOptions):
        super().__init__(options)
        assert isinstance(options, SubstituteOptions)
        flags = re.IGNORECASE if options.ignorecase else 0
        # One pattern per term, but a post is scanned once: a quick pass with all the terms
        # at once finds whether any is there (most posts have none).
        self._patterns = [
            (re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])", flags), suggestion)
            for term, suggestion in options.swap.items()
        ]
        terms = "|".join(re.escape(t) for t in sorted(options.swap, key=len, reverse=True))
        self._any = re.compile(rf"(?<![\w-])(?:{terms})(?![\w-])", flags)

    def check_post(self, post: PostSpec, context: Context) -> Iterator[Finding]:
        if not self._any.search(post.text):
            return
        for pattern, suggestion in self._patterns:
            for match in pattern.finditer(post.text):
                if suggestion is None:
                    message_values = {"match": match.group(0), "suggestion": "another word"}
                else:
                    message_values = {"match": match.group(0), "suggestion": suggestion}
                yield self.finding(post, offset=match.start(), **message_values)


TRACKING_DEFAULTS = [
    "utm_*", "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "mc_cid", "mc_eid",
    "igshid", "igsh", "yclid", "_hsenc", "_hsmi", "mkt_tok", "twclid", "ttclid", "si", "ref_src",
    "s_cid", "oly_enc_id", "oly_anon_id", "vero_id", "rb_clickid",
]  # fmt: skip


class TrackingOptions(RuleOptions):
    params: list[str] = Field(default_factory=lambda: list(TRACKING_DEFAULTS))


@register
class TrackingParams(Rule):
    """Links must not carry tracking parameters: the organisation does not track its readers."""

    kind = "tracking_params"
    Options = TrackingOptions
    default_message = "remove the tracking parameter '{param}' from the link"

    def check_post(self, post: PostSpec, context: Context) -> Iterator[Finding]:
        opts = self.options
        assert isinstance(opts, TrackingOptions)
        for url in urls_in(post.text):
            query = urlsplit(url if "://" in url else "http://" + url).query
            for name, _ in parse_qsl(query, keep_blank_values=True):
                if any(_param_matches(name, p) for p in opts.params):
                    yield self.finding(post, offset=post.text.find(url), param=name, url=url)


def _param_matches(name: str, pattern: str) -> bool:
    name = name.lower()
    pattern = pattern.lower()
    return name.startswith(pattern[:-1]) if pattern.endswith("*") else name == pattern


SHORTENER_DEFAULTS = [
    "bit.ly", "bitly.com", "tinyurl.com", "ow.ly", "buff.ly", "goo.gl", "is.gd", "t.ly", "rb.gy",
    "cutt.ly", "shorturl.at", "tiny.cc", "rebrand.ly", "lnkd.in", "dlvr.it", "trib.al", "t.co",
]  # fmt: skip


class ShortenerOptions(RuleOptions):
    domains: list[str] = Field(default_factory=lambda: list(SHORTENER_DEFAULTS))


@register
class Shortener(Rule):
    """Link shorteners hide where a link goes and log every click."""

    kind = "shortener"
    Options = ShortenerOptions
    default_message = (
        "link shortener {domain} hides the destination and tracks clicks; use the full link"
    )

    def check_post(self, post: PostSpec, context: Context) -> Iterator[Finding]:
        opts = self.options
        assert isinstance(opts, ShortenerOptions)
        domains = {d.lower() for d in opts.domains}
        for url in urls_in(post.text):
            host = (urlsplit(url if "://" in url else "http://" + url).hostname or "").lower()
            host = host.removeprefix("www.")
            if host in domains:
                yield self.finding(post, offset=post.text.find(url), domain=host, url=url)


class HashtagCaseOptions(RuleOptions):
    min_length: int = Field(8, ge=2)
    allow: list[str] = Field(default_factory=list)


@register
class HashtagCase(Rule):
    """Multi-word hashtags in CamelCase, so screen readers read the words (#FaceSurveillance)."""

    kind = "hashtag_case"
    Options = HashtagCaseOptions
    default_message = "write #{tag} in CamelCase (e.g. #{example}) so screen readers say the words"

    def check_post(self, post: PostSpec, context: Context) -> Iterator[Finding]:
        opts = self.options
        assert isinstance(opts, HashtagCaseOptions)
        allowed = {a.lower().lstrip("#") for a in opts.allow}
        for match in HASHTAG.finditer(post.text):
            tag = match.group(1)
            letters = [c for c in tag if c.isalpha()]
            if len(tag) < opts.min_length or tag.lower() in allowed or not letters:
                continue
            if all(c.islower() for c in letters) or all(c.isupper() for c in letters):
                example = tag[:1].upper() + tag[1:].lower()
                yield self.finding(post, offset=match.start(), tag=tag, example=example)


class MaxCountOptions(RuleOptions):
    max: int = Field(ge=0)


class _MaxCount(Rule):
    """Too many of something the ``pattern`` finds (hashtags, mentions)."""

    Options = MaxCountOptions
    pattern: ClassVar[re.Pattern[str]]

    def check_post(self, post: PostSpec, context: Context) -> Iterator[Finding]:
        assert isinstance(self.options, MaxCountOptions)
        found = list(self.pattern.finditer(post.text))
        if len(found) > self.options.max:
            extra = found[self.options.max]
            yield self.finding(post, offset=extra.start(), count=len(found), max=self.options.max)


@register
class MaxHashtags(_MaxCount):
    kind = "max_hashtags"
    pattern = HASHTAG  # type: ignore[assignment]
    default_message = "{count} hashtags; keep it to {max} or fewer"


@register
class MaxMentions(_MaxCount):
    kind = "max_mentions"
    pattern = MENTION  # type: ignore[assignment]
    default_message = "{count} mentions; keep it to {max} or fewer"


@register
class Length(Rule):
    """Over-length for the post's platform, counted the platform's way."""

    kind = "length"
    default_message = "{length} characters as {platform_name} counts them; the limit is {limit}"

    def check_post(self, post: PostSpec, context: Context) -> Iterator[Finding]:
        platform = platform_named(post.platform)
        limit, _ = platform.limits(context.platforms)
        length = platform.length(post.text, context.platforms)
        if length > limit:
            yield self.finding(
                post,
                platform=post.platform,
                length=length,
                limit=limit,
                platform_name=post.platform,
            )
        refused = platform.refused_characters(post.text)
        if refused:
            names = ", ".join(f"U+{ord(char):04X}" for char in refused)
            yield Finding(
                post,
                self.id,
                self.options.level,
                f"{post.platform} refuses a post containing {names} (invisible); delete "
                "it from the text",
                post.text.index(refused[0]),
                post.platform,
            )


@register
class AltText(Rule):
    """A card or image needs alt text: present, not blank, within the platform's limit."""

    kind = "alt_text"
    default_message = "{problem}"

    def check_post(self, post: PostSpec, context: Context) -> Iterator[Finding]:
        if not (post.card or post.image):
            if post.alt:
                yield self.finding(post, problem="alt text given but no card or image to attach")
            return
        _, limit = platform_named(post.platform).limits(context.platforms)
        what = f"card '{post.card}'" if post.card else f"image '{post.image}'"
        if post.alt is None or not post.alt.strip():
            yield self.finding(
                post, problem=f"{what} has no alt text; add alt: describing what the image shows"
            )
        elif len(post.alt) > limit:
            yield self.finding(
                post,
                platform=post.platform,
                problem=f"alt text is {len(post.alt)} characters; {post.platform} allows {limit}",
            )


class NearDuplicateOptions(RuleOptions):
    threshold: float = Field(0.8, gt=0, le=1)


@register
class NearDuplicate(Rule):
    """X's automation rules: no identical or substantially similar posts from several accounts
    on one platform."""

    kind = "near_duplicate"
    Options = NearDuplicateOptions
    default_message = (
        "{similarity:.0%} similar to {other} on account {other_account} (threshold "
        "{threshold:.0%}); X forbids near-identical posts across accounts: repost it instead"
    )

    def check_all(self, posts: Iterable[PostSpec], context: Context) -> Iterator[Finding]:
        """Per platform: the same words on X and on Mastodon is one message in two places; on
        one platform from two accounts it is coordinated duplication. Each post is reported at
        most once, naming one earlier post it repeats (see ``vision/duplicates.py``)."""
        from chatbot.vision.duplicates import find_near_duplicates

        assert isinstance(self.options, NearDuplicateOptions)
        threshold = self.options.threshold
        by_family: dict[str, list[PostSpec]] = {}
        for post in posts:
            if self.applies_to(post) and post.text:
                by_family.setdefault(family(post.platform), []).append(post)
        for group in by_family.values():
            texts = [p.text for p in group]
            for match in find_near_duplicates(texts, [p.account for p in group], threshold):
                post, other = group[match.index], group[match.other]
                yield self.finding(
                    post,
                    similarity=match.score,
                    threshold=threshold,
                    other=other.key,
                    other_account=other.account,
                )


class CardContrastOptions(RuleOptions):
    min_normal: float = Field(4.5, gt=1, description="WCAG AA for normal text.")
    min_large: float = Field(3.0, gt=1, description="WCAG AA for large text.")
    display_width: int = Field(
        400,
        ge=100,
        description="CSS pixels a card is shown at on a phone: text size is judged "
        "as displayed, since a 1600 px card is scaled down to a phone's width.",
    )


@register
class CardContrast(Rule):
    """Every text on a card fits its box and contrasts with the background actually under it."""

    kind = "card_contrast"
    Options = CardContrastOptions
    default_message = "{problem}"

    def check_post(self, post: PostSpec, context: Context) -> Iterator[Finding]:
        if not post.card:
            return
        from chatbot.cards.layout import CardFitError, MissingGlyphs
        from chatbot.errors import ContentError

        opts = self.options
        assert isinstance(opts, CardContrastOptions)
        renderer = context.extra.get("renderer")
        if renderer is None:
            problem = context.extra.get("renderer_error", "no graphics folder with a brand kit")
            message = f"card '{post.card}' cannot be rendered: {problem}"
            yield Finding(post, "card.template", "error", message)
            return
        try:
            checks = renderer.checks(post.card, post.fields, post.platform, opts.display_width)
        except MissingGlyphs as exc:
            yield Finding(post, "card.glyph", "error", f"card '{post.card}': {exc}")
            return
        except CardFitError as exc:
            yield Finding(post, "card.fit", "error", f"card '{post.card}': {exc}")
            return
        except ContentError as exc:
            yield Finding(post, "card.template", "error", f"card '{post.card}': {exc}")
            return
        for check in checks:
            needed = opts.min_large if check.large else opts.min_normal
            if check.ratio < needed:
                size = "large" if check.large else "normal"
                yield self.finding(
                    post,
                    problem=f"card '{post.card}', box {check.box}: contrast {check.ratio:.2f}:1 "
                    f"is below {needed}:1 for {size} text (WCAG AA); change the colours",
                )


@register
class PastTime(Rule):
    """Posts whose time has already passed when the content is checked: they will not be
    posted (unless they were sent already). One finding per chat or campaign, at its first
    past post, with how many."""

    kind = "past_time"
    default_message = "{problem}"
    judges_time = True

    def check_all(self, posts: Iterable[PostSpec], context: Context) -> Iterator[Finding]:
        if context.now is None:
            return
        groups: dict[str, list[PostSpec]] = {}
        for post in posts:
            if self.applies_to(post):
                groups.setdefault(post.group, []).append(post)
        for group, members in groups.items():
            past = sorted(
                (p for p in members if p.scheduled_at < context.now),
                key=lambda p: (p.scheduled_at, p.seq),
            )
            if not past:
                continue
            first = past[0]
            when = f"{first.scheduled_at:%Y-%m-%d %H:%M}Z"
            if len(past) == len(members):
                problem = (
                    f"{group} is entirely in the past (it began {when}); none of it will be "
                    "posted: move it to a future date"
                )
            else:
                problem = (
                    f"{len(past)} of {len(members)} posts of {group} are already past (the "
                    f"first, {first.key}, was due {when}); unless already sent, they will not "
                    "be posted"
                )
            yield self.finding(first, problem=problem)


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w#@]+", " ", text.casefold()).split())


@register
class AltRepeatsCard(Rule):
    """Alt text that only repeats the card's main text, when the card shows more than that."""

    kind = "alt_repeats_card"
    default_message = (
        "alt text only repeats the card's text; also describe {others} (and what the card looks "
        "like) so screen-reader users get what sighted readers get"
    )

    def check_post(self, post: PostSpec, context: Context) -> Iterator[Finding]:
        fields = post.fields
        others = [k for k in fields if k != "text" and k != "footer"]
        if not post.card or not post.alt or not others:
            return
        if _words(post.alt) == _words(fields.get("text", "")):
            yield self.finding(post, others=", ".join(f"the {k}" for k in others))
