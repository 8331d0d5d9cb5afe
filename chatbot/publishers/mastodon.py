"""The Mastodon publisher, through Mastodon.py (the only module that imports it).

Mastodon has what X lacks: an ``Idempotency-Key`` header. Every attempt at a post sends a key
derived from the post as it is (``OutgoingPost.idempotency_key``), so a retry after a timeout
returns the status the first attempt created instead of a second one (servers keep keys about an
hour; reconciliation covers longer gaps). The instance's own status limit and link weight are read
from ``/api/v2/instance`` once and cached, and a post that exceeds them is refused before it is
sent. ``ratelimit_method="throw"``: a 429 becomes ``RateLimited`` with the reset time the
instance announced, and the engine decides what waits (Mastodon.py would otherwise sleep).
"""

from __future__ import annotations

import html
import mimetypes
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, TypeVar

import mastodon as mastodon_py

from chatbot.counting import mastodon_length
from chatbot.publishers.base import (
    BadRequest,
    FoundPost,
    Media,
    OutcomeUnknown,
    OutgoingPost,
    Published,
    Publisher,
    PublishError,
    RateLimited,
    RemotePost,
    Stream,
    TransientError,
    Unauthorized,
)

T = TypeVar("T")
PAGES = 5  # pages of answers read at most per poll (40 each)
# Mastodon.py picks endpoints by server version; every instance this project supports
# (4.x) has the v2 media and instance endpoints, so the version is given, never requested.
ASSUMED_VERSION = "4.2.0"


@dataclass(frozen=True)
class InstanceLimits:
    max_characters: int
    url_weight: int
    read_at: float


# One read per instance per process, shared by every account on it.
_LIMITS: dict[str, InstanceLimits] = {}
_LIMITS_LOCK = threading.Lock()


def clear_instance_cache() -> None:
    with _LIMITS_LOCK:
        _LIMITS.clear()


class _TextOf(HTMLParser):
    """Status HTML back to the text that was posted: paragraphs and <br> become newlines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def status_text(content: str) -> str:
    parser = _TextOf()
    parser.feed(content)
    return html.unescape("".join(parser.parts)).strip()


def _link(status: Any) -> str:
    """A status's web page, or its ActivityPub id where the instance gives no page."""
    return str(status.get("url") or status.get("uri", ""))


def _detail(exc: Exception) -> str:
    args = [str(a) for a in getattr(exc, "args", ()) if a not in (None, "")]
    # MastodonAPIError args: (message, status, reason, error text); the last is the useful one.
    return args[-1] if args else type(exc).__name__


_REFUSED = re.compile(r"ConnectionRefused|NewConnectionError|Name or service not known")


