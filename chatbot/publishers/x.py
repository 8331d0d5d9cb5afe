"""The X publisher, through tweepy 4.17 (OAuth 1.0a user context).

The only module that imports tweepy. tweepy hard-codes ``https://api.twitter.com`` and passes no
timeout, so its session is replaced by ``RoutedSession``, which rewrites the host to the
configured ``platforms.x.api_base_url`` *before* the OAuth 1.0a signature is computed (the
signature covers the URL) and gives every request a timeout. Media go through X's v2 upload and
metadata endpoints, which tweepy 4.17 does not wrap. ``wait_on_rate_limit`` stays off: a 429
becomes ``RateLimited`` with the reset time and the engine decides what waits.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
import tweepy

from chatbot.publishers.base import (
    BadRequest,
    DuplicateContent,
    FoundPost,
    NotOffered,
    OutcomeUnknown,
    OutgoingPost,
    Published,
    Publisher,
    PublishError,
    RateLimited,
    RemotePost,
    ReplyNotAllowed,
    TransientError,
    Unauthorized,
    UsageCapped,
)
from chatbot.publishers.x_http import RoutedSession, refused_before_sending

T = TypeVar("T")
PAGES = 5  # pages of answers read at most per search (100 each)


def _detail(exc: tweepy.HTTPException) -> str:
    messages = [m for m in getattr(exc, "api_messages", []) if m]
    if messages:
        return "; ".join(str(m) for m in messages)
    return f"HTTP {exc.response.status_code}"


def _problem_type(exc: tweepy.HTTPException) -> str:
    try:
        body = exc.response.json()
    except ValueError:
        return ""
    return str(body.get("type", "")) if isinstance(body, dict) else ""


@dataclass
class XPublisher(Publisher):
    api_key: str = field(default="", repr=False)
    api_secret: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    access_secret: str = field(default="", repr=False)
    base_url: str = "https://api.x.com"
    timeout: float = 15.0
    public_url: str = "https://x.com"
    # A partner connected by OAuth 2.0: returns a valid access token (refreshed when near
    # expiry); raises ``Unauthorized`` when it cannot. Without it, OAuth 1.0a from the env.
    token_provider: Callable[[], str] | None = field(default=None, repr=False)
    _client: tweepy.Client | None = field(default=None, repr=False)
    _bearer: str | None = field(default=None, repr=False)
    _user_id: str | None = None

    @property
    def _user_auth(self) -> bool:
        return self.token_provider is None

    def _renew(self) -> None:
        """Once per call into the publisher: the connected account's current access token
        (refreshed by the provider when near expiry); the client is rebuilt only if it changed."""
        if self.token_provider is None:
            return
        token = self.token_provider()
        if token != self._bearer:
            if self._client is not None:
                self._client.session.close()
            self._client, self._bearer = None, token

    @property
    def client(self) -> tweepy.Client:
        if self._client is None:
            if self.token_provider is not None:
                if self._bearer is None:
                    self._renew()
                client = tweepy.Client(bearer_token=self._bearer, wait_on_rate_limit=False)
            else:
                client = tweepy.Client(
                    consumer_key=self.api_key,
                    consumer_secret=self.api_secret,
                    access_token=self.access_token,
                    access_token_secret=self.access_secret,
                    wait_on_rate_limit=False,
                )
            client.session = RoutedSession(self.base_url, self.timeout)
            self._client = client
        return self._client

    def _auth(self) -> Any:
        if self.token_provider is not None:
            if self._bearer is None:
                self._renew()
            token = self._bearer

            def bearer(request: Any) -> Any:
                request.headers["Authorization"] = f"Bearer {token}"
                return request

            return bearer
        return tweepy.OAuth1UserHandler(
            self.api_key, self.api_secret, self.access_token, self.access_secret
        ).apply_auth()

    # -- translation -------------------------------------------------------------------------

    def _call(self, action: Callable[[], T], creates: bool) -> T:
        """Run a request, translating every failure into the project's errors.

        ``creates``: the request creates something, so a timeout or a 5xx means it may exist.
        """
        try:
            return action()
        except tweepy.TooManyRequests as exc:
            if "usage-capped" in _problem_type(exc):
                raise UsageCapped(f"X usage cap reached: {_detail(exc)}") from None
            reset = (
                datetime.fromtimestamp(exc.reset_time, UTC) if exc.reset_time is not None else None
            )
            raise RateLimited(f"rate limited by X: {_detail(exc)}", reset) from None
        except tweepy.Unauthorized as exc:
            raise Unauthorized(f"X rejected the credentials: {_detail(exc)}") from None
        except tweepy.Forbidden as exc:
            detail = _detail(exc)
            if "duplicate" in detail.lower():
                raise DuplicateContent(f"X: {detail}") from None
            if "already retweeted" in detail.lower() or "already reposted" in detail.lower():
                raise DuplicateContent(f"X: {detail}") from None
            if "reply" in detail.lower() and "not allowed" in detail.lower():
                raise ReplyNotAllowed(f"X refused the reply: {detail}") from None
            raise BadRequest(f"X refused it (403): {detail}") from None
        except (tweepy.BadRequest, tweepy.NotFound) as exc:
            raise BadRequest(f"X refused it: {_detail(exc)}") from None
        except tweepy.TwitterServerError as exc:
            if creates:
                raise OutcomeUnknown(f"X server error {exc.response.status_code}") from None
            raise TransientError(f"X server error {exc.response.status_code}") from None
        except tweepy.HTTPException as exc:
            raise BadRequest(f"X answered {exc.response.status_code}: {_detail(exc)}") from None
        except requests.ConnectionError as exc:
            # Refused before anything was sent is safe; a dropped connection may not be.
            if creates and not refused_before_sending(exc):
                raise OutcomeUnknown(f"connection to X lost: {type(exc).__name__}") from None
            raise TransientError(f"cannot reach X: {type(exc).__name__}") from None
        except requests.Timeout:
            if creates:
                raise OutcomeUnknown(f"X did not answer within {self.timeout:g}s") from None
            raise TransientError(f"X did not answer within {self.timeout:g}s") from None
        except requests.RequestException as exc:
            raise TransientError(f"request to X failed: {type(exc).__name__}") from None

    def _raw(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A request tweepy 4.17 does not wrap (v2 media), with tweepy's error classes."""
        response = self.client.session.request(
            method, f"{self.base_url}{path}", auth=self._auth(), **kwargs
        )
        status = response.status_code
        if status == 429:
            reset = response.headers.get("x-rate-limit-reset")
            raise tweepy.TooManyRequests(response, reset_time=int(reset) if reset else None)
        errors = {400: tweepy.BadRequest, 401: tweepy.Unauthorized, 403: tweepy.Forbidden}
        if not 200 <= status < 300:
            fallback = tweepy.TwitterServerError if status >= 500 else tweepy.HTTPException
            raise errors.get(status, fallback)(response)
        data: dict[str, Any] = response.json()
        return data

    # -- Publisher ---------------------------------------------------------------------------

    def user_id(self) -> str:
        if self._user_id is None:
            me = self._call(lambda: self.client.get_me(user_auth=self._user_auth), creates=False)
            self._user_id = str(me.data["id"])
        return self._user_id

    def check_credentials(self) -> None:
        self._renew()
        self.user_id()

    def _upload(self, post: OutgoingPost) -> list[str]:
        """v2 media upload, then alt text through v2 media metadata, for each image."""
        ids = []
        for media in post.media:
            mime = mimetypes.guess_type(media.path.name)[0] or "image/png"
            content = media.path.read_bytes()

            def upload(
                name: str = media.path.name, body: bytes = content, mime: str = mime
            ) -> dict[str, Any]:
                return self._raw(
                    "POST",
                    "/2/media/upload",
                    files={"media": (name, body, mime)},
                    data={"media_category": "tweet_image", "media_type": mime},
                )

            media_id = str(self._call(upload, creates=False)["data"]["id"])

            def describe(media_id: str = media_id, alt: str = media.alt) -> dict[str, Any]:
                return self._raw(
                    "POST",
                    "/2/media/metadata",
                    json={"id": media_id, "metadata": {"alt_text": {"text": alt}}},
                )

            self._call(describe, creates=False)
            ids.append(media_id)
        return ids

    def publish(self, post: OutgoingPost) -> Published:
        self._renew()
        if post.like_of is not None:
            raise NotOffered(
                "X removed likes from its API's self-serve tiers on 2026-04-20; like it on x.com"
            )
        if post.repost_of is not None:
            user = self.user_id()
            self._call(
                lambda: self.client.retweet(post.repost_of, user_auth=self._user_auth), creates=True
            )
            # A repost has no id of its own in the v2 response; point at the original.
            return Published(
                post.repost_of, f"{self.public_url}/i/web/status/{post.repost_of}#{user}"
            )
        media_ids = self._upload(post) if post.media else None
        response = self._call(
            lambda: self.client.create_tweet(
                text=post.text,
                media_ids=media_ids,
                in_reply_to_tweet_id=post.reply_to,
                user_auth=self._user_auth,
            ),
            creates=True,
        )
        data: Any = response.data
        remote_id = str(data["id"])
        handle = self.handle.lstrip("@") or "i/web"
        return Published(remote_id, f"{self.public_url}/{handle}/status/{remote_id}")

    def recent_posts(self, since: datetime) -> list[RemotePost]:
        self._renew()
        user = self.user_id()
        response = self._call(
            lambda: self.client.get_users_tweets(
                user,
                start_time=since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                max_results=100,
                tweet_fields=["created_at", "referenced_tweets"],
                user_auth=self._user_auth,
            ),
            creates=False,
        )
        posts = []
        for tweet in response.data or []:
            repost_of = None
            for ref in tweet.referenced_tweets or []:
                if ref.type == "retweeted":
                    repost_of = str(ref.id)
            handle = self.handle.lstrip("@") or "i/web"
            posts.append(
                RemotePost(
                    str(tweet.id),
                    tweet.text,
                    tweet.created_at,
                    f"{self.public_url}/{handle}/status/{tweet.id}",
                    repost_of,
                )
            )
        return posts

    def find_tagged(
        self, tag: str, since_id: str | None, replies_to: tuple[str, ...] = ()
    ) -> list[FoundPost]:
        """Recent search: ``#tag`` or a reply in a question's conversation, never the account's
        own posts or reposts. Each post returned is billed (``platforms.x.price_read``)."""
        self._renew()
        terms = [f"#{tag}", *(f"conversation_id:{r}" for r in replies_to)]
        query = f"({' OR '.join(terms)}) -is:retweet"
        if self.handle:
            query += f" -from:{self.handle.lstrip('@')}"
        found: list[FoundPost] = []
        token: str | None = None
        for _ in range(PAGES):  # newest first; a burst of more than a page is paged through

            def search(token: str | None = token) -> Any:
                return self.client.search_recent_tweets(
                    query,
                    since_id=since_id,
                    next_token=token,
                    max_results=100,
                    tweet_fields=["created_at", "author_id", "referenced_tweets"],
                    expansions=["author_id"],
                    user_fields=["username"],
                    user_auth=self._user_auth,
                )

            response = self._call(search, creates=False)
            found += self._found(response)
            token = (response.meta or {}).get("next_token")
            if not token:
                break
        return found

    def _found(self, response: Any) -> list[FoundPost]:
        users = {str(u.id): u.username for u in (response.includes or {}).get("users", [])}
        found = []
        for tweet in response.data or []:
            reply_to = next(
                (str(r.id) for r in tweet.referenced_tweets or [] if r.type == "replied_to"), None
            )
            author = users.get(str(tweet.author_id), str(tweet.author_id))
            found.append(
                FoundPost(
                    str(tweet.id),
                    f"@{author}",
                    tweet.text,
                    f"{self.public_url}/{author}/status/{tweet.id}",
                    tweet.created_at,
                    reply_to,
                )
            )
        return found

    def close(self) -> None:
        if self._client is not None:
            self._client.session.close()


