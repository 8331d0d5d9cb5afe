"""Pages: sign-in, timeline, one post, needs-attention, audit log (the chat console is in
console.py, on the same blueprint)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from chatbot.config import Config
from chatbot.db.models import (
    Account,
    Approval,
    AuditEntry,
    Campaign,
    Chat,
    Post,
    PostState,
    User,
)
from chatbot.db.session import Database
from chatbot.platforms import platform_named
from chatbot.queue import live
from chatbot.queue.optout import is_opted_out
from chatbot.queue.settle import needs_settling
from chatbot.queue.status import unapproved_soon
from chatbot.queue.views import PostView
from chatbot.timeutil import format_duration, zone
from chatbot.web.preview import length_of, linked
from chatbot.web.signin import Throttle, sign_in, sign_out_everywhere
from chatbot.web.users import can

pages = Blueprint("pages", __name__)
STATES = [s.value for s in PostState]


def ext(name: str) -> Any:
    return current_app.extensions["chatbot"][name]


def config() -> Config:
    return ext("config")


def database() -> Database:
    return ext("db")


def now() -> datetime:
    return ext("clock")()


def user() -> User:
    return g.user


def require(action: str) -> None:
    if not can(g.get("user"), action):
        abort(403)


def viewer_zone() -> str:
    return user().timezone or config().settings.timezone


def account_zone(account: str) -> str:
    return config().account_zone_name(account)


def visible_posts() -> Any:
    """The posts the signed-in user may see: a partner only its own account's."""
    query = select(Post)
    if user().role == "partner":
        query = query.where(Post.account_key == user().account_key)
    return query


def visible_post(session: Any, post_id: int, amplified: bool = False) -> Post:
    post: Post | None = session.get(Post, post_id)
    if post is None:
        abort(404)
    if user().role == "partner" and post.account_key != user().account_key:
        # Another partner's post is "not found", not "forbidden": no existence leak. With
        # ``amplified``, an original its own account reposts is visible (the card it will
        # amplify); its post page, with reviewers' notes, stays the organisers'.
        if not amplified:
            abort(404)
        amplifies = session.scalar(
            select(func.count(Post.id)).where(
                Post.depends_on_id == post.id, Post.account_key == user().account_key
            )
        )
        if not amplifies:
            abort(404)
    return post


def row(post: PostView) -> dict[str, Any]:
    platform = platform_named(post.platform)
    limit, _ = platform.limits(config().settings.platforms)
    used, fits = length_of(post.text, post.platform, limit)
    account = config().settings.accounts.get(post.account_key)
    handle = account.handle if account is not None else ""
    return {
        "handle": handle,
        "platform_label": platform.label,
        "post": post,
        "label": live.label(post),
        "text": linked(post.text, post.platform) if post.text else "",
        "used": used,
        "limit": limit,
        "fits": fits,
        "account_zone": account_zone(post.account_key),
    }


# -- sign-in ---------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("pages.timeline")
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        abort(400)  # a CR/LF would split the Location header
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.timeline")
    if target.startswith("/\\"):
        return url_for("pages.timeline")
    return target


def _client() -> str:
    return request.remote_addr or "unknown"


FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
    '<rect width="64" height="64" rx="14" fill="#4b2a8a"/>'
    '<path d="M14 18h36a4 4 0 0 1 4 4v18a4 4 0 0 1-4 4H30l-10 9v-9h-6a4 4 0 0 1-4-4V22a4 4 0 0 1 '
    '4-4z" fill="#f2b600"/><text x="32" y="38" font-family="sans-serif" font-size="18" '
    'font-weight="700" text-anchor="middle" fill="#1b1530">Q1</text></svg>'
)


@pages.route("/favicon.svg")
@pages.route("/favicon.ico")
def favicon() -> Response:
    """A speech bubble reading Q1, for the browser tab (public: the login page has it too)."""
    return Response(
        FAVICON, mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )


