"""The Bluesky publisher, through the atproto SDK (the only module that imports it).

Login is by app password (``{PREFIX}_APP_PASSWORD``), once per worker process: the SDK keeps the
session and refreshes its access token itself, because Bluesky rate-limits ``createSession``
hard and a login per post would soon be refused. Links, hashtags and mentions get facets (UTF-8
byte offsets, ``chatbot.publishers.facets``) so they are clickable. Images larger than the PDS
accepts are re-encoded to fit. Each record's key (a TID) is derived from the post's due time and
its idempotency key, so a retry of the same post cannot create a second record: the PDS refuses
an existing key, which the engine reconciles like X's duplicate refusal.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from atproto import Client, models
from atproto_client import exceptions as at_errors
from atproto_client.request import Request
from PIL import Image

from chatbot.counting import find_facets, graphemes
from chatbot.publishers.base import (
    BadRequest,
    DuplicateContent,
    FoundPost,
    Media,
    OutcomeUnknown,
    OutgoingPost,
    Published,
    Publisher,
    RateLimited,
    RemotePost,
    TransientError,
    Unauthorized,
)

T = TypeVar("T")
PAGES = 5  # pages of answers read at most per search (100 each)
_S32 = "234567abcdefghijklmnopqrstuvwxyz"


def record_key(at: datetime, seed: str) -> str:
    """A TID (13 characters, base32-sortable): microseconds of ``at`` and a clock id from
    ``seed``. The same post at the same due time always gets the same key."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    micros = int(at.timestamp() * 1_000_000)
    clock_id = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16) % 1024
    number = (micros << 10) | clock_id
    return "".join(_S32[(number >> (5 * i)) & 31] for i in reversed(range(13)))


def fit_image(media: Media, max_bytes: int) -> tuple[bytes, str, tuple[int, int]]:
    """The image's bytes, MIME type and size, re-encoded as JPEG (then smaller) if too large."""
    raw = media.path.read_bytes()
    with Image.open(io.BytesIO(raw)) as image:
        size = image.size
        if len(raw) <= max_bytes:
            mime = Image.MIME.get(image.format or "PNG", "image/png")
            return raw, mime, size
        picture = image.convert("RGB")
    scale = 1.0
    while scale > 0.1:
        frame = picture
        if scale < 1.0:
            frame = picture.resize((max(1, int(size[0] * scale)), max(1, int(size[1] * scale))))
        for quality in (90, 80, 70, 60):
            out = io.BytesIO()
            frame.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= max_bytes:
                return out.getvalue(), "image/jpeg", frame.size
        scale *= 0.75
    raise BadRequest(f"{media.path.name} cannot be made smaller than {max_bytes} bytes")


def _error_name(exc: at_errors.RequestErrorBase) -> str:
    content = getattr(exc.response, "content", None)
    error = getattr(content, "error", None) or ""
    message = getattr(content, "message", None) or ""
    return f"{error}: {message}".strip(": ") or f"HTTP {getattr(exc.response, 'status_code', '?')}"