# -- OAuth 2.0 authorization code with PKCE (partners connecting their own account) ----------

# Posting, reposting and media, plus offline.access for a refresh token.
X_SCOPES = ["tweet.read", "tweet.write", "users.read", "media.write", "offline.access"]


@dataclass(frozen=True)
class XOAuthApp:
    client_id: str
    client_secret: str | None
    redirect_uri: str
    authorize_url: str
    token_url: str
    revoke_url: str
    timeout: float = 15.0


@dataclass(frozen=True)
class XTokens:
    access_token: str
    refresh_token: str | None
    expires_in: float | None


def _handler(app: XOAuthApp) -> tweepy.OAuth2UserHandler:
    return tweepy.OAuth2UserHandler(
        client_id=app.client_id,
        redirect_uri=app.redirect_uri,
        scope=X_SCOPES,
        client_secret=app.client_secret,
    )


class _Loopback:
    """oauthlib refuses plain HTTP; allow it for a loopback server only (tests, rehearsal)."""

    def __init__(self, url: str):
        self.allow = url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
        self.before: str | None = None

    def __enter__(self) -> None:
        import os

        if self.allow:
            self.before = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

    def __exit__(self, *exc: object) -> None:
        import os

        if self.allow:
            if self.before is None:
                os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
            else:
                os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = self.before