@pages.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    status = 200
    headers: dict[str, str] = {}
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        password = request.form.get("password", "")
        web = config().settings.web
        outcome = sign_in(
            database(),
            name,
            password,
            _client(),
            now(),
            Throttle(web.sign_in_attempts, web.sign_in_lockout),
            web.session_lifetime,
        )
        if outcome.retry_after is not None:
            minutes = max(1, round(outcome.retry_after / 60))
            error = (
                "Too many failed sign-ins: wait about "
                f"{minutes} minute{'s' if minutes != 1 else ''} and try again."
            )
            status = 429
            headers["Retry-After"] = str(outcome.retry_after)
        elif outcome.token is None:
            error = "That name and password do not match a user."
            status = 401
        else:
            session.clear()
            session["sid"] = outcome.token
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error), status, headers


@pages.route("/logout", methods=["POST"])
def logout() -> Response:
    """Signing out ends every session of this user, on every device."""
    sign_out_everywhere(database(), session.get("sid"))
    session.clear()
    return redirect(url_for("pages.login"))


# -- timeline --------------------------------------------------------------------------------


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


@pages.route("/")
def timeline() -> Any:
    tz = zone(viewer_zone())
    filters = {k: request.args.get(k, "") for k in ("account", "chat", "campaign", "state")}
    if user().role == "partner":
        filters["account"] = user().account_key or ""
    try:
        week = date.fromisoformat(request.args["week"]) if request.args.get("week") else None
    except ValueError:
        abort(404)
    week = _week_start(week or now().astimezone(tz).date())
    start = datetime.combine(week, datetime.min.time()).replace(tzinfo=tz)
    end = start + timedelta(days=7)
    query = visible_posts().where(Post.scheduled_at >= start, Post.scheduled_at < end)
    if filters["account"]:
        query = query.where(Post.account_key == filters["account"])
    if filters["chat"]:
        query = query.where(Post.chat_key == filters["chat"])
    if filters["campaign"]:
        query = query.where(Post.campaign_key == filters["campaign"])
    if filters["state"]:
        query = query.where(Post.state == filters["state"])
    size = config().settings.web.page_size
    with database().read() as s:
        posts = list(
            s.scalars(query.order_by(Post.scheduled_at, Post.seq, Post.id).limit(size + 1))
        )
        accounts = sorted(s.scalars(select(Account.key)))
        chats = sorted(s.scalars(select(Chat.key).where(Chat.removed.is_(False))))
        campaigns = sorted(s.scalars(select(Campaign.key).where(Campaign.removed.is_(False))))
        more = len(posts) > size
        posts = posts[:size]
        # Reposts and partners' own words sit under their original as chips; one whose
        # original is not on this page (a filter) shows the words it amplifies.
        shown = {p.id for p in posts}
        missing = {
            p.depends_on_id for p in posts if p.depends_on_id and p.depends_on_id not in shown
        }
        originals = (
            {o.id: o for o in s.scalars(select(Post).where(Post.id.in_(missing)))}
            if missing
            else {}
        )
    days: dict[date, list[dict[str, Any]]] = defaultdict(list)
    rows: dict[int, dict[str, Any]] = {}
    steps: dict[tuple[str, int], dict[str, Any]] = {}  # a chat step's copies on other platforms
    for post in posts:
        if post.depends_on_id in rows:
            rows[post.depends_on_id]["dependents"].append(post)
            continue
        step = (post.chat_key, post.seq) if post.chat_key and post.seq is not None else None
        if step is not None and post.depends_on_id is None and step in steps:
            steps[step]["copies"].append(post)
            rows[post.id] = steps[step]  # its reposts join the step's chips
            continue
        entry = row(post)
        entry["dependents"] = []
        entry["copies"] = []
        if step is not None and post.depends_on_id is None:
            steps[step] = entry
        original = originals.get(post.depends_on_id) if post.depends_on_id else None
        entry["original"] = row(original) if original is not None else None
        rows[post.id] = entry
        days[post.scheduled_at.astimezone(tz).date()].append(entry)
    if user().role == "partner":
        accounts = [user().account_key or ""]
    return render_template(
        "timeline.html",
        days=sorted(days.items()),
        week=week,
        previous=week - timedelta(days=7),
        following=week + timedelta(days=7),
        filters=filters,
        accounts=accounts,
        chats=chats,
        campaigns=campaigns,
        states=STATES,
        more=more,
        size=size,
        tz=viewer_zone(),
    )


# -- one post --------------------------------------------------------------------------------