@dataclass
class MastodonPublisher(Publisher):
    access_token: str = field(default="", repr=False)
    instance_url: str = ""
    visibility: str = "public"
    timeout: float = 15.0
    fallback_max_length: int = 500
    fallback_url_weight: int = 23
    cache_seconds: float = 6 * 3600
    now: Callable[[], float] = time.time
    _client: Any = field(default=None, repr=False)
    _account_id: str | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = mastodon_py.Mastodon(
                access_token=self.access_token,
                api_base_url=self.instance_url.rstrip("/"),
                request_timeout=self.timeout,
                ratelimit_method="throw",
                version_check_mode="created",
                mastodon_version=ASSUMED_VERSION,
            )
        return self._client

    # -- translation -------------------------------------------------------------------------

    def _call(self, action: Callable[[], T], creates: bool) -> T:
        """Run a request, translating Mastodon.py's errors into the project's."""
        where = self.instance_url
        try:
            return action()
        except mastodon_py.MastodonRatelimitError:
            reset = getattr(self.client, "ratelimit_reset", None)
            at = datetime.fromtimestamp(reset, UTC) if reset else None
            raise RateLimited(f"rate limited by {where}", at) from None
        except mastodon_py.MastodonUnauthorizedError as exc:
            raise Unauthorized(f"{where} rejected the access token: {_detail(exc)}") from None
        except mastodon_py.MastodonNotFoundError as exc:
            raise BadRequest(f"{where}: not found: {_detail(exc)}") from None
        except mastodon_py.MastodonServerError as exc:
            status = exc.args[1] if len(exc.args) > 1 else "5xx"
            if creates:
                raise OutcomeUnknown(f"{where} server error {status}") from None
            raise TransientError(f"{where} server error {status}") from None
        except mastodon_py.MastodonAPIError as exc:
            status = exc.args[1] if len(exc.args) > 1 else None
            if status == 403:
                raise Unauthorized(f"{where} refused the account: {_detail(exc)}") from None
            raise BadRequest(f"{where} refused it: {_detail(exc)}") from None
        except mastodon_py.MastodonNetworkError as exc:
            text = str(exc)
            if not creates or _REFUSED.search(text):
                raise TransientError(f"cannot reach {where}") from None
            if "timed out" in text.lower() or "timeout" in text.lower():
                raise OutcomeUnknown(f"{where} did not answer within {self.timeout:g}s") from None
            raise OutcomeUnknown(f"connection to {where} lost") from None
        except mastodon_py.MastodonError as exc:
            raise BadRequest(f"{where}: {_detail(exc)}") from None

    # -- instance ----------------------------------------------------------------------------

    def limits(self) -> InstanceLimits:
        """The instance's status limit and link weight, read once per ``cache_seconds``."""
        key = self.instance_url.rstrip("/")
        with _LIMITS_LOCK:
            cached = _LIMITS.get(key)
        if cached is not None and self.now() - cached.read_at < self.cache_seconds:
            return cached
        try:
            info = self._call(self.client.instance_v2, creates=False)
            statuses = info["configuration"]["statuses"]
            limits = InstanceLimits(
                int(statuses.get("max_characters") or self.fallback_max_length),
                int(statuses.get("characters_reserved_per_url") or self.fallback_url_weight),
                self.now(),
            )
        except (TransientError, BadRequest, KeyError, TypeError):
            if cached is not None:
                return cached
            # Not cached: the configured defaults, for this call only (read again next time).
            return InstanceLimits(self.fallback_max_length, self.fallback_url_weight, 0.0)
        with _LIMITS_LOCK:
            _LIMITS[key] = limits
        return limits

    # -- Publisher ---------------------------------------------------------------------------

    def account_id(self) -> str:
        if self._account_id is None:
            me = self._call(self.client.account_verify_credentials, creates=False)
            self._account_id = str(me["id"])
        return self._account_id

    def check_credentials(self) -> None:
        self.account_id()
        self.limits()

    def publish(self, post: OutgoingPost) -> Published:
        key = post.idempotency_key(self.account)
        if post.like_of is not None:  # favouriting twice is harmless: no key needed
            status = self._call(lambda: self.client.status_favourite(post.like_of), creates=False)
            return Published(str(post.like_of), _link(status))
        if post.repost_of is not None:
            status = self._call(
                lambda: self.client.status_reblog(post.repost_of, visibility=self.visibility),
                creates=True,
            )
            return Published(str(post.repost_of), _link(status))
        limits = self.limits()
        length = mastodon_length(post.text, limits.url_weight)
        if length > limits.max_characters:
            raise BadRequest(
                f"{length} characters as {self.instance_url} counts them; it allows "
                f"{limits.max_characters}: shorten it or give it a mastodon: wording"
            )
        media_ids = []
        for media in post.media:

            def upload(media: Media = media) -> Any:
                mime = mimetypes.guess_type(media.path.name)[0] or "image/png"
                with media.path.open("rb") as image:
                    return self.client.media_post(image, mime, description=media.alt)

            media_ids.append(self._call(upload, creates=False)["id"])
        status = self._call(
            lambda: self.client.status_post(
                post.text,
                in_reply_to_id=post.reply_to,
                media_ids=media_ids or None,
                visibility=self.visibility,
                idempotency_key=key,
            ),
            creates=True,
        )
        return Published(str(status["id"]), _link(status))

    def recent_posts(self, since: datetime) -> list[RemotePost]:
        account = self.account_id()
        statuses = self._call(
            lambda: self.client.account_statuses(account, limit=40), creates=False
        )
        posts = []
        for status in statuses or []:
            created = status.get("created_at")
            if isinstance(created, datetime) and created.tzinfo is None:
                created = created.replace(tzinfo=UTC)
            if isinstance(created, datetime) and created < since:
                continue
            boosted = status.get("reblog")
            posts.append(
                RemotePost(
                    str(status["id"]),
                    "" if boosted else status_text(str(status.get("content") or "")),
                    created if isinstance(created, datetime) else None,
                    _link(status),
                    str(boosted["id"]) if boosted else None,
                )
            )
        return posts

    # -- following a chat's answers ---------------------------------------------------------

    def _found(self, status: Any) -> FoundPost:
        created = status.get("created_at")
        if isinstance(created, datetime):
            created = (created if created.tzinfo else created.replace(tzinfo=UTC)).astimezone(UTC)
        account = status.get("account") or {}
        reply_to = status.get("in_reply_to_id")
        return FoundPost(
            str(status["id"]),
            f"@{account.get('acct', '')}",
            status_text(str(status.get("content") or "")),
            _link(status),
            created if isinstance(created, datetime) else None,
            str(reply_to) if reply_to else None,
        )

    def _not_mine(self, status: Any) -> bool:
        """Somebody else's status (not a boost), with an id: Mastodon.py fills a missing
        field with None, and "None" must never become an answer's id."""
        if not status.get("id"):
            return False
        own = str((status.get("account") or {}).get("id", ""))
        return not status.get("reblog") and own != self.account_id()

    def find_tagged(
        self, tag: str, since_id: str | None, replies_to: tuple[str, ...] = ()
    ) -> list[FoundPost]:
        """The instance's hashtag timeline: what it knows, from the instances it federates
        with (not the whole fediverse)."""
        found: list[FoundPost] = []
        cursor = since_id
        for _ in range(PAGES):
            # min_id pages forward from the cursor, oldest page first: no gap in a burst of
            # more than a page (since_id would give the newest 40 and skip the rest).
            def page(cursor: str | None = cursor) -> Any:
                return self.client.timeline_hashtag(tag, min_id=cursor, limit=40)

            statuses = list(self._call(page, creates=False) or [])
            found += [self._found(s) for s in statuses if self._not_mine(s)]
            if len(statuses) < 40:
                break
            cursor = max((str(s["id"]) for s in statuses), key=int)
        return found

    def find_replies(self, remote_id: str) -> list[FoundPost]:
        context = self._call(lambda: self.client.status_context(remote_id), creates=False)
        return [self._found(s) for s in context.get("descendants") or [] if self._not_mine(s)]

    def stream_tagged(self, tag: str, on_post: Callable[[FoundPost], None]) -> Stream | None:
        publisher = self

        class Listener(mastodon_py.StreamListener):
            def on_update(self, status: Any) -> None:
                if publisher._not_mine(status):
                    on_post(publisher._found(status))

        try:
            self.account_id()
            handle = self._call(
                lambda: self.client.stream_hashtag(tag, Listener(), run_async=True),
                creates=False,
            )
        except PublishError:
            return None  # no stream here (or not for this token): poll instead
        # Mastodon.py connects in its own thread and, on failure, retries for ever: wait for the
        # connection, and give up (poll instead) if there is none within the request timeout.
        deadline = time.monotonic() + self.timeout
        while handle.connection is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if handle.connection is None:
            handle.close()
            return None
        return _MastodonStream(handle)

    def close(self) -> None:
        if self._client is not None:
            self._client.session.close()


