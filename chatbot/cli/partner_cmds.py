"""partner invite|list|disconnect and keys generate|rotate: partners connecting their own
accounts, and the key their tokens are encrypted with."""

from __future__ import annotations

import click
from rich.table import Table

from chatbot.cli.app import App
from chatbot.connect import service
from chatbot.connect.credentials import connected_accounts, rotate_all
from chatbot.connect.crypto import KEY_ENV, TokenBox, generate_key
from chatbot.engine.notify import Notifier

pass_app = click.make_pass_decorator(App)


@click.group("partner")
def partner_group() -> None:
    """Partners connect their own accounts by invite, without sharing secrets."""


@partner_group.command("invite")
@click.argument("account")
@click.option("--by", required=True, help="Who is inviting (for the audit log).")
@pass_app
def partner_invite(app: App, account: str, by: str) -> None:
    """Print a single-use, expiring link for ACCOUNT's partner (shown once, never stored)."""
    link = service.create_invite(app.db, app.config, account, by, app.clock())
    ttl = app.config.settings.connect.invite_ttl
    app.console.print(f"Invite for {account} (single use, expires in {ttl}):", markup=False)
    click.echo(link)


@partner_group.command("list")
@pass_app
def partner_list(app: App) -> None:
    """Every account: connected by invite (with when) or using environment credentials."""
    connected = connected_accounts(app.db)
    table = Table("account", "platform", "credentials", "connected", "refreshed")
    for key, account in sorted(app.config.settings.accounts.items()):
        row = connected.get(key)
        table.add_row(
            key,
            account.platform,
            "connected" if row else account.credentials,
            row.connected_at.strftime("%Y-%m-%d %H:%M UTC") if row else "",
            row.refreshed_at.strftime("%Y-%m-%d %H:%M UTC") if row and row.refreshed_at else "",
        )
    app.console.print(table)


@partner_group.command("disconnect")
@click.argument("account")
@click.option("--by", required=True, help="Who is disconnecting it (for the audit log).")
@pass_app
def partner_disconnect(app: App, account: str, by: str) -> None:
    """Delete ACCOUNT's stored tokens now and hold its waiting posts."""
    held = service.disconnect(
        app.db,
        app.config,
        account,
        by,
        app.clock(),
        TokenBox.from_env(),
        Notifier(app.config.settings.notify.urls),
    )
    app.console.print(
        f"{account} disconnected: tokens deleted, {held} waiting posts held.", markup=False
    )


@click.group("keys")
def keys_group() -> None:
    """The key stored tokens are encrypted with (CHATBOT_TOKEN_KEYS)."""


@keys_group.command("generate")
def keys_generate() -> None:
    """Print a new key; put it first in CHATBOT_TOKEN_KEYS (comma-separated, newest first)."""
    click.echo(generate_key())


@keys_group.command("rotate")
@pass_app
def keys_rotate(app: App) -> None:
    """Re-encrypt every stored token with the first key in CHATBOT_TOKEN_KEYS; afterwards the
    older keys can be removed."""
    count = rotate_all(app.db, TokenBox.from_env())
    app.console.print(
        f"{count} stored credentials re-encrypted with the newest key; the older keys in "
        f"{KEY_ENV} can now be removed.",
        markup=False,
    )
