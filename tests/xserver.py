"""A local X-compatible API server on loopback, for tests and benchmarks.

It speaks the v2 request and response shapes the project uses (create and delete posts, repost,
users/me, user timeline, v2 media upload and metadata), verifies each OAuth 1.0a signature
against the URL actually requested (so host routing is proven, not assumed), answers with
rate-limit headers, refuses duplicate text as X does, and injects faults on demand.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from oauthlib.oauth1.rfc5849 import signature as oauth_sig

from tests.fakehttp import FakeServer, Fault, Handler

RATE_WINDOW = 900  # seconds: X's 15-minute windows
CONSUMER_KEY = "test-consumer-key"
CONSUMER_SECRET = "test-consumer-secret"


@dataclass
class User:
    id: str
    username: str
    token: str
    secret: str


@dataclass
class Tweet:
    id: str
    author_id: str
    text: str
    created_at: datetime
    media_ids: list[str] = field(default_factory=list)
    reply_to: str | None = None
    retweet_of: str | None = None
    conversation_id: str = ""


class XServer(FakeServer):
    """Fault kinds (see ``tests.fakehttp.Fault``): 429, usage_capped, 401, 400, duplicate,
    reply_refused, and the three ``*_after_create``."""

    def __init__(self, now: Callable[[], datetime] | None = None, post_limit: int = 100_000):
        super().__init__(now)
        self.users: dict[str, User] = {}
        self.tweets: dict[str, Tweet] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.post_limit = post_limit
        self.window_counts: dict[str, int] = {}
        self.create_delay = 0.0
        # Set when a create request is inside ``create_delay``: a post is truly in flight.
        self.creating = threading.Event()
        # OAuth 2.0: the app's client, who consents at /i/oauth2/authorize, issued tokens.
        self.oauth_client_id = "test-oauth2-client"
        self.oauth_client_secret = "test-oauth2-secret"
        self.consenting: User | None = None
        self.codes: dict[str, dict[str, Any]] = {}
        self.bearer: dict[str, tuple[User, datetime]] = {}
        self.refresh_tokens: dict[str, tuple[User, str]] = {}
        self.revoked: list[str] = []
        self.refreshes = 0
        self.token_delay = 0.0
        self.access_ttl = 7200
        self.authorize_requests: list[dict[str, str]] = []
        self._ids = itertools.count(1_860_000_000_000_000_001)
        self.reads = 0  # posts returned by recent search: what pay-per-use bills

    def add_user(self, username: str) -> User:
        with self.lock:
            user = User(str(next(self._ids)), username, f"token-{username}", f"secret-{username}")
            self.users[user.token] = user
        return user

    def env_for(self, prefix: str, user: User) -> dict[str, str]:
        return {
            f"{prefix}_API_KEY": CONSUMER_KEY,
            f"{prefix}_API_SECRET": CONSUMER_SECRET,
            f"{prefix}_ACCESS_TOKEN": user.token,
            f"{prefix}_ACCESS_SECRET": user.secret,
        }

    def post_as(self, username: str, text: str, reply_to: str | None = None) -> Tweet:
        """A participant's post, made straight in the server's store."""
        with self.lock:
            user = next((u for u in self.users.values() if u.username == username), None)
        if user is None:
            user = self.add_user(username)
        with self.lock:
            tweet = Tweet(self.new_id(), user.id, text, self.now(), reply_to=reply_to)
            tweet.conversation_id = self._conversation(tweet)
            self.tweets[tweet.id] = tweet
        return tweet

    def _conversation(self, tweet: Tweet) -> str:
        parent = self.tweets.get(tweet.reply_to or "")
        return (parent.conversation_id or parent.id) if parent else tweet.id

    def posts_by(self, username: str) -> list[Tweet]:
        with self.lock:
            return [
                t
                for t in self.tweets.values()
                if self._user_by_id(t.author_id).username == username
            ]

    def _user_by_id(self, user_id: str) -> User:
        return next(u for u in self.users.values() if u.id == user_id)

    def new_id(self) -> str:
        return str(next(self._ids))

    def _send(
        self, h: Handler, status: int, body: dict[str, Any], user: User | None = None
    ) -> None:
        used = self.window_counts.get(user.id, 0) if user else 0
        h.send_json(
            status,
            body,
            {
                "x-rate-limit-limit": str(self.post_limit),
                "x-rate-limit-remaining": str(max(0, self.post_limit - used)),
                "x-rate-limit-reset": str(int(self.now().timestamp()) + RATE_WINDOW),
            },
        )

    def _problem(
        self,
        h: Handler,
        status: int,
        title: str,
        detail: str,
        kind: str = "about:blank",
        headers: dict[str, str] | None = None,
    ) -> None:
        body = {"title": title, "detail": detail, "type": kind, "status": status}
        h.send_json(status, body, headers, content_type="application/problem+json")

    def _authenticate(self, h: Handler, body: bytes) -> User | None:
        header = h.headers.get("authorization", "")
        if header.startswith("Bearer "):
            # An OAuth 2.0 user-context token issued by the token endpoint below.
            with self.lock:
                found = self.bearer.get(header.removeprefix("Bearer "))
            if found is None or found[1] <= self.now():
                return None
            return found[0]
        if not header.startswith("OAuth "):
            return None
        params = dict(
            oauth_sig.collect_parameters(
                headers={"Authorization": header}, exclude_oauth_signature=False
            )
        )
        user = self.users.get(params.get("oauth_token", ""))
        if user is None or params.get("oauth_consumer_key") != CONSUMER_KEY:
            return None
        uri = f"http://{h.headers.get('host', '')}{h.path}"
        ctype = h.headers.get("content-type", "")
        form = body.decode() if ctype.startswith("application/x-www-form-urlencoded") else ""
        collected = oauth_sig.collect_parameters(
            uri_query=urlsplit(h.path).query,
            body=form,
            headers={"Authorization": header},
            exclude_oauth_signature=True,
        )
        normalized = oauth_sig.normalize_parameters(collected)
        base = oauth_sig.signature_base_string(
            h.command, oauth_sig.base_string_uri(uri), normalized
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            expected = oauth_sig.sign_hmac_sha1(base, CONSUMER_SECRET, user.secret)
        return user if expected == params.get("oauth_signature") else None

    def _error_fault(self, h: Handler, fault: Fault) -> bool:
        kind = fault.kind
        if kind == "429":
            reset = int(self.now().timestamp()) + fault.reset_in
            self._problem(
                h,
                429,
                "Too Many Requests",
                "Too Many Requests",
                headers={"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0"},
            )
        elif kind == "usage_capped":
            self._problem(
                h,
                429,
                "UsageCapExceeded",
                "Usage cap exceeded: monthly product cap",
                "https://api.twitter.com/2/problems/usage-capped",
            )
        elif kind == "401":
            self._problem(h, 401, "Unauthorized", "Unauthorized")
        elif kind == "400":
            self._send(
                h,
                400,
                {
                    "errors": [{"message": "The `text` field is invalid."}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                },
            )
        elif kind == "duplicate":
            self._duplicate(h)
        elif kind == "reply_refused":
            self._problem(
                h,
                403,
                "Forbidden",
                "Reply to this conversation is not allowed "
                "because you have not been mentioned or otherwise engaged by the "
                "author of the post you are replying to.",
            )
        else:
            return False
        return True

    def _duplicate(self, h: Handler) -> None:
        self._problem(
            h, 403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."
        )

    # -- OAuth 2.0 authorization server (authorize, token, refresh with rotation, revoke) --

    def _authorize(self, h: Handler, query: dict[str, str]) -> None:
        """The person signs in and consents (as ``self.consenting``): back to the app."""
        user = self.consenting
        if user is None or query.get("code_challenge_method") != "S256":
            return self._send(h, 400, {"error": "invalid_request"})
        if query.get("client_id") != self.oauth_client_id:
            return self._send(h, 400, {"error": "invalid_client"})
        code = f"code-{self.new_id()}"
        with self.lock:
            self.codes[code] = {
                "challenge": query["code_challenge"],
                "user": user,
                "redirect_uri": query["redirect_uri"],
                "scope": query.get("scope", ""),
            }
            self.authorize_requests.append(query)
        location = f"{query['redirect_uri']}?state={query.get('state', '')}&code={code}"
        h.send_response(302)
        h.send_header("location", location)
        h.send_header("content-length", "0")
        h.end_headers()
        self.log.append(("GET", h.path, 302))

    def _issue(self, user: User, scope: str) -> dict[str, Any]:
        access, refresh = f"at-{self.new_id()}", f"rt-{self.new_id()}"
        with self.lock:
            self.bearer[access] = (user, self.now() + timedelta(seconds=self.access_ttl))
            self.refresh_tokens[refresh] = (user, scope)
        return {
            "token_type": "bearer",
            "expires_in": self.access_ttl,
            "access_token": access,
            "refresh_token": refresh,
            "scope": scope,
        }

    def _token(self, h: Handler, path: str, body: bytes) -> None:
        form = dict(parse_qsl(body.decode()))
        secret = f"{self.oauth_client_id}:{self.oauth_client_secret}".encode()
        if h.headers.get("authorization", "") != "Basic " + base64.b64encode(secret).decode():
            return self._send(h, 401, {"error": "invalid_client"})
        if path == "/2/oauth2/revoke":
            with self.lock:
                self.bearer.pop(form.get("token", ""), None)
                self.revoked.append(form.get("token", ""))
            return self._send(h, 200, {"revoked": True})
        invalid = {
            "error": "invalid_request",
            "error_description": "Value passed for the token was invalid.",
        }
        if form.get("grant_type") == "authorization_code":
            with self.lock:
                grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                return self._send(h, 400, invalid)
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
            if challenge != grant["challenge"]:
                return self._send(h, 400, {"error": "invalid_grant", "error_description": "PKCE"})
            return self._send(h, 200, self._issue(grant["user"], grant["scope"]))
        if form.get("grant_type") == "refresh_token":
            time.sleep(self.token_delay)
            with self.lock:
                # Rotation: a refresh token works once.
                found = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
                self.refreshes += 1
            if found is None:
                return self._send(h, 400, invalid)
            return self._send(h, 200, self._issue(*found))
        return self._send(h, 400, {"error": "unsupported_grant_type"})

    # -- routes ------------------------------------------------------------------------

    def route(self, h: Handler, method: str, path: str, query: str, body: bytes) -> None:
        params = dict(parse_qsl(query))
        if method == "GET" and path == "/i/oauth2/authorize":
            return self._authorize(h, params)
        if method == "POST" and path in ("/2/oauth2/token", "/2/oauth2/revoke"):
            return self._token(h, path, body)
        user = self._authenticate(h, body)
        if user is None:
            return self._problem(h, 401, "Unauthorized", "Unauthorized")
        if method == "DELETE":
            return self._delete(h, user, path)
        fault = self.take_fault(method, path)
        if fault and self._error_fault(h, fault):
            return None
        if method == "GET":
            return self._get(h, user, path, params)
        if path == "/2/tweets":
            return self._create(h, user, json.loads(body or b"{}"), fault)
        if path.startswith("/2/users/") and path.endswith("/retweets"):
            return self._retweet(h, user, json.loads(body or b"{}"), fault)
        if path == "/2/media/upload":
            return self._upload(h, user, body)
        if path == "/2/media/metadata":
            payload = json.loads(body or b"{}")
            media = self.media.get(str(payload.get("id")))
            if media is None:
                return self._problem(h, 400, "Invalid Request", "unknown media id")
            media["alt_text"] = payload["metadata"]["alt_text"]["text"]
            reply = {"data": {"id": payload["id"], "associated_metadata": payload["metadata"]}}
            return self._send(h, 200, reply, user)
        return self._problem(h, 404, "Not Found", f"no route {path}")

    def _get(self, h: Handler, user: User, path: str, query: dict[str, str]) -> None:
        if path == "/2/users/me":
            me = {"data": {"id": user.id, "name": user.username, "username": user.username}}
            return self._send(h, 200, me, user)
        if path == "/2/tweets/search/recent":
            return self._search(h, user, query)
        if path.startswith("/2/users/") and path.endswith("/tweets"):
            user_id = path.split("/")[3]
            start = query.get("start_time")
            since = datetime.fromisoformat(start.replace("Z", "+00:00")) if start else None
            limit = int(query.get("max_results", 10))
            with self.lock:
                mine = [
                    t
                    for t in self.tweets.values()
                    if t.author_id == user_id and (since is None or t.created_at >= since)
                ]
            mine.sort(key=lambda t: (t.created_at, int(t.id)), reverse=True)
            data = []
            for tweet in mine[:limit]:
                data.append(_tweet_json(tweet))
            body: dict[str, Any] = {"meta": {"result_count": len(data)}}
            if data:
                body["data"] = data
            return self._send(h, 200, body, user)
        return self._problem(h, 404, "Not Found", f"no route {path}")

    def _search(self, h: Handler, user: User, query: dict[str, str]) -> None:
        """Recent search for the query shapes the follower sends: ``(#tag OR
        conversation_id:ID ...) -is:retweet -from:name``, paged forward with ``since_id``."""
        text = query.get("query", "")
        terms = re.findall(r"#\w+|conversation_id:\d+", text)
        excluded = set(re.findall(r"-from:(\w+)", text))
        since = int(query.get("since_id") or 0)
        limit = int(query.get("max_results", 10))
        tags = [t.lower() for t in terms if t.startswith("#")]
        conversations = {t.split(":", 1)[1] for t in terms if t.startswith("conversation_id:")}
        with self.lock:
            found = []
            for tweet in self.tweets.values():
                author = self._user_by_id(tweet.author_id)
                if int(tweet.id) <= since or tweet.retweet_of or author.username in excluded:
                    continue
                words = {w.lower() for w in re.findall(r"#\w+", tweet.text)}
                if words & set(tags) or tweet.conversation_id in conversations:
                    found.append(tweet)
            found.sort(key=lambda t: int(t.id), reverse=True)
            offset = int(query.get("next_token") or 0)  # pages toward older posts
            more = len(found) > offset + limit
            found = found[offset : offset + limit]
            self.reads += len(found)
            data = []
            for tweet in found:
                data.append(_tweet_json(tweet))
            authors = {t.author_id for t in found}
            users = [
                {"id": u.id, "name": u.username, "username": u.username}
                for u in self.users.values()
                if u.id in authors
            ]
        body: dict[str, Any] = {"meta": {"result_count": len(data)}}
        if data:
            body["data"] = data
            body["includes"] = {"users": users}
            body["meta"]["newest_id"] = data[0]["id"]
            if more:
                body["meta"]["next_token"] = str(offset + limit)
        return self._send(h, 200, body, user)

    def _delete(self, h: Handler, user: User, path: str) -> None:
        tweet_id = path.rsplit("/", 1)[-1]
        with self.lock:
            tweet = self.tweets.get(tweet_id)
            if tweet is None or tweet.author_id != user.id:
                return self._problem(h, 404, "Not Found", "Not Found")
            del self.tweets[tweet_id]
        return self._send(h, 200, {"data": {"deleted": True}}, user)

    def _count(self, user: User) -> bool:
        with self.lock:
            used = self.window_counts.get(user.id, 0)
            if used >= self.post_limit:
                return False
            self.window_counts[user.id] = used + 1
        return True

    def _create(self, h: Handler, user: User, payload: dict[str, Any], fault: Fault | None) -> None:
        text = str(payload.get("text", ""))
        if not text and not payload.get("media"):
            return self._problem(h, 400, "Invalid Request", "text or media is required")
        if not self._count(user):
            reset = int(self.now().timestamp()) + RATE_WINDOW
            return self._problem(
                h,
                429,
                "Too Many Requests",
                "Too Many Requests",
                headers={"x-rate-limit-reset": str(reset)},
            )
        if self.create_delay:
            self.creating.set()
            time.sleep(self.create_delay)
        media_ids = [str(m) for m in payload.get("media", {}).get("media_ids", [])]
        with self.lock:
            if any(m not in self.media for m in media_ids):
                return self._problem(h, 400, "Invalid Request", "unknown media id")
            cutoff = self.now() - timedelta(hours=24)
            if any(
                t.author_id == user.id and t.text == text and t.created_at >= cutoff
                for t in self.tweets.values()
            ):
                return self._duplicate(h)
            tweet = Tweet(
                self.new_id(),
                user.id,
                text,
                self.now(),
                media_ids,
                payload.get("reply", {}).get("in_reply_to_tweet_id"),
            )
            tweet.conversation_id = self._conversation(tweet)
            self.tweets[tweet.id] = tweet
        reply = {"data": {"id": tweet.id, "text": text, "edit_history_tweet_ids": [tweet.id]}}
        return self._answer(h, fault, lambda: self._send(h, 201, reply, user))

    def _answer(self, h: Handler, fault: Fault | None, answer: Callable[[], None]) -> None:
        """After a create: answer, or lose the answer as the injected fault says."""
        if fault is not None and fault.kind == "503_after_create":
            return self._problem(h, 503, "Service Unavailable", "Service Unavailable")
        if fault is not None and fault.kind in ("hang_after_create", "drop_after_create"):
            return h.lose_answer(fault, answer)
        return answer()

    def _retweet(
        self, h: Handler, user: User, payload: dict[str, Any], fault: Fault | None
    ) -> None:
        target = str(payload.get("tweet_id", ""))
        with self.lock:
            original = self.tweets.get(target)
            if original is None:
                return self._problem(h, 400, "Invalid Request", f"no tweet {target}")
            already = any(
                t.author_id == user.id and t.retweet_of == target for t in self.tweets.values()
            )
            if not already:
                author = self._user_by_id(original.author_id)
                tweet = Tweet(
                    self.new_id(),
                    user.id,
                    f"RT @{author.username}: {original.text}",
                    self.now(),
                    retweet_of=target,
                )
                self.tweets[tweet.id] = tweet
        return self._answer(
            h, fault, lambda: self._send(h, 200, {"data": {"retweeted": True}}, user)
        )

    def _upload(self, h: Handler, user: User, body: bytes) -> None:
        ctype = h.headers.get("content-type", "")
        message = BytesParser(policy=HTTP).parsebytes(
            f"content-type: {ctype}\r\n\r\n".encode() + body
        )
        fields = {
            part.get_param("name", header="content-disposition"): part
            for part in message.iter_parts()
        }
        media = fields.get("media")
        if media is None:
            return self._problem(h, 400, "Invalid Request", "media is required")
        media_id = self.new_id()
        content = media.get_payload(decode=True) or b""
        self.media[media_id] = {"bytes": len(content), "alt_text": None}
        reply = {"data": {"id": media_id, "media_key": f"3_{media_id}", "size": len(content)}}
        return self._send(h, 200, reply, user)


def _tweet_json(tweet: Tweet) -> dict[str, Any]:
    """A post as v2 lookups, timelines and search return it (with the fields asked for)."""
    item: dict[str, Any] = {
        "id": tweet.id,
        "text": tweet.text,
        "author_id": tweet.author_id,
        "created_at": _iso(tweet.created_at),
        "edit_history_tweet_ids": [tweet.id],
    }
    references = [("retweeted", tweet.retweet_of), ("replied_to", tweet.reply_to)]
    if any(ref for _, ref in references):
        item["referenced_tweets"] = [{"type": kind, "id": ref} for kind, ref in references if ref]
    return item


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
