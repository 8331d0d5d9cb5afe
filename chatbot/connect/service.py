"""Connecting and disconnecting partner accounts: the steps the web app and the CLI share.

Each step runs in one transaction and is audited; organizers are told of every connect,
disconnect and refresh failure. Secrets the partner hands over (tokens, an app password) go
straight into the encrypted credentials table and are never shown again. What differs between
platforms (the sign-in, the exchange, revoking) is the platform registry's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.config import Config
from chatbot.connect import credentials, invites
from chatbot.connect.crypto import TokenBox
from chatbot.db.audit import audit
from chatbot.db.models import Account, Credential, Invite, Post, PostState
from chatbot.db.session import Database
from chatbot.errors import ConfigError, UserError
from chatbot.platforms import Connection, platform_named
from chatbot.publishers.base import PublishError
from chatbot.queue.accounts import set_account_paused, sync_accounts
from chatbot.timeutil import format_duration

Notify = Callable[..., None]
DISCONNECTED = "account disconnected by its partner"
NOT_CONNECTED = "waiting for its partner to connect"
# Not yet handed to the platform: a disconnect holds these.
WAITING = (PostState.DRAFT, PostState.APPROVED, PostState.QUEUED)


def create_invite(db: Database, config: Config, account: str, by: str, now: datetime) -> str:
    """A single-use link for ``account``; the link is returned once and never stored."""
    settings = config.settings
    if account not in settings.accounts:
        known = ", ".join(sorted(settings.accounts))
        raise UserError(f"no account {account!r} in {config.path.name}; known accounts: {known}")
    platform = platform_named(settings.accounts[account].platform)
    if platform.connect_by is None:
        raise UserError(f"{account} is a {platform.name} account: there is nothing to connect")
    ttl = settings.connect.invite_ttl
    with db.write() as session:
        token = invites.create(session, account, by, now, ttl)
        audit(
            session,
            now,
            by,
            "partner.invited",
            account,
            expires_in=format_duration(settings.connect.invite_ttl),
        )
    return f"{settings.web.public_url.rstrip('/')}/connect/{token}"


def open_invite(db: Database, token: str, now: datetime) -> Invite:
    with db.read() as session:
        invite = invites.find(session, token, now)
        session.expunge(invite)
    return invite


def start_oauth(db: Database, config: Config, token: str, now: datetime, box: TokenBox) -> str:
    """The platform sign-in URL for the invite's account; remembers state and what the
    callback needs (PKCE verifier, the app registered on an instance), sealed.

    Network calls (registering the app on a Mastodon instance) happen between two short
    transactions, never inside one: SQLite has one writer, and the worker is it."""
    invite = open_invite(db, token, now)
    account = config.settings.accounts[invite.account_key]
    platform = platform_named(account.platform)
    if platform.connect_by != "oauth":
        raise UserError(f"{invite.account_key} is a {platform.label} account: no sign-in step")
    state = invites.new_state()
    try:
        url, keep = platform.authorization(config.settings, account, state)
    except PublishError as exc:
        where = account.instance_url or platform.label
        raise UserError(f"{where} did not accept the app: {exc.message}") from None
    with db.write() as session:
        current = invites.find(session, token, now)  # still open: nobody used it meanwhile
        invites.begin_oauth(current, state)
        current.oauth_secret = box.seal(keep)
    return url


def _connected(
    session: Session,
    invite: Invite,
    platform: str,
    connection: Connection,
    now: datetime,
    box: TokenBox,
) -> None:
    by = f"partner via invite from {invite.created_by}"
    credentials.save(
        session,
        box,
        invite.account_key,
        platform,
        connection.kind,
        dict(connection.secrets),
        connection.expires_at,
        by,
        now,
    )
    invites.consume(invite, now)
    row = session.scalars(select(Account).where(Account.key == invite.account_key)).first()
    reason = row.paused_reason or "" if row is not None else ""
    if row is not None and (DISCONNECTED in reason or NOT_CONNECTED in reason):
        row.paused, row.paused_reason = False, None
        for post in session.scalars(
            select(Post).where(
                Post.account_key == invite.account_key,
                Post.held.is_(True),
                Post.state_reason == f"held: {DISCONNECTED}",
            )
        ):
            post.held, post.state_reason = False, None
    audit(session, now, "partner", "partner.connected", invite.account_key, platform=platform)


def finish_oauth(
    db: Database,
    config: Config,
    platform_name: str,
    state: str,
    code: str,
    now: datetime,
    box: TokenBox,
    notify: Notify,
) -> str:
    """The callback: exchange the code, store the tokens encrypted, use up the invite. The
    exchange (a network call) runs between two short transactions, not inside one."""
    with db.read() as session:
        invite = invites.by_state(session, state, now)
        key, saved_secret = invite.account_key, invite.oauth_secret or ""
    account = config.settings.accounts[key]
    if account.platform != platform_name:
        raise UserError("the sign-in came back for the wrong platform: start again")
    platform = platform_named(platform_name)
    try:
        connection = platform.finish_authorization(
            config.settings, account, box.open(saved_secret), code, now
        )
    except PublishError as exc:
        raise UserError(f"connecting failed: {exc.message}; start again") from None
    with db.write() as session:
        sync_accounts(session, config)
        invite = invites.by_state(session, state, now)  # not used meanwhile by another tab
        _connected(session, invite, platform.name, connection, now, box)
    notify(f"Partner account {key} connected", f"{key} connected its {platform.label} account.")
    return key


def connect_with_app_password(
    db: Database,
    config: Config,
    token: str,
    app_password: str,
    now: datetime,
    box: TokenBox,
    notify: Notify,
) -> str:
    """Check the app password by signing in once, then store it encrypted."""
    invite = open_invite(db, token, now)
    account = config.settings.accounts[invite.account_key]
    platform = platform_named(account.platform)
    if platform.connect_by != "app_password":
        raise UserError(f"{invite.account_key} does not connect with an app password")
    app_password = app_password.strip()
    if not app_password:
        raise UserError("enter the app password (Settings > Privacy and security > App passwords)")
    try:
        connection = platform.app_password(
            config.settings, invite.account_key, account, app_password
        )
    except PublishError as exc:
        raise UserError(
            f"{platform.label} did not accept that app password for {account.handle}: {exc.message}"
        ) from None
    with db.write() as session:
        sync_accounts(session, config)
        invite = invites.find(session, token, now)  # still open: nobody used it meanwhile
        _connected(session, invite, platform.name, connection, now, box)
    notify(
        f"Partner account {invite.account_key} connected",
        f"{invite.account_key} connected its {platform.label} account.",
    )
    return invite.account_key


def disconnect(
    db: Database,
    config: Config,
    account: str,
    by: str,
    now: datetime,
    box: TokenBox,
    notify: Notify,
) -> int:
    """Delete the account's tokens now, hold its waiting posts, revoke at the platform
    (best effort). Returns how many posts were held."""
    found = credentials.load(db, box, account)
    with db.write() as session:
        sync_accounts(session, config)
        removed = credentials.remove(session, account)
        if not removed:
            raise UserError(f"{account} is not connected")
        row = session.scalars(select(Account).where(Account.key == account)).one()
        row.paused, row.paused_reason = True, f"paused: {DISCONNECTED}"
        held = 0
        for post in session.scalars(
            select(Post).where(Post.account_key == account, Post.state.in_(WAITING))
        ):
            post.held, post.state_reason, post.updated_at = True, f"held: {DISCONNECTED}", now
            held += 1
        audit(session, now, by, "partner.disconnected", account, held=held)
    if found is not None:
        _revoke(config, account, found[0], found[1])
    notify(
        f"Partner account {account} disconnected",
        f"{by} disconnected {account}; its tokens are deleted and {held} waiting posts are held.",
    )
    return held


def _revoke(config: Config, account: str, row: Credential, secrets: dict[str, object]) -> None:
    # Best effort: the tokens are gone from here either way.
    with contextlib.suppress(ConfigError, PublishError):
        platform_named(row.platform).revoke(
            config.settings, config.settings.accounts[account], secrets
        )


def set_paused(
    db: Database, config: Config, account: str, paused: bool, by: str, now: datetime
) -> None:
    with db.write() as session:
        set_account_paused(session, config, account, paused, by, f"paused by {by}", now)
