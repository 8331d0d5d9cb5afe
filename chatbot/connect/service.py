"""Connecting and disconnecting partner accounts: the steps the web app and the CLI share.

Each step runs in one transaction and is audited; organizers are told of every connect,
disconnect and refresh failure. Secrets the partner hands over (tokens, a Bluesky app password)
go straight into the encrypted credentials table and are never shown again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.config import Config
from chatbot.connect import credentials, invites
from chatbot.connect.crypto import TokenBox
from chatbot.db.models import Account, Credential, Invite, Post, PostState
from chatbot.db.session import Database
from chatbot.errors import ConfigError, UserError
from chatbot.publishers.base import PublishError
from chatbot.queue.apply import audit, set_account_paused, sync_accounts
from chatbot.timeutil import parse_duration

if TYPE_CHECKING:  # tweepy is imported only when X is used
    from chatbot.publishers.x import XOAuthApp

Notify = Callable[..., None]
DISCONNECTED = "account disconnected by its partner"
NOT_CONNECTED = "waiting for its partner to connect"
# Not yet handed to the platform: a disconnect holds these.
WAITING = (PostState.DRAFT, PostState.APPROVED, PostState.QUEUED)


def x_app(config: Config) -> XOAuthApp:
    """The X OAuth 2.0 client of this installation (client id and secret from the env)."""
    from chatbot.publishers.x import XOAuthApp

    client_id = os.environ.get("X_CLIENT_ID", "")
    if not client_id:
        raise ConfigError(
            "X_CLIENT_ID is not set: create an OAuth 2.0 app in the X developer portal "
            f"(callback {config.settings.web.public_url.rstrip('/')}/connect/x/callback) and put "
            "its client id (and X_CLIENT_SECRET for a confidential client) in the environment"
        )
    x = config.settings.platforms.x
    return XOAuthApp(
        client_id,
        os.environ.get("X_CLIENT_SECRET") or None,
        f"{config.settings.web.public_url.rstrip('/')}/connect/x/callback",
        x.oauth_authorize_url,
        x.oauth_token_url,
        x.oauth_revoke_url,
        x.request_timeout,
    )


def _mastodon_redirect(config: Config) -> str:
    return f"{config.settings.web.public_url.rstrip('/')}/connect/mastodon/callback"


def create_invite(db: Database, config: Config, account: str, by: str, now: datetime) -> str:
    """A single-use link for ``account``; the link is returned once and never stored."""
    settings = config.settings
    if account not in settings.accounts:
        known = ", ".join(sorted(settings.accounts))
        raise UserError(f"no account {account!r} in {config.path.name}; known accounts: {known}")
    platform = settings.accounts[account].platform
    if platform not in ("x", "mastodon", "bluesky"):
        raise UserError(f"{account} is a {platform} account: there is nothing to connect")
    ttl = parse_duration(settings.connect.invite_ttl)
    with db.write() as session:
        token = invites.create(session, account, by, now, ttl)
        audit(session, now, by, "partner.invited", account, expires_in=settings.connect.invite_ttl)
    return f"{settings.web.public_url.rstrip('/')}/connect/{token}"


def open_invite(db: Database, token: str, now: datetime) -> Invite:
    with db.read() as session:
        invite = invites.find(session, token, now)
        session.expunge(invite)
    return invite


def start_oauth(db: Database, config: Config, token: str, now: datetime, box: TokenBox) -> str:
    """The platform sign-in URL for the invite's account; remembers state and PKCE verifier.

    Network calls (registering the app on a Mastodon instance) happen between two short
    transactions, never inside one: SQLite has one writer, and the worker is it."""
    invite = open_invite(db, token, now)
    account = config.settings.accounts[invite.account_key]
    if account.platform == "x":
        from chatbot.publishers.x import x_authorization_url

        app = x_app(config)
        state = invites.new_state()
        url, verifier = x_authorization_url(app, state)
        sealed = box.seal({"verifier": verifier})
    elif account.platform == "mastodon":
        from chatbot.publishers.mastodon import mastodon_authorization_url, mastodon_register_app

        instance = account.instance_url or ""
        try:
            client_id, client_secret = mastodon_register_app(
                instance, _mastodon_redirect(config), config.settings.web.public_url
            )
        except PublishError as exc:
            raise UserError(f"{instance} did not accept the app: {exc.message}") from None
        state = invites.new_state()
        sealed = box.seal({"client_id": client_id, "client_secret": client_secret})
        url = mastodon_authorization_url(
            instance, client_id, client_secret, _mastodon_redirect(config), state
        )
    else:
        raise UserError(f"{invite.account_key} is a {account.platform} account: no sign-in step")
    with db.write() as session:
        current = invites.find(session, token, now)  # still open: nobody used it meanwhile
        invites.begin_oauth(current, state)
        current.oauth_secret = sealed
    return url


def _connected(
    session: Session,
    invite: Invite,
    platform: str,
    kind: str,
    secrets: Mapping[str, object],
    expires_at: datetime | None,
    now: datetime,
    box: TokenBox,
) -> None:
    by = f"partner via invite from {invite.created_by}"
    credentials.save(
        session, box, invite.account_key, platform, kind, dict(secrets), expires_at, by, now
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
    platform: str,
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
    if account.platform != platform:
        raise UserError("the sign-in came back for the wrong platform: start again")
    saved = box.open(saved_secret)
    try:
        if platform == "x":
            from chatbot.publishers.x import x_exchange_code

            tokens = x_exchange_code(x_app(config), code, str(saved["verifier"]))
            expires = now + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
            secrets: dict[str, object] = {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
            }
            kind = "oauth2"
        else:
            from chatbot.publishers.mastodon import mastodon_exchange_code

            token = mastodon_exchange_code(
                account.instance_url or "",
                str(saved["client_id"]),
                str(saved["client_secret"]),
                _mastodon_redirect(config),
                code,
            )
            secrets, expires, kind = {**saved, "access_token": token}, None, "oauth"
    except PublishError as exc:
        raise UserError(f"connecting failed: {exc.message}; start again") from None
    with db.write() as session:
        sync_accounts(session, config)
        invite = invites.by_state(session, state, now)  # not used meanwhile by another tab
        _connected(session, invite, platform, kind, secrets, expires, now, box)
    notify(f"Partner account {key} connected", f"{key} connected its {platform} account.")
    return key


def connect_bluesky(
    db: Database,
    config: Config,
    token: str,
    app_password: str,
    now: datetime,
    box: TokenBox,
    notify: Notify,
) -> str:
    """Check the app password by logging in once, then store it encrypted."""
    from chatbot.publishers.bluesky import BlueskyPublisher

    invite = open_invite(db, token, now)
    account = config.settings.accounts[invite.account_key]
    if account.platform != "bluesky":
        raise UserError(f"{invite.account_key} is not a Bluesky account")
    app_password = app_password.strip()
    if not app_password:
        raise UserError("enter the app password (Settings > Privacy and security > App passwords)")
    probe = BlueskyPublisher(
        invite.account_key,
        account.handle,
        app_password=app_password,
        base_url=account.instance_url or config.settings.platforms.bluesky.api_base_url,
        timeout=config.settings.platforms.bluesky.request_timeout,
    )
    try:
        probe.check_credentials()
    except PublishError as exc:
        raise UserError(
            f"Bluesky did not accept that app password for {account.handle}: {exc.message}"
        ) from None
    finally:
        probe.close()
    with db.write() as session:
        sync_accounts(session, config)
        invite = invites.find(session, token, now)  # still open: nobody used it meanwhile
        secrets = {"app_password": app_password}
        _connected(session, invite, "bluesky", "app_password", secrets, None, now, box)
    notify(
        f"Partner account {invite.account_key} connected",
        f"{invite.account_key} connected its Bluesky account.",
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
    token = str(secrets.get("access_token") or "")
    if not token:
        return
    try:
        if row.platform == "x":
            from chatbot.publishers.x import x_revoke

            x_revoke(x_app(config), token)
        elif row.platform == "mastodon":
            from chatbot.publishers.mastodon import mastodon_revoke

            mastodon_revoke(
                config.settings.accounts[account].instance_url or "",
                str(secrets.get("client_id", "")),
                str(secrets.get("client_secret", "")),
                token,
            )
    except (ConfigError, PublishError):
        pass  # the tokens are gone from here either way


def set_paused(
    db: Database, config: Config, account: str, paused: bool, by: str, now: datetime
) -> None:
    with db.write() as session:
        set_account_paused(session, config, account, paused, by, f"paused by {by}", now)