def x_authorization_url(app: XOAuthApp, state: str) -> tuple[str, str]:
    """The URL to send the partner to, and the PKCE verifier to keep (secretly) until the
    callback."""
    handler = _handler(app)
    verifier = handler._client.create_code_verifier(128)
    challenge = handler._client.create_code_challenge(verifier, "S256")
    with _Loopback(app.authorize_url):
        url, _ = handler.authorization_url(
            app.authorize_url,
            state=state,
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    return str(url), str(verifier)


def _tokens(token: dict[str, Any]) -> XTokens:
    expires = token.get("expires_in")
    return XTokens(
        str(token["access_token"]),
        token.get("refresh_token"),
        float(expires) if expires is not None else None,
    )


def _oauth(app: XOAuthApp, action: Callable[[tweepy.OAuth2UserHandler], dict[str, Any]]) -> XTokens:
    from oauthlib.oauth2 import OAuth2Error

    try:
        with _Loopback(app.token_url):
            return _tokens(action(_handler(app)))
    except OAuth2Error as exc:
        raise Unauthorized(f"X refused: {exc.description or exc.error}") from None
    except requests.RequestException as exc:
        raise TransientError(f"cannot reach X's token endpoint: {type(exc).__name__}") from None


def x_exchange_code(app: XOAuthApp, code: str, verifier: str) -> XTokens:
    # tweepy's own fetch_token hard-codes X's host; call the OAuth2Session method it wraps
    # with the configured token endpoint instead.
    return _oauth(
        app,
        lambda h: super(tweepy.OAuth2UserHandler, h).fetch_token(
            app.token_url,
            code=code,
            auth=h.auth,
            include_client_id=True,
            code_verifier=verifier,
            timeout=app.timeout,
        ),
    )


def x_refresh(app: XOAuthApp, refresh_token: str) -> XTokens:
    return _oauth(
        app,
        lambda h: h.refresh_token(
            app.token_url,
            refresh_token=refresh_token,
            auth=h.auth,
            include_client_id=True,
            timeout=app.timeout,
        ),
    )


def x_revoke(app: XOAuthApp, token: str) -> bool:
    """Best effort: the stored tokens are deleted whatever X answers."""
    auth = requests.auth.HTTPBasicAuth(app.client_id, app.client_secret or "")
    try:
        response = requests.post(
            app.revoke_url,
            data={"token": token, "token_type_hint": "access_token", "client_id": app.client_id},
            auth=auth if app.client_secret else None,
            timeout=app.timeout,
        )
    except requests.RequestException:
        return False
    return response.ok


__all__ = [
    "X_SCOPES",
    "PublishError",
    "RoutedSession",
    "XOAuthApp",
    "XPublisher",
    "x_authorization_url",
    "x_exchange_code",
    "x_refresh",
    "x_revoke",
]
