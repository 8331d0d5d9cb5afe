"""A local AT Protocol PDS (the part a poster uses) on loopback, for tests and benchmarks.

XRPC endpoints with their real request and response shapes: ``com.atproto.server.createSession``
and ``refreshSession`` (JWT-shaped tokens with ``exp``, which the atproto SDK reads to decide
when to refresh), ``com.atproto.repo.createRecord`` (client-chosen ``rkey`` refused when it
exists), ``com.atproto.repo.uploadBlob`` (size limit), ``app.bsky.feed.getAuthorFeed``,
``app.bsky.feed.getPosts``, ``com.atproto.identity.resolveHandle``, and for a chat's answers
``app.bsky.feed.searchPosts`` (``q``/``tag``, ``since``) and ``app.bsky.feed.getPostThread``. Records are stored as
sent, so tests can read back facets and byte offsets exactly as a PDS would keep them.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from tests.fakehttp import FakeServer, Handler


@dataclass
class BskyAccount:
    did: str
    handle: str
    app_password: str


@dataclass
class Record:
    uri: str
    cid: str
    did: str
    collection: str
    value: dict[str, Any]
    indexed_at: datetime


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


class BlueskyServer(FakeServer):
    def __init__(self, access_ttl: int = 7200, max_blob: int = 2_000_000, **kw: Any):
        super().__init__(**kw)
        self.access_ttl = access_ttl
        self.max_blob = max_blob
        self.accounts: dict[str, BskyAccount] = {}
        self.records: dict[str, Record] = {}
        self.blobs: dict[str, bytes] = {}
        self.tokens: dict[str, str] = {}  # token -> did
        self.refresh_tokens: dict[str, str] = {}
        self._n = itertools.count(1)
        self.reads = 0  # posts returned by search and thread reads

    def add_account(self, handle: str) -> BskyAccount:
        with self.lock:
            account = BskyAccount(
                f"did:plc:{hashlib.sha256(handle.encode()).hexdigest()[:24]}",
                handle,
                f"app-pass-{handle.split('.')[0]}",
            )
            self.accounts[account.did] = account
        return account

    def env_for(self, prefix: str, account: BskyAccount) -> dict[str, str]:
        return {f"{prefix}_APP_PASSWORD": account.app_password}

    def post_as(self, handle: str, text: str, reply_to: str | None = None) -> Record:
        """A participant's post (a record in its own repo), optionally replying to ``reply_to``."""
        with self.lock:
            account = next((a for a in self.accounts.values() if a.handle == handle), None)
        if account is None:
            account = self.add_account(handle)
        value: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": self.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        with self.lock:
            if reply_to is not None:
                parent = self.records[reply_to]
                ref = {"uri": parent.uri, "cid": parent.cid}
                root = parent.value.get("reply", {}).get("root", ref)
                value["reply"] = {"parent": ref, "root": root}
            uri = f"at://{account.did}/app.bsky.feed.post/3p{next(self._n):011d}"
            cid = "bafyrei" + hashlib.sha256(uri.encode()).hexdigest()[:52]
            record = Record(uri, cid, account.did, "app.bsky.feed.post", value, self.now())
            self.records[uri] = record
        return record

    def posts_by(self, handle: str, collection: str = "app.bsky.feed.post") -> list[Record]:
        with self.lock:
            return [
                r
                for r in self.records.values()
                if r.collection == collection and self.accounts[r.did].handle == handle
            ]

    # -- tokens --------------------------------------------------------------------------------

    def _jwt(self, did: str, scope: str, ttl: int) -> str:
        now = int(time.time())
        payload = {
            "scope": scope,
            "sub": did,
            "iat": now,
            "exp": now + ttl,
            "jti": str(next(self._n)),
        }
        return f"{_b64({'typ': 'at+jwt', 'alg': 'ES256K'})}.{_b64(payload)}.c2ln"

    def _session(self, account: BskyAccount) -> dict[str, Any]:
        access = self._jwt(account.did, "com.atproto.appPass", self.access_ttl)
        refresh = self._jwt(account.did, "com.atproto.refresh", 90 * 86400)
        with self.lock:
            self.tokens[access] = account.did
            self.refresh_tokens[refresh] = account.did
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": account.handle,
            "did": account.did,
            "active": True,
        }

    def _error(self, h: Handler, status: int, error: str, message: str) -> None:
        h.send_json(status, {"error": error, "message": message})

    # -- views ---------------------------------------------------------------------------------

    def _post_view(self, record: Record) -> dict[str, Any]:
        account = self.accounts[record.did]
        return {
            "uri": record.uri,
            "cid": record.cid,
            "author": {"did": account.did, "handle": account.handle},
            "record": record.value,
            "indexedAt": record.indexed_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }

    # -- routes --------------------------------------------------------------------------------

    def route(self, h: Handler, method: str, path: str, query: str, body: bytes) -> None:
        nsid = path.removeprefix("/xrpc/")
        data = json.loads(body) if body and "json" in h.headers.get("content-type", "") else {}
        if nsid == "com.atproto.server.createSession":
            account = next(
                (
                    a
                    for a in self.accounts.values()
                    if data.get("identifier") in (a.handle, a.did)
                    and data.get("password") == a.app_password
                ),
                None,
            )
            if account is None:
                return self._error(
                    h, 401, "AuthenticationRequired", "Invalid identifier or password"
                )
            return h.send_json(200, self._session(account))
        bearer = h.headers.get("authorization", "").removeprefix("Bearer ")
        if nsid == "com.atproto.server.refreshSession":
            did = self.refresh_tokens.pop(bearer, None)
            if did is None:
                return self._error(h, 400, "ExpiredToken", "Token has been revoked")
            return h.send_json(200, self._session(self.accounts[did]))
        did = self.tokens.get(bearer)
        if did is None:
            return self._error(h, 401, "AuthenticationRequired", "Invalid token")
        payload = json.loads(base64.urlsafe_b64decode(bearer.split(".")[1] + "=="))
        if payload["exp"] < time.time():
            return self._error(h, 400, "ExpiredToken", "Token has expired")
        fault = self.take_fault(method, path)
        if fault and self._error_fault(h, fault):
            return None
        params = parse_qs(query)
        if nsid == "com.atproto.repo.uploadBlob":
            if len(body) > self.max_blob:
                return self._error(
                    h, 400, "BlobTooLarge", f"This file is too large. It is {len(body)} bytes"
                )
            link = "bafkrei" + hashlib.sha256(body).hexdigest()[:52]
            with self.lock:
                self.blobs[link] = body
            mime = h.headers.get("content-type", "application/octet-stream")
            return h.send_json(
                200,
                {
                    "blob": {
                        "$type": "blob",
                        "ref": {"$link": link},
                        "mimeType": mime,
                        "size": len(body),
                    }
                },
            )
        if nsid == "com.atproto.repo.createRecord":
            return self._create(h, did, data, fault)
        if nsid == "com.atproto.identity.resolveHandle":
            handle = params.get("handle", [""])[0]
            found = next((a for a in self.accounts.values() if a.handle == handle), None)
            if found is None:
                return self._error(h, 400, "InvalidRequest", "Unable to resolve handle")
            return h.send_json(200, {"did": found.did})
        if nsid == "app.bsky.feed.getPosts":
            uris = params.get("uris", [])
            with self.lock:
                found_posts = [self._post_view(self.records[u]) for u in uris if u in self.records]
            return h.send_json(200, {"posts": found_posts})
        if nsid == "app.bsky.feed.searchPosts":
            return self._search(h, params)
        if nsid == "app.bsky.feed.getPostThread":
            uri = params.get("uri", [""])[0]
            with self.lock:
                if uri not in self.records:
                    return self._error(h, 400, "NotFound", f"Post not found: {uri}")
                replies = [
                    {"$type": "app.bsky.feed.defs#threadViewPost", "post": self._post_view(r)}
                    for r in self.records.values()
                    if r.collection == "app.bsky.feed.post"
                    and r.value.get("reply", {}).get("parent", {}).get("uri") == uri
                ]
                self.reads += len(replies)
                thread = {
                    "$type": "app.bsky.feed.defs#threadViewPost",
                    "post": self._post_view(self.records[uri]),
                    "replies": replies,
                }
            return h.send_json(200, {"thread": thread})
        if nsid == "app.bsky.feed.getAuthorFeed":
            actor = params.get("actor", [""])[0]
            limit = int(params.get("limit", ["50"])[0])
            return h.send_json(200, {"feed": self._feed(actor)[:limit]})
        return self._error(h, 501, "MethodNotImplemented", f"{nsid} is not served here")

    def _search(self, h: Handler, params: dict[str, list[str]]) -> None:
        q = params.get("q", [""])[0].lower()
        tags = {t.lower() for t in params.get("tag", [])}
        since = params.get("since", [""])[0]
        limit = int(params.get("limit", ["25"])[0])
        with self.lock:
            found = []
            for record in self.records.values():
                if record.collection != "app.bsky.feed.post":
                    continue
                text = str(record.value.get("text", "")).lower()
                created = str(record.value.get("createdAt", ""))
                if since and _instant(created) < _instant(since):
                    continue
                words = set(re.findall(r"#\w+", text))
                if (q and q in words) or {f"#{t}" for t in tags} & words:
                    found.append(record)
            found.sort(key=lambda r: str(r.value.get("createdAt", "")), reverse=True)
            offset = int(params.get("cursor", ["0"])[0] or 0)
            posts = [self._post_view(r) for r in found[offset : offset + limit]]
            self.reads += len(posts)
        body: dict[str, Any] = {"posts": posts, "hitsTotal": len(found)}
        if len(found) > offset + limit:
            body["cursor"] = str(offset + limit)
        return h.send_json(200, body)

    def _error_fault(self, h: Handler, fault: Any) -> bool:
        if fault.kind == "429":
            reset = int(time.time()) + fault.reset_in
            h.send_json(
                429,
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                {
                    "ratelimit-limit": "5000",
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": str(reset),
                },
            )
        elif fault.kind == "401":
            self._error(h, 401, "AuthenticationRequired", "Token has been revoked")
        elif fault.kind == "400":
            self._error(h, 400, "InvalidRequest", "Invalid app.bsky.feed.post record")
        elif fault.kind == "500":
            self._error(h, 500, "InternalServerError", "Internal Server Error")
        else:
            return False
        return True

    def _create(self, h: Handler, did: str, data: dict[str, Any], fault: Any) -> None:
        if data.get("repo") not in (did, self.accounts[did].handle):
            return self._error(h, 400, "InvalidRequest", "Invalid repo")
        collection = str(data["collection"])
        rkey = data.get("rkey") or f"3l{next(self._n):011d}"
        uri = f"at://{did}/{collection}/{rkey}"
        value = dict(data["record"])
        with self.lock:
            if uri in self.records:
                return self._error(h, 400, "InvalidRequest", f"Record already exists: {uri}")
            if collection == "app.bsky.feed.post" and len(value.get("text", "")) > 3000:
                return self._error(
                    h, 400, "InvalidRequest", "Record/text must not be longer than 3000"
                )
            cid = (
                "bafyrei"
                + hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:52]
            )
            record = Record(uri, cid, did, collection, value, self.now())
            self.records[uri] = record
        answer = {
            "uri": uri,
            "cid": cid,
            "commit": {"cid": cid, "rev": rkey},
            "validationStatus": "valid",
        }
        h.lose_answer(fault or _NoFault, lambda: h.send_json(200, answer))

    def _feed(self, actor: str) -> list[dict[str, Any]]:
        with self.lock:
            account = next((a for a in self.accounts.values() if actor in (a.did, a.handle)), None)
            if account is None:
                return []
            mine = sorted(
                (r for r in self.records.values() if r.did == account.did),
                key=lambda r: r.indexed_at,
                reverse=True,
            )
            feed: list[dict[str, Any]] = []
            for record in mine:
                if record.collection == "app.bsky.feed.post":
                    feed.append({"post": self._post_view(record)})
                elif record.collection == "app.bsky.feed.repost":
                    subject = self.records.get(record.value["subject"]["uri"])
                    if subject is None:
                        continue
                    feed.append(
                        {
                            "post": self._post_view(subject),
                            "reason": {
                                "$type": "app.bsky.feed.defs#reasonRepost",
                                "by": {"did": account.did, "handle": account.handle},
                                "uri": record.uri,
                                "cid": record.cid,
                                "indexedAt": record.indexed_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                            },
                        }
                    )
            return feed


class _NoFaultType:
    kind = ""
    delay = 0.0


_NoFault: Any = _NoFaultType()
