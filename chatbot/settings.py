"""Every setting, declared once: its type, its default and its help text.

The pydantic models below *are* the settings table. ``chatbot.config`` loads a YAML file into
them; ``settings_table()`` walks them for the README check and ``chatbot config --help-settings``.
Platform facts (prices, limits) live here as defaults so an operator can change them when X does.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from chatbot.timeutil import TimeFormatError, parse_duration, zone


def _as_duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(value)
    except TimeFormatError as exc:
        raise ValueError(str(exc)) from None


# A duration is written like 45s, 10m, 1h30m or 250ms and parsed once, when the settings are
# loaded: the code reads a timedelta. The table (README, ``chatbot settings``) shows the default
# as written.
Duration = Annotated[timedelta, BeforeValidator(_as_duration)]


def duration(default: str, description: str) -> Any:
    """A duration setting's field. Typed Any so its written default ("2m") may stand for the
    timedelta it is validated into (``validate_default``)."""
    return Field(default, description=description)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class XPlatform(_Strict):
    api_base_url: str = Field(
        "https://api.x.com",
        description="Base URL of the X API; http://127.0.0.1:PORT for a local X-compatible server.",
    )
    max_length: int = Field(280, description="Maximum weighted length of a post (twitter-text v3).")
    alt_text_max: int = Field(1000, description="Maximum characters of an image's alt text.")
    price_post: float = Field(0.015, description="USD charged per post without a link.")
    price_post_with_link: float = Field(0.20, description="USD charged per post containing a URL.")
    price_repost: float = Field(0.015, description="USD charged per repost.")
    price_media: float = Field(0.005, description="USD charged per media metadata (alt text) call.")
    price_read: float = Field(
        0.005, description="USD charged per third-party post read (a chat's answers, if enabled)."
    )
    request_timeout: float = Field(15.0, description="Seconds before any X API request gives up.")
    oauth_authorize_url: str = Field(
        "https://x.com/i/oauth2/authorize",
        description="Where a partner signs in to X to connect its account (OAuth 2.0 + PKCE).",
    )
    oauth_token_url: str = Field(
        "https://api.x.com/2/oauth2/token", description="X's OAuth 2.0 token endpoint."
    )
    oauth_revoke_url: str = Field(
        "https://api.x.com/2/oauth2/revoke", description="X's OAuth 2.0 revocation endpoint."
    )


class MastodonPlatform(_Strict):
    max_length: int = Field(
        500,
        description="Status limit checked offline (chatbot check); the worker reads each "
        "instance's own limit and refuses a longer post before sending it.",
    )
    url_weight: int = Field(
        23, description="Characters a link counts for, offline; the instance's own value wins."
    )
    alt_text_max: int = Field(1500, description="Maximum characters of an image's alt text.")
    request_timeout: float = Field(15.0, description="Seconds before any request gives up.")
    instance_cache: Duration = duration(
        "6h", description="How long the worker keeps an instance's limits before reading again."
    )


class BlueskyPlatform(_Strict):
    api_base_url: str = Field(
        "https://bsky.social",
        description="PDS base URL used when an account has no instance_url of its own.",
    )
    max_length: int = Field(300, description="Maximum graphemes of a post.")
    alt_text_max: int = Field(2000, description="Maximum characters of an image's alt text.")
    max_image_bytes: int = Field(
        2_000_000,
        description="Largest image the PDS accepts; bigger cards are re-encoded to fit.",
    )
    request_timeout: float = Field(15.0, description="Seconds before any request gives up.")


class DryrunPlatform(_Strict):
    max_length: int = Field(280, description="Length limit checked for dry-run accounts (as X).")
    alt_text_max: int = Field(1000, description="Alt-text limit checked for dry-run accounts.")


class Platforms(_Strict):
    x: XPlatform = Field(default_factory=XPlatform, description="X (Twitter) API v2 settings.")
    mastodon: MastodonPlatform = Field(
        default_factory=MastodonPlatform, description="Mastodon settings."
    )
    bluesky: BlueskyPlatform = Field(
        default_factory=BlueskyPlatform, description="Bluesky settings."
    )
    dryrun: DryrunPlatform = Field(
        default_factory=DryrunPlatform, description="The dry-run publisher: records, never posts."
    )


class Account(_Strict):
    platform: str = Field(description="x | mastodon | bluesky | dryrun.")
    handle: str = Field(
        "", description='Public handle, e.g. "@libraryfreedom" (shown in previews).'
    )
    env_prefix: str = Field(
        "", description="Credentials come from {PREFIX}_API_KEY etc. in the environment."
    )
    credentials: Literal["env", "invite"] = Field(
        "env",
        description="env: from the environment ({PREFIX}_...). invite: the partner connects "
        "its own account through an invite link; until then the account is paused.",
    )
    timezone: str | None = Field(None, description="Overrides the default zone for this account.")
    monthly_budget_usd: float | None = Field(
        None, description="Hold posts that would take this month's API spend past this amount."
    )
    daily_cap: int | None = Field(None, description="At most this many campaign posts a day.")
    weekly_cap: int | None = Field(
        None, description="At most this many campaign posts a week (Monday to Sunday)."
    )
    instance_url: str | None = Field(
        None,
        description="Mastodon: the instance URL (required). Bluesky: the PDS URL, if not "
        "platforms.bluesky.api_base_url.",
    )
    visibility: Literal["public", "unlisted", "private"] = Field(
        "public", description="Mastodon: visibility of this account's statuses and boosts."
    )
    brand: str | None = Field(
        None,
        description="Brand kit of this account's cards: graphics/brands/NAME.yaml (default "
        "graphics/brand.yaml). A chat's own brand wins.",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zone(value)
            except TimeFormatError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("brand")
    @classmethod
    def _brand(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", value):
            raise ValueError(
                f"{value!r} is not a brand kit's name: the name of a file in graphics/brands/ "
                "(lower-case letters, digits, - or _), never a path"
            )
        return value

    @field_validator("env_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and not value.replace("_", "").isalnum():
            raise ValueError(f"{value!r} is not a valid environment prefix; use letters and _")
        return value.upper()


class Lateness(_Strict):
    chat: Duration = duration(
        "2m", description="A chat post later than this after its time is skipped."
    )
    campaign: Duration = duration("1h", description="A campaign post later than this is skipped.")
    repost: Duration = duration(
        "30m", description="A repost later than this after its due time is skipped."
    )


class Live(_Strict):
    resume: Literal["shift", "keep"] = Field(
        "shift",
        description="What resuming a paused chat does: shift the rest later by the pause, or "
        "keep the original times and skip what fell due.",
    )


class Web(_Strict):
    secure_cookies: bool | None = Field(
        None,
        description="Send the session cookie only over HTTPS; unset, it is on when "
        "web.public_url starts with https://.",
    )
    session_lifetime: Duration = duration(
        "14d", description="A sign-in lasts this long at most (signing out ends it at once)."
    )
    sign_in_attempts: int = Field(
        5,
        ge=1,
        description="Failed sign-ins in a row (per user name, and per client address) before "
        "further attempts are refused for a while.",
    )
    sign_in_lockout: Duration = duration(
        "30s",
        description="The first wait after too many failed sign-ins; it doubles with each "
        "further failure, up to an hour.",
    )
    proxy_hops: int = Field(
        0,
        ge=0,
        le=5,
        description="Reverse proxies in front of the app whose X-Forwarded-For to trust for "
        "the client's address (0: none, use the connection's address).",
    )
    page_size: int = Field(
        300, ge=10, le=5000, description="Posts listed per timeline page before 'later posts'."
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="The web app's address as partners reach it: invite links and OAuth "
        "redirects (register {public_url}/connect/x/callback with X) are built from it.",
    )

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.public_url.lower().startswith("https://")


class Connect(_Strict):
    invite_ttl: Duration = duration(
        "72h", description="How long a partner's invite link stays valid."
    )
    refresh_margin: Duration = duration(
        "10m", description="Refresh an OAuth access token this long before it expires."
    )


class Worker(_Strict):
    lease: Duration = duration(
        "2m", description="A claimed post whose worker vanished is reconciled after this long."
    )
    refresh: Duration = duration(
        "2s", description="How often a running worker looks for newly applied or changed content."
    )
    control_poll: Duration = duration(
        "250ms",
        description="How often a running worker looks for a host's live chat controls.",
    )
    control_socket: bool = Field(
        True,
        description="Run `chatbot chat` controls and `chatbot status` given on this machine "
        "inside the running worker (a Unix socket private to its user): they answer in tens "
        "of milliseconds instead of loading the database layer first.",
    )
    concurrency: int = Field(8, ge=1, le=64, description="Posts sent at the same time.")
    reconcile_delay: Duration = duration(
        "15s", description="Wait before reading the timeline to settle a post of unknown outcome."
    )
    reconcile_attempts: int = Field(
        3, ge=1, description="Timeline reads before an unsettled post is held for a person."
    )
    retry_delay: Duration = duration(
        "1m", description="Wait after an error that sent nothing (e.g. connection refused)."
    )
    max_attempts: int = Field(
        5, ge=1, description="Attempts after errors that sent nothing before a post fails."
    )
    dryrun_log: str = Field(
        "var/dryrun.jsonl", description="Where the dry-run publisher records what it would post."
    )
    stop_timeout: Duration = duration(
        "10s",
        description="After SIGTERM or SIGINT, how long sends under way may take to finish; "
        "claims not yet sent are given back, and a send cut off is recorded as unknown.",
    )


class Answers(_Strict):
    poll_interval: Duration = duration(
        "1s", description="How often the worker reads Bluesky's search for a chat's answers."
    )
    mastodon_poll_interval: Duration = duration(
        "1500ms",
        description="How often Mastodon's hashtag timeline is read when the instance has no "
        "stream (its default limit is 300 requests per 5 minutes per account, posts included).",
    )
    replies_every: Duration = duration(
        "15s",
        description="How often the last two questions' threads are read for replies without "
        "the hashtag (Mastodon and Bluesky; X's search finds them itself).",
    )
    x_poll_interval: Duration = duration(
        "3s",
        description="How often X is read for a chat's answers, when the chat enables it "
        "(recent search allows 450 requests per 15 minutes).",
    )
    streaming: bool = Field(
        True, description="Follow Mastodon's hashtag stream where the instance offers one."
    )
    after: Duration = duration(
        "1h", description="How long after a chat's outro its answers are still followed."
    )
    keep: Duration = duration(
        "24h",
        description="Participants' posts are deleted this long after the follow window closes; "
        "only the counts per question remain.",
    )
    x_max_reads: int = Field(
        300,
        ge=1,
        description="Default cap on X posts read for one chat (each costs platforms.x.price_read).",
    )


class Review(_Strict):
    require_second_person: bool = Field(
        False, description="Refuse an approval by the same person who last edited the content."
    )
    warn_before: Duration = duration(
        "24h",
        description="A post not yet approved this long before it is due needs attention "
        "(status, the web app); a chat post still not approved after its lateness window is "
        "skipped.",
    )


class Notify(_Strict):
    urls: list[str] = Field(
        default_factory=list,
        description="Apprise URLs (webhook, email, Matrix, ...) told of failures needing a person.",
    )


class Settings(_Strict):
    timezone: str = Field("UTC", description="Default IANA time zone for content times.")
    database_url: str = Field(
        "sqlite:///var/chatbot.db",
        description="SQLAlchemy URL; DATABASE_URL in the environment wins. Relative SQLite paths "
        "are relative to the config file.",
    )
    database_lock_wait: Duration = duration(
        "15s",
        description="SQLite: how long a write waits for another process's write (retried three "
        "times) before the command gives up with a one-line error.",
    )
    content_dir: str = Field("content", description="Folder of chats/, campaigns/, vision.yaml.")
    graphics_dir: str = Field("graphics", description="Folder of card templates and fonts.")
    cards_dir: str = Field("var/cards", description="Where rendered cards are written.")
    cache_dir: str = Field(
        "var/cache",
        description="Where check, plan, apply and approve keep the content they read and "
        "reviewed, so that the next of them on the same files reads none of them again.",
    )
    publisher: Literal["live", "dryrun"] = Field(
        "dryrun",
        description="dryrun records what would be posted for every account; live posts for real.",
    )
    accounts: dict[str, Account] = Field(
        default_factory=dict, description="Every account that posts or reposts, by key."
    )
    platforms: Platforms = Field(default_factory=Platforms, description="Per-platform settings.")
    lateness: Lateness = Field(
        default_factory=Lateness, description="How late a post may still go out after downtime."
    )
    worker: Worker = Field(default_factory=Worker, description="The posting worker (chatbot run).")
    live: Live = Field(default_factory=Live, description="Live chat controls (chatbot chat).")
    web: Web = Field(default_factory=Web, description="The organizer web app (chatbot web).")
    connect: Connect = Field(
        default_factory=Connect, description="Partners connecting their own accounts."
    )
    review: Review = Field(default_factory=Review, description="Human review rules.")
    answers: Answers = Field(
        default_factory=Answers, description="Following a chat's answers (chatbot chat follow)."
    )
    notify: Notify = Field(
        default_factory=Notify, description="Who is told when a person must act."
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zone(value)
        except TimeFormatError as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def dry_run(self) -> bool:
        """``publisher: dryrun``: every account records what it would post, none posts."""
        return self.publisher != "live"


def settings_table(model: type[BaseModel] = Settings, prefix: str = "") -> list[dict[str, Any]]:
    """Flatten the models into rows of key, default and help (``accounts.*`` for per-account)."""
    rows: list[dict[str, Any]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        nested = annotation if isinstance(annotation, type) else None
        if nested is not None and issubclass(nested, BaseModel):
            rows.append({"key": key, "default": None, "help": field.description or ""})
            rows.extend(settings_table(nested, key + "."))
            continue
        if name == "accounts":
            rows.append({"key": key, "default": {}, "help": field.description or ""})
            rows.extend(settings_table(Account, key + ".NAME."))
            continue
        default = (
            "(required)" if field.is_required() else field.get_default(call_default_factory=True)
        )
        rows.append({"key": key, "default": default, "help": field.description or ""})
    return rows
