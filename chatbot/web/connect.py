"""Partner onboarding in the web app.

Public (the invite token is the credential): the invite page, which shows what the account
will post and when before anything is granted, and the platform sign-in round trips. Signed in:
organizers list accounts and create invites; a partner sees its own account only (no account
is ever taken from the request, so one partner cannot reach another's), pauses it or
disconnects it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for
from sqlalchemy import select

from chatbot.connect import service
from chatbot.connect.credentials import connected_accounts
from chatbot.connect.crypto import TokenBox
from chatbot.db.models import Account, Post
from chatbot.engine.notify import Notifier
from chatbot.errors import ConfigError, UserError
from chatbot.platforms import PLATFORMS, platform_named
from chatbot.web.pages import config, database, done, now, require, row, user

connect = Blueprint("connect", __name__)
PUBLIC = frozenset({"connect.invite", "connect.start", "connect.app_password", "connect.callback"})


def _notify() -> Notifier:
    return Notifier(config().settings.notify.urls)


def _box() -> TokenBox:
    try:
        return TokenBox.from_env()
    except ConfigError as exc:
        page = render_template("error.html", title="Connecting is not set up", text=exc.message)
        abort(make_response(page, 503))


def _problem(title: str, text: str, code: int = 400) -> Any:
    return render_template("error.html", title=title, text=text, code=code), code


def _upcoming(account: str, limit: int = 50) -> list[dict[str, Any]]:
    with database().read() as session:
        posts = list(
            session.scalars(
                select(Post)
                .where(Post.account_key == account, Post.state.in_(service.WAITING))
                .order_by(Post.scheduled_at)
                .limit(limit)
            )
        )
        ids = {p.depends_on_id for p in posts if p.depends_on_id is not None}
        originals = (
            {o.id: o for o in session.scalars(select(Post).where(Post.id.in_(ids)))} if ids else {}
        )
        for post in (*posts, *originals.values()):
            session.expunge(post)
    rows = []
    for post in posts:
        entry = row(post)
        # A repost amplifies the original's words and card: the partner sees exactly those.
        original = originals.get(post.depends_on_id) if post.depends_on_id else None
        entry["original"] = row(original) if original is not None else None
        rows.append(entry)
    return rows


# -- the invite link (public) -----------------------------------------------------------------


@connect.route("/connect/<token>")
def invite(token: str) -> Any:
    try:
        found = service.open_invite(database(), token, now())
    except UserError as exc:
        return _problem("Invite not usable", exc.message)
    account = config().settings.accounts[found.account_key]
    return render_template(
        "connect.html",
        platform=platform_named(account.platform),
        token=token,
        invite=found,
        account=account,
        rows=_upcoming(found.account_key),
        tz=config().account_zone_name(found.account_key),
    )


@connect.route("/connect/<token>/start", methods=["POST"])
def start(token: str) -> Any:
    try:
        url = service.start_oauth(database(), config(), token, now(), _box())
    except (UserError, ConfigError) as exc:
        return _problem("Could not start signing in", exc.message)
    return redirect(url)


@connect.route("/connect/<token>/app-password", methods=["POST"])
def app_password(token: str) -> Any:
    try:
        key = service.connect_with_app_password(
            database(),
            config(),
            token,
            request.form.get("app_password", ""),
            now(),
            _box(),
            _notify(),
        )
    except UserError as exc:
        return _problem("Not connected", exc.message)
    return render_template("connected.html", account=key)


@connect.route("/connect/<platform>/callback")
def callback(platform: str) -> Any:
    """Where a platform's sign-in comes back ({public_url}/connect/x/callback and so on)."""
    if platform not in PLATFORMS or PLATFORMS[platform].connect_by != "oauth":
        abort(404)
    if request.args.get("error"):
        return _problem("Not connected", "The sign-in was cancelled or refused; nothing changed.")
    state, code = request.args.get("state", ""), request.args.get("code", "")
    if not state or not code:
        return _problem("Not connected", "The sign-in came back incomplete: start again.")
    try:
        key = service.finish_oauth(
            database(), config(), platform, state, code, now(), _box(), _notify()
        )
    except (UserError, ConfigError) as exc:
        return _problem("Not connected", exc.message)
    return render_template("connected.html", account=key)


# -- organizers -------------------------------------------------------------------------------


def connection_state(settings: Any, credential: Any) -> tuple[str, bool]:
    """How the account would post now, in words, and whether it can: connected by its partner,
    credentials in the environment (named, never shown), or nothing yet."""
    import os

    platform = platform_named(settings.platform)
    if credential is not None:
        return "connected by the partner", True
    if not platform.credential_names:
        return "dry run: records what it would post", True
    if settings.credentials == "invite":
        return "not connected yet: waiting for the partner to accept its invite", False
    names = [f"{settings.env_prefix}_{n}" for n in platform.credential_names]
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        return f"credentials missing from the environment: {', '.join(missing)}", False
    return "credentials from the environment", True


@connect.route("/partners")
def partners() -> Any:
    require("partners")
    connected = connected_accounts(database())
    with database().read() as session:
        accounts = {a.key: a for a in session.scalars(select(Account))}
        for account in accounts.values():
            session.expunge(account)
    entries = [
        {
            "key": key,
            "settings": settings,
            "platform": platform_named(settings.platform),
            "row": accounts.get(key),
            "credential": connected.get(key),
            "connection": connection_state(settings, connected.get(key)),
        }
        for key, settings in sorted(config().settings.accounts.items())
    ]
    return render_template("partners.html", entries=entries, link=None)


@connect.route("/partners/<account>/invite", methods=["POST"])
def create_invite(account: str) -> Any:
    require("partners")
    try:
        link = service.create_invite(database(), config(), account, user().name, now())
    except UserError as exc:
        done(exc.message, ok=False)
        return redirect(url_for("connect.partners"))
    return render_template("invite_link.html", account=account, link=link)


@connect.route("/partners/<account>/disconnect", methods=["POST"])
def organizer_disconnect(account: str) -> Any:
    require("partners")
    return _disconnect(account)


# -- a partner's own account ------------------------------------------------------------------


@connect.route("/partner")
def partner_view() -> Any:
    require("own_account")
    key = user().account_key or ""
    with database().read() as session:
        account = session.scalars(select(Account).where(Account.key == key)).first()
        if account is not None:
            session.expunge(account)
    credential = connected_accounts(database()).get(key)
    return render_template(
        "partner.html",
        key=key,
        account=account,
        credential=credential,
        rows=_upcoming(key),
        tz=config().account_zone_name(key),
    )


@connect.route("/partner/pause", methods=["POST"])
def partner_pause() -> Any:
    require("own_account")
    paused = request.form.get("paused") == "1"
    key = user().account_key or ""
    service.set_paused(database(), config(), key, paused, user().name, now())
    done(f"{key} {'paused: nothing will be posted' if paused else 'resumed'}.")
    return redirect(url_for("connect.partner_view"))


@connect.route("/partner/disconnect", methods=["POST"])
def partner_disconnect() -> Any:
    require("own_account")
    return _disconnect(user().account_key or "")


def _disconnect(account: str) -> Any:
    try:
        held = service.disconnect(
            database(), config(), account, user().name, now(), _box(), _notify()
        )
    except UserError as exc:
        done(exc.message, ok=False)
    else:
        done(f"{account} disconnected: its tokens are deleted and {held} waiting posts are held.")
    target = "connect.partner_view" if user().role == "partner" else "connect.partners"
    return redirect(url_for(target))