class _MastodonStream(Stream):
    def __init__(self, handle: Any):
        self._handle = handle

    @property
    def alive(self) -> bool:
        # Connected and reading: not ended, not in Mastodon.py's reconnect loop.
        handle = self._handle
        return bool(handle.is_alive() and handle.connection is not None and not handle.reconnecting)

    def close(self) -> None:
        self._handle.close()


# -- OAuth: a partner connects its own account -------------------------------------------------

MASTODON_SCOPES = ["read:accounts", "read:statuses", "write:statuses", "write:media"]


def _loopback(url: str) -> bool:
    return url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))


def _oauth_client(instance: str, client_id: str, client_secret: str, timeout: float) -> Any:
    return mastodon_py.Mastodon(
        client_id=client_id,
        client_secret=client_secret,
        api_base_url=instance.rstrip("/"),
        request_timeout=timeout,
        version_check_mode="created",
        mastodon_version=ASSUMED_VERSION,
    )


def _oauth(action: Callable[[], T], instance: str) -> T:
    try:
        return action()
    except mastodon_py.MastodonNetworkError:
        raise TransientError(f"cannot reach {instance}") from None
    except mastodon_py.MastodonError as exc:
        raise Unauthorized(f"{instance} refused: {_detail(exc)}") from None


def mastodon_register_app(
    instance: str, redirect_uri: str, website: str, timeout: float = 15.0
) -> tuple[str, str]:
    """Register this installation as an OAuth app on ``instance``: (client id, secret)."""
    result: tuple[str, str] = _oauth(
        lambda: mastodon_py.Mastodon.create_app(
            "Chat scheduler",
            scopes=MASTODON_SCOPES,
            redirect_uris=redirect_uri,
            website=website,
            api_base_url=instance.rstrip("/"),
            request_timeout=timeout,
        ),
        instance,
    )
    return result


def mastodon_authorization_url(
    instance: str, client_id: str, client_secret: str, redirect_uri: str, state: str
) -> str:
    client = _oauth_client(instance, client_id, client_secret, 15.0)
    url: str = _oauth(
        lambda: client.auth_request_url(
            redirect_uris=redirect_uri,
            scopes=MASTODON_SCOPES,
            state=state,
            skip_server_info=True,
            allow_http=_loopback(instance),
        ),
        instance,
    )
    return url


def mastodon_exchange_code(
    instance: str, client_id: str, client_secret: str, redirect_uri: str, code: str
) -> str:
    client = _oauth_client(instance, client_id, client_secret, 15.0)
    token: str = _oauth(
        lambda: client.log_in(
            code=code,
            redirect_uri=redirect_uri,
            scopes=MASTODON_SCOPES,
            allow_http=_loopback(instance),
        ),
        instance,
    )
    return token


def mastodon_revoke(instance: str, client_id: str, client_secret: str, token: str) -> bool:
    client = _oauth_client(instance, client_id, client_secret, 15.0)
    client.access_token = token
    try:
        client.revoke_access_token(allow_http=_loopback(instance))
    except mastodon_py.MastodonError:
        return False
    return True


__all__ = [
    "MASTODON_SCOPES",
    "MastodonPublisher",
    "clear_instance_cache",
    "mastodon_authorization_url",
    "mastodon_exchange_code",
    "mastodon_register_app",
    "mastodon_revoke",
    "status_text",
]
