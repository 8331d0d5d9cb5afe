"""A local Mastodon-compatible server on loopback, for tests and benchmarks.

It speaks the REST shapes Mastodon.py uses: ``/api/v2/instance`` (with the instance's own status
limit and link weight), ``verify_credentials``, ``/api/v2/media`` (multipart, ``description``),
``/api/v1/statuses`` honouring ``Idempotency-Key`` as Mastodon does (the same key from the same
account returns the first status), reblogs, an account's statuses, status HTML in ``content``,
Bearer tokens, and ``X-RateLimit-*`` headers with an ISO 8601 reset. For a chat's answers: the
hashtag timeline, a status's context, favourites and the hashtag stream (server-sent events).
"""

from __future__ import annotations

import html
import itertools
import json
import queue
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

from tests.fakehttp import FakeServer, Handler


@dataclass
class MastodonAccount:
    id: str
    username: str
    token: str


@dataclass
class Status:
    id: str
    account_id: str
    text: str
    created_at: datetime
    visibility: str
    media_ids: list[str] = field(default_factory=list)
    in_reply_to_id: str | None = None
    reblog_of: str | None = None


def _has_tag(text: str, tag: str) -> bool:
    return re.search(rf"#{re.escape(tag)}(?!\w)", text, re.IGNORECASE) is not None


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _html(text: str) -> str:
    paragraphs = [p for p in text.split("\n\n")]
    return "".join(
        "<p>" + "<br />".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


class MastodonServer(FakeServer):
    def __init__(self, max_characters: int = 500, url_weight: int = 23, **kw: Any):
        super().__init__(**kw)
        self.max_characters = max_characters
        self.url_weight = url_weight
        self.accounts: dict[str, MastodonAccount] = {}
        self.statuses: dict[str, Status] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[tuple[str, str], str] = {}
        self.rate_limit = 300
        self.used: dict[str, int] = {}
        self._ids = itertools.count(113_000_000_000_000_001)
        self.apps: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, tuple[str, MastodonAccount, str]] = {}
        self.consenting: MastodonAccount | None = None
        self.revoked: list[str] = []
        # Open hashtag streams: (tag, queue of events); ``drop_streams`` ends them all.
        self.streams: list[tuple[str, queue.Queue[str | None]]] = []
        self.streaming_enabled = True
        self.favourites: set[tuple[str, str]] = set()
        self.reads = 0  # statuses returned by the read endpoints
        # The hashtag timeline answers these instead of statuses (shapes no Mastodon sends).
        self.malformed: list[dict[str, Any]] | None = None

    def add_account(self, username: str) -> MastodonAccount:
        with self.lock:
            account = MastodonAccount(str(next(self._ids)), username, f"masto-token-{username}")
            self.accounts[account.token] = account
        return account

    def env_for(self, prefix: str, account: MastodonAccount) -> dict[str, str]:
        return {f"{prefix}_ACCESS_TOKEN": account.token}

    def post_as(self, username: str, text: str, reply_to: str | None = None) -> Status:
        """A participant's post, as if made on this instance (or federated to it)."""
        with self.lock:
            account = next((a for a in self.accounts.values() if a.username == username), None)
        if account is None:
            account = self.add_account(username)
        with self.lock:
            status = Status(
                str(next(self._ids)), account.id, text, self.now(), "public", [], reply_to
            )
            self.statuses[status.id] = status
        self._published(status)
        return status

    def _published(self, status: Status) -> None:
        event = None
        with self.lock:
            for tag, events in self.streams:
                if _has_tag(status.text, tag):
                    event = event or json.dumps(self._status_json(status))
                    events.put(f"event: update\ndata: {event}\n\n")

    def stop(self) -> None:
        self.drop_streams()
        super().stop()

    def drop_streams(self) -> None:
        with self.lock:
            for _, events in self.streams:
                events.put(None)

    def statuses_by(self, username: str) -> list[Status]:
        with self.lock:
            ids = {a.id for a in self.accounts.values() if a.username == username}
            return [s for s in self.statuses.values() if s.account_id in ids]

    # -- JSON shapes ---------------------------------------------------------------------------

    def _account_json(self, account: MastodonAccount) -> dict[str, Any]:
        return {
            "id": account.id,
            "username": account.username,
            "acct": account.username,
            "display_name": account.username,
            "url": f"{self.url}/@{account.username}",
            "created_at": "2020-01-01T00:00:00.000Z",
            "locked": False,
            "bot": True,
            "note": "",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": 0,
        }

    def _status_json(self, status: Status) -> dict[str, Any]:
        account = next(a for a in self.accounts.values() if a.id == status.account_id)
        reblog = self.statuses.get(status.reblog_of) if status.reblog_of else None
        return {
            "id": status.id,
            "uri": f"{self.url}/users/{account.username}/statuses/{status.id}",
            "url": f"{self.url}/@{account.username}/{status.id}",
            "created_at": _iso(status.created_at),
            "content": "" if reblog else _html(status.text),
            "visibility": status.visibility,
            "sensitive": False,
            "spoiler_text": "",
            "in_reply_to_id": status.in_reply_to_id,
            "reblog": self._status_json(reblog) if reblog else None,
            "account": self._account_json(account),
            "media_attachments": [self.media[m] for m in status.media_ids],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "reblogs_count": 0,
            "favourites_count": 0,
            "replies_count": 0,
        }

    def _headers(self, account: MastodonAccount | None) -> dict[str, str]:
        used = self.used.get(account.id, 0) if account else 0
        reset = self.now() + timedelta(minutes=5)
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - used)),
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        }

    # -- routes --------------------------------------------------------------------------------

    def route(self, h: Handler, method: str, path: str, query: str, body: bytes) -> None:
        if path in ("/api/v1/apps", "/oauth/authorize", "/oauth/token", "/oauth/revoke"):
            return self._oauth(h, method, path, query, body)
        token = h.headers.get("authorization", "").removeprefix("Bearer ")
        account = self.accounts.get(token)
        if path.rstrip("/") == "/api/v2/instance":
            return h.send_json(
                200,
                {
                    "domain": "127.0.0.1",
                    "title": "Fake Mastodon",
                    "version": "4.3.0",
                    "configuration": {
                        "statuses": {
                            "max_characters": self.max_characters,
                            "max_media_attachments": 4,
                            "characters_reserved_per_url": self.url_weight,
                        },
                        "media_attachments": {"description_limit": 1500},
                    },
                },
            )
        if method == "GET" and path == "/api/v1/streaming/hashtag":
            return self._stream(h, parse_qs(query).get("tag", [""])[0])
        if account is None:
            return h.send_json(401, {"error": "The access token is invalid"})
        fault = self.take_fault(method, path)
        if fault and self._error_fault(h, fault, account):
            return None
        if path == "/api/v1/accounts/verify_credentials":
            return h.send_json(200, self._account_json(account), self._headers(account))
        if method == "POST" and path == "/api/v2/media":
            return self._media(h, body)
        if method == "POST" and path == "/api/v1/statuses":
            return self._create(h, account, body, fault)
        if method == "GET" and path.startswith("/api/v1/timelines/tag/"):
            return self._tagged(h, account, path.rsplit("/", 1)[-1], parse_qs(query))
        if method == "GET" and path.endswith("/context"):
            return self._context(h, account, path.split("/")[4])
        if method == "POST" and path.endswith("/favourite"):
            target = path.split("/")[4]
            with self.lock:
                if target not in self.statuses:
                    return h.send_json(404, {"error": "Record not found"})
                self.favourites.add((account.id, target))
                body_json = self._status_json(self.statuses[target])
            return h.send_json(200, body_json, self._headers(account))
        if method == "POST" and path.endswith("/reblog"):
            return self._reblog(h, account, path.split("/")[4], body, fault)
        if method == "GET" and path.startswith("/api/v1/accounts/") and path.endswith("/statuses"):
            limit = int(parse_qs(query).get("limit", ["20"])[0])
            owner = path.split("/")[4]
            with self.lock:
                mine = [s for s in self.statuses.values() if s.account_id == owner]
            mine.sort(key=lambda s: int(s.id), reverse=True)
            return h.send_json(
                200, [self._status_json(s) for s in mine[:limit]], self._headers(account)
            )
        return h.send_json(404, {"error": "Record not found"})

    def _oauth(self, h: Handler, method: str, path: str, query: str, body: bytes) -> None:
        """App registration and the authorization code flow, as Mastodon's Doorkeeper does."""
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if path == "/api/v1/apps" and method == "POST":
            app = {
                "id": str(next(self._ids)),
                "name": form.get("client_name", ""),
                "website": form.get("website"),
                "redirect_uri": form.get("redirect_uris", ""),
                "client_id": f"cid-{next(self._ids)}",
                "client_secret": f"csecret-{next(self._ids)}",
                "scopes": form.get("scopes", "").split(),
            }
            with self.lock:
                self.apps[app["client_id"]] = app
            return h.send_json(200, app)
        if path == "/oauth/authorize":
            params = {k: v[0] for k, v in parse_qs(query).items()}
            app = self.apps.get(params.get("client_id", ""))
            if app is None or self.consenting is None:
                return h.send_json(400, {"error": "invalid_client"})
            if params.get("redirect_uri") != app["redirect_uri"]:
                return h.send_json(400, {"error": "invalid_redirect_uri"})
            code = f"mcode-{next(self._ids)}"
            with self.lock:
                self.codes[code] = (app["client_id"], self.consenting, params.get("scope", ""))
            h.send_response(302)
            h.send_header(
                "location", f"{app['redirect_uri']}?code={code}&state={params.get('state', '')}"
            )
            h.send_header("content-length", "0")
            h.end_headers()
            return None
        if path == "/oauth/token":
            with self.lock:
                grant = self.codes.pop(form.get("code", ""), None)
            app = self.apps.get(form.get("client_id", ""))
            if grant is None or app is None or app["client_secret"] != form.get("client_secret"):
                return h.send_json(400, {"error": "invalid_grant"})
            account = grant[1]
            token = f"masto-oauth-{next(self._ids)}"
            with self.lock:
                self.accounts[token] = MastodonAccount(account.id, account.username, token)
            return h.send_json(
                200,
                {"access_token": token, "token_type": "Bearer", "scope": grant[2], "created_at": 0},
            )
        if path == "/oauth/revoke":
            with self.lock:
                self.accounts.pop(form.get("token", ""), None)
                self.revoked.append(form.get("token", ""))
            return h.send_json(200, {})
        return h.send_json(404, {"error": "not found"})

    def _error_fault(self, h: Handler, fault: Any, account: MastodonAccount) -> bool:
        if fault.kind == "429":
            reset = self.now() + timedelta(seconds=fault.reset_in)
            h.send_json(
                429,
                {"error": "Too many requests"},
                {
                    "X-RateLimit-Limit": "300",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                },
            )
        elif fault.kind == "401":
            h.send_json(401, {"error": "The access token was revoked"})
        elif fault.kind == "422":
            h.send_json(422, {"error": "Validation failed: Text can't be blank"})
        elif fault.kind == "500":
            h.send_json(500, {"error": "We're sorry, but something went wrong"})
        else:
            return False
        return True

    def _form(self, h: Handler, body: bytes) -> dict[str, Any]:
        ctype = h.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            data: dict[str, Any] = json.loads(body or b"{}")
            return data
        parsed = parse_qs(body.decode(), keep_blank_values=True)
        out: dict[str, Any] = {k: v[0] for k, v in parsed.items()}
        out["media_ids"] = parsed.get("media_ids[]", [])
        return out

    def _media(self, h: Handler, body: bytes) -> None:
        ctype = h.headers.get("content-type", "")
        message = BytesParser(policy=HTTP).parsebytes(
            f"content-type: {ctype}\r\n\r\n".encode() + body
        )
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = part.get_payload(decode=True)
        media_id = str(next(self._ids))
        description = fields.get("description")
        attachment = {
            "id": media_id,
            "type": "image",
            "url": f"{self.url}/media/{media_id}.png",
            "preview_url": f"{self.url}/media/{media_id}_small.png",
            "description": description.decode() if isinstance(description, bytes) else None,
            "blurhash": None,
            "meta": {},
            "size": len(fields.get("file") or b""),
        }
        with self.lock:
            self.media[media_id] = attachment
        h.send_json(200, attachment)

    # -- reading a chat's answers -------------------------------------------------------------

    def _tagged(
        self, h: Handler, account: MastodonAccount, tag: str, query: dict[str, list[str]]
    ) -> None:
        if self.malformed is not None:
            return h.send_json(200, self.malformed, self._headers(account))
        since = int(query.get("since_id", ["0"])[0] or 0)
        min_id = int(query.get("min_id", ["0"])[0] or 0)
        limit = min(40, int(query.get("limit", ["20"])[0]))
        with self.lock:
            found = [
                s
                for s in self.statuses.values()
                if int(s.id) > max(since, min_id) and not s.reblog_of and _has_tag(s.text, tag)
            ]
            # As Mastodon: since_id gives the newest page, min_id the page just after it;
            # either way the page is listed newest first.
            found.sort(key=lambda s: int(s.id), reverse=not min_id)
            page = sorted(found[:limit], key=lambda s: int(s.id), reverse=True)
            body = [self._status_json(s) for s in page]
            self.reads += len(body)
        return h.send_json(200, body, self._headers(account))

    def _context(self, h: Handler, account: MastodonAccount, status_id: str) -> None:
        with self.lock:
            if status_id not in self.statuses:
                return h.send_json(404, {"error": "Record not found"})
            below, frontier = [], {status_id}
            while frontier:
                children = [s for s in self.statuses.values() if s.in_reply_to_id in frontier]
                below += children
                frontier = {s.id for s in children}
            body = {"ancestors": [], "descendants": [self._status_json(s) for s in below]}
            self.reads += len(below)
        return h.send_json(200, body, self._headers(account))

    def _stream(self, h: Handler, tag: str) -> None:
        """Server-sent events, as Mastodon's streaming server sends them, until dropped."""
        if not self.streaming_enabled:
            return h.send_json(404, {"error": "Streaming is disabled"})
        events: queue.Queue[str | None] = queue.Queue()
        with self.lock:
            self.streams.append((tag, events))
        self.log.append((h.command, h.path, 200))
        try:
            h.send_response(200)
            h.send_header("content-type", "text/event-stream")
            h.send_header("connection", "close")
            h.end_headers()
            h.wfile.write(b":)\n")
            h.wfile.flush()
            while True:
                try:
                    event = events.get(timeout=0.5)
                except queue.Empty:
                    event = ":thump\n"
                if event is None:
                    break
                h.wfile.write(event.encode())
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            with self.lock:
                self.streams = [s for s in self.streams if s[1] is not events]
            h.close_connection = True

    def _create(self, h: Handler, account: MastodonAccount, body: bytes, fault: Any) -> None:
        form = self._form(h, body)
        text = str(form.get("status", ""))
        key = h.headers.get("idempotency-key")
        with self.lock:
            if key and (account.id, key) in self.idempotency:
                existing = self.statuses[self.idempotency[(account.id, key)]]
                return h.send_json(200, self._status_json(existing), self._headers(account))
            # Mastodon counts every link as characters_reserved_per_url.
            counted = len(re.sub(r"https?://\S+", "x" * self.url_weight, text))
            if counted > self.max_characters:
                return h.send_json(
                    422,
                    {
                        "error": "Validation failed: Text character limit of "
                        f"{self.max_characters} exceeded"
                    },
                )
            status = Status(
                str(next(self._ids)),
                account.id,
                text,
                self.now(),
                str(form.get("visibility") or "public"),
                [str(m) for m in form.get("media_ids") or []],
                form.get("in_reply_to_id") or None,
            )
            self.statuses[status.id] = status
            if key:
                self.idempotency[(account.id, key)] = status.id
            self.used[account.id] = self.used.get(account.id, 0) + 1
        self._published(status)
        h.lose_answer(
            fault or _NoFault,
            lambda: h.send_json(200, self._status_json(status), self._headers(account)),
        )

    def _reblog(
        self, h: Handler, account: MastodonAccount, target: str, body: bytes, fault: Any
    ) -> None:
        form = self._form(h, body)
        with self.lock:
            if target not in self.statuses:
                return h.send_json(404, {"error": "Record not found"})
            existing = next(
                (
                    s
                    for s in self.statuses.values()
                    if s.reblog_of == target and s.account_id == account.id
                ),
                None,
            )
            status = existing or Status(
                str(next(self._ids)),
                account.id,
                "",
                self.now(),
                str(form.get("visibility") or "public"),
                reblog_of=target,
            )
            self.statuses[status.id] = status
        h.lose_answer(
            fault or _NoFault,
            lambda: h.send_json(200, self._status_json(status), self._headers(account)),
        )


class _NoFaultType:
    kind = ""
    delay = 0.0


_NoFault: Any = _NoFaultType()