@dataclass
class BlueskyPublisher(Publisher):
    app_password: str = field(default="", repr=False)
    base_url: str = "https://bsky.social"
    timeout: float = 15.0
    max_image_bytes: int = 2_000_000
    max_graphemes: int = 300
    public_url: str = "https://bsky.app"
    # Bluesky records carry a client-set createdAt: the engine's clock, so a rehearsal or a
    # test with a fake clock reads back what it wrote.
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False)
    _client: Client | None = field(default=None, repr=False)
    _did: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    logins: int = 0
    _dids: dict[str, str | None] = field(default_factory=dict, repr=False)

    # -- session -----------------------------------------------------------------------------

    def _session(self) -> tuple[Client, str]:
        """The logged-in client, logging in only when there is no session yet."""
        with self._lock:
            if self._client is None or self._did is None:
                client = Client(self.base_url, request=Request(timeout=self.timeout))
                identifier = self.handle.lstrip("@")

                def login() -> Any:
                    return client.login(identifier, self.app_password, fetch_bsky_profile=False)

                self._translate(login, creates=False)
                self.logins += 1
                session = client._session  # the SDK's own record of the session
                self._did = str(session.did) if session is not None else None
                if self._did is None:
                    raise Unauthorized(f"{self.base_url} opened no session for {identifier}")
                self._client = client
            return self._client, self._did

    def _call(self, action: Callable[[Client, str], T], creates: bool) -> T:
        client, did = self._session()
        try:
            return self._translate(lambda: action(client, did), creates)
        except Unauthorized:
            # The session may have been revoked or expired server-side: log in again next time.
            with self._lock:
                self._client, self._did = None, None
            raise

    # -- translation -------------------------------------------------------------------------

    def _translate(self, action: Callable[[], T], creates: bool) -> T:
        where = self.base_url
        try:
            return action()
        except at_errors.RateLimitExceededError as exc:
            raise RateLimited(f"rate limited by {where}", exc.reset_at) from None
        except at_errors.UnauthorizedError as exc:
            raise Unauthorized(f"{where} rejected the login: {_error_name(exc)}") from None
        except at_errors.BadRequestError as exc:
            name = _error_name(exc)
            if "ExpiredToken" in name or "InvalidToken" in name:
                raise Unauthorized(f"{where}: session no longer valid ({name})") from None
            if "already exists" in name.lower() or "InvalidSwap" in name:
                raise DuplicateContent(f"{where}: {name}") from None
            raise BadRequest(f"{where} refused it: {name}") from None
        except at_errors.InvokeTimeoutError:
            if creates:
                raise OutcomeUnknown(f"{where} did not answer within {self.timeout:g}s") from None
            raise TransientError(f"{where} did not answer within {self.timeout:g}s") from None
        except at_errors.NetworkError as exc:
            status = getattr(exc.response, "status_code", None)
            if status == 413:
                raise BadRequest(f"{where}: too large ({_error_name(exc)})") from None
            refused = isinstance(exc.__cause__, httpx.ConnectError)
            if creates and not refused:
                raise OutcomeUnknown(f"connection to {where} lost or failed mid-request") from None
            raise TransientError(f"cannot reach {where}") from None
        except at_errors.RequestException as exc:
            status = getattr(exc.response, "status_code", 0) or 0
            if status >= 500 and creates:
                raise OutcomeUnknown(f"{where} server error {status}") from None
            if status >= 500:
                raise TransientError(f"{where} server error {status}") from None
            raise BadRequest(f"{where} answered {status}: {_error_name(exc)}") from None
        except at_errors.AtProtocolError as exc:
            raise BadRequest(f"{where}: {type(exc).__name__}: {exc}") from None
        except httpx.TransportError as exc:
            # The SDK passes some transport failures through unwrapped (a dropped connection).
            if creates and not isinstance(exc, httpx.ConnectError):
                raise OutcomeUnknown(f"connection to {where} lost or failed mid-request") from None
            raise TransientError(f"cannot reach {where}: {type(exc).__name__}") from None

    # -- Publisher ---------------------------------------------------------------------------

    def check_credentials(self) -> None:
        self._session()

    def _strong_ref(self, uri: str) -> tuple[models.ComAtprotoRepoStrongRef.Main, Any]:
        view = self._call(lambda c, _d: c.get_posts([uri]), creates=False)
        if not view.posts:
            raise BadRequest(f"{uri} no longer exists")
        post = view.posts[0]
        return models.ComAtprotoRepoStrongRef.Main(uri=post.uri, cid=post.cid), post.record

    def _facets(self, text: str) -> list[models.AppBskyRichtextFacet.Main]:
        out = []
        for facet in find_facets(text):
            feature: Any
            if facet.kind == "link":
                feature = models.AppBskyRichtextFacet.Link(uri=facet.value)
            elif facet.kind == "tag":
                feature = models.AppBskyRichtextFacet.Tag(tag=facet.value)
            else:
                did = self._did_of(facet.value)
                if did is None:
                    continue  # not a Bluesky handle: leave it as plain text
                feature = models.AppBskyRichtextFacet.Mention(did=did)
            index = models.AppBskyRichtextFacet.ByteSlice(
                byte_start=facet.byte_start, byte_end=facet.byte_end
            )
            out.append(models.AppBskyRichtextFacet.Main(index=index, features=[feature]))
        return out

    def _did_of(self, handle: str) -> str | None:
        """A handle's DID, resolved once per worker run: a chat mentions the same partners in
        every question."""
        if handle not in self._dids:

            def resolve(client: Client, _did: str) -> Any:
                return client.resolve_handle(handle)

            try:
                self._dids[handle] = str(self._call(resolve, creates=False).did)
            except BadRequest:
                self._dids[handle] = None
        return self._dids[handle]

    def _embed(self, post: OutgoingPost) -> models.AppBskyEmbedImages.Main | None:
        if not post.media:
            return None
        images = []
        for media in post.media[:4]:
            data, _mime, (width, height) = fit_image(media, self.max_image_bytes)

            def upload(client: Client, _did: str, data: bytes = data) -> Any:
                return client.upload_blob(data)

            blob = self._call(upload, creates=False).blob
            images.append(
                models.AppBskyEmbedImages.Image(
                    alt=media.alt,
                    image=blob,
                    aspect_ratio=models.AppBskyEmbedDefs.AspectRatio(width=width, height=height),
                )
            )
        return models.AppBskyEmbedImages.Main(images=images)

    def _url(self, uri: str) -> str:
        rkey = uri.rsplit("/", 1)[-1]
        return f"{self.public_url}/profile/{self.handle.lstrip('@')}/post/{rkey}"

    def publish(self, post: OutgoingPost) -> Published:
        seed = post.idempotency_key(self.account)
        rkey = record_key(post.scheduled_at or self.now(), seed)
        now = self.now().astimezone(UTC).isoformat().replace("+00:00", "Z")
        if post.like_of is not None:  # the record key makes a retried like the same like
            subject, _ = self._strong_ref(post.like_of)
            like: Any = models.AppBskyFeedLike.Record(subject=subject, created_at=now)
            self._call(lambda c, d: c.app.bsky.feed.like.create(d, like, rkey=rkey), True)
            return Published(post.like_of, self._url(post.like_of))
        if post.repost_of is not None:
            subject, _ = self._strong_ref(post.repost_of)
            record: Any = models.AppBskyFeedRepost.Record(subject=subject, created_at=now)
            self._call(lambda c, d: c.app.bsky.feed.repost.create(d, record, rkey=rkey), True)
            return Published(post.repost_of, self._url(post.repost_of))
        length = graphemes(post.text)
        if length > self.max_graphemes:
            raise BadRequest(
                f"{length} graphemes; Bluesky allows {self.max_graphemes}: shorten it or give "
                "it a bluesky wording (text_for)"
            )
        reply = None
        if post.reply_to:
            parent, parent_record = self._strong_ref(post.reply_to)
            root = getattr(getattr(parent_record, "reply", None), "root", None) or parent
            reply = models.AppBskyFeedPost.ReplyRef(parent=parent, root=root)
        record = models.AppBskyFeedPost.Record(
            text=post.text,
            created_at=now,
            facets=self._facets(post.text) or None,
            embed=self._embed(post),
            reply=reply,
            langs=["en"],
        )
        created = self._call(lambda c, d: c.app.bsky.feed.post.create(d, record, rkey=rkey), True)
        return Published(str(created.uri), self._url(str(created.uri)))

    def recent_posts(self, since: datetime) -> list[RemotePost]:
        feed = self._call(lambda c, d: c.get_author_feed(actor=d, limit=50), creates=False)
        posts = []
        for item in feed.feed:
            reason = item.reason
            if reason is not None and getattr(reason, "py_type", "").endswith("reasonRepost"):
                at = _parse_time(str(reason.indexed_at))
                if at is not None and at < since:
                    continue
                remote_id = str(getattr(reason, "uri", None) or f"repost:{item.post.uri}")
                posts.append(
                    RemotePost(remote_id, "", at, self._url(item.post.uri), str(item.post.uri))
                )
                continue
            at = _parse_time(str(getattr(item.post.record, "created_at", "")))
            if at is not None and at < since:
                continue
            text = str(getattr(item.post.record, "text", ""))
            posts.append(RemotePost(str(item.post.uri), text, at, self._url(item.post.uri)))
        return posts

    # -- following a chat's answers ---------------------------------------------------------

    def _found(self, view: Any) -> FoundPost:
        record = view.record
        reply = getattr(record, "reply", None)
        handle = str(view.author.handle)
        rkey = str(view.uri).rsplit("/", 1)[-1]
        return FoundPost(
            str(view.uri),
            f"@{handle}",
            str(getattr(record, "text", "")),
            f"{self.public_url}/profile/{handle}/post/{rkey}",
            _parse_time(str(getattr(record, "created_at", ""))),
            str(reply.parent.uri) if reply is not None else None,
        )

    def find_tagged(
        self, tag: str, since_id: str | None, replies_to: tuple[str, ...] = ()
    ) -> list[FoundPost]:
        """``app.bsky.feed.searchPosts`` through the account's PDS, newest first; ``since_id``
        is the creation time of the newest post already seen (search has no id order)."""
        found: list[FoundPost] = []
        cursor: str | None = None
        for _ in range(PAGES):  # newest first; a burst of more than a page is paged through
            params = models.AppBskyFeedSearchPosts.Params(
                q=f"#{tag}", tag=[tag], sort="latest", limit=100, since=since_id, cursor=cursor
            )

            def search(client: Client, _did: str, params: Any = params) -> Any:
                return client.app.bsky.feed.search_posts(params)

            page = self._call(search, creates=False)
            found += [self._found(p) for p in page.posts if str(p.author.did) != self._did]
            cursor = page.cursor
            if not cursor or len(page.posts) < 100:
                break
        return found

    def find_replies(self, remote_id: str) -> list[FoundPost]:
        thread = self._call(lambda c, _d: c.get_post_thread(remote_id, depth=1), creates=False)
        replies = getattr(thread.thread, "replies", None) or []
        views = [r.post for r in replies if getattr(r, "post", None) is not None]
        return [self._found(v) for v in views if str(v.author.did) != self._did]

    def close(self) -> None:
        if self._client is not None:
            self._client.request.close()


def _parse_time(value: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


__all__ = ["BlueskyPublisher", "fit_image", "record_key"]