@pages.route("/posts/<int:post_id>")
def post_page(post_id: int) -> Any:
    with database().read() as s:
        post = visible_post(s, post_id)
        approvals = list(
            s.scalars(
                select(Approval).where(Approval.post_id == post.id).order_by(Approval.at.desc())
            )
        )
        # A partner may see the original it reposts, even though another account posts it.
        original = s.get(Post, post.depends_on_id) if post.depends_on_id else None
        # The same step of a chat on the host's other platforms, side by side.
        siblings: list[Post] = []
        if post.chat_key and post.seq is not None and post.depends_on_id is None:
            siblings = list(
                s.scalars(
                    select(Post)
                    .where(
                        Post.chat_key == post.chat_key,
                        Post.seq == post.seq,
                        Post.depends_on_id.is_(None),
                        Post.id != post.id,
                        Post.state != PostState.CANCELLED,
                    )
                    .order_by(Post.id)
                )
            )
            if user().role == "partner":
                siblings = [p for p in siblings if p.account_key == user().account_key]
    findings = ext("findings").for_post(post.key)
    return render_template(
        "post.html",
        r=row(post),
        siblings=[row(p) for p in siblings],
        approvals=approvals,
        original=original,
        findings=findings,
        needs_settling=needs_settling(post),
        tz=viewer_zone(),
        opted_out=is_opted_out(post),
    )


@pages.route("/posts/<int:post_id>/card.png")
def card_image(post_id: int) -> Any:
    from chatbot.cards.layout import CardFitError
    from chatbot.cards.render import Renderer
    from chatbot.errors import ContentError

    with database().read() as s:
        post = visible_post(s, post_id, amplified=True)
    if not post.card:
        abort(404)
    cards = current_app.extensions["chatbot"]
    try:
        if cards.get("renderer") is None:
            # Built once: it loads the brand kit and caches backgrounds and logos.
            cards["renderer"] = Renderer(config().graphics_dir, config().cards_dir)
        path, _ = cards["renderer"].ensure(post.card, post.card_fields or {}, post.platform)
    except (CardFitError, ContentError, OSError):
        abort(404)
    return send_file(path, mimetype="image/png", max_age=0)


@pages.route("/posts/<int:post_id>/image")
def post_image(post_id: int) -> Any:
    """The image a post attaches, for reviewers: only if it is still a real image inside the
    content folder (what the worker would upload), never any other file."""
    from chatbot.content.media import ImageProblem, check_image

    with database().read() as s:
        post = visible_post(s, post_id)
    if not post.image:
        abort(404)
    try:
        image = check_image(config().content_dir, post.image, post.platform)
    except ImageProblem:
        abort(404)
    return send_file(image.path, mimetype=image.mime, max_age=0)


# -- needs attention and audit ---------------------------------------------------------------


@pages.route("/attention")
def attention() -> Any:
    require("view_all")
    with database().read() as s:
        posts = list(
            s.scalars(
                select(Post)
                .where(Post.state.in_((PostState.FAILED, PostState.UNKNOWN)) | Post.held.is_(True))
                .order_by(Post.scheduled_at)
            )
        )
        paused = list(s.scalars(select(Account).where(Account.paused.is_(True))))
        horizon = config().settings.review.warn_before
        unapproved, unapproved_total = unapproved_soon(s, now(), horizon)
    return render_template(
        "attention.html",
        rows=[row(p) for p in posts],
        paused=paused,
        unapproved=[row(p) for p in unapproved],
        unapproved_total=unapproved_total,
        warn_before=format_duration(config().settings.review.warn_before),
        tz=viewer_zone(),
    )


@pages.route("/audit")
def audit_log() -> Any:
    require("audit")
    before = request.args.get("before", type=int)
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(100)
    if before:
        query = query.where(AuditEntry.id < before)
    with database().read() as s:
        entries = list(s.scalars(query))
        total = s.scalar(select(func.count(AuditEntry.id)))
    from chatbot.web.sentences import sentence

    return render_template(
        "audit.html", entries=entries, total=total, tz=viewer_zone(), sentence=sentence
    )


def back(default: str) -> Response:
    """Where a form returns to: the page it came from, if it is ours."""
    target = request.form.get("back") or default
    return redirect(_safe_next(target))


def done(message: str, ok: bool = True) -> None:
    flash(message, "ok" if ok else "error")
