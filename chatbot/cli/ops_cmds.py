"""status, db upgrade, settings: looking at and maintaining the installation."""

from __future__ import annotations

import json
from datetime import timedelta

import click
from rich.table import Table
from rich.text import Text

from chatbot.cli.app import App
from chatbot.queue.status import queue_status, unapproved_hint
from chatbot.timeutil import format_duration, zone

pass_app = click.make_pass_decorator(App)


@click.command("status")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="text for people, json for scripts.",
)
@pass_app
def status_cmd(app: App, fmt: str) -> None:
    """Queue overview: per account, counts by state, next due, anything needing attention."""
    now = app.now()
    horizon = timedelta(seconds=app.brief.warn_before)
    with app.queue() as store:
        status = queue_status(store, now, horizon)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "accounts": [
                        {
                            "account": a.key,
                            "platform": a.platform,
                            "paused": a.paused,
                            "paused_reason": a.paused_reason,
                            "counts": dict(a.counts),
                            "next_due": a.next_due.key if a.next_due else None,
                            "next_due_at": a.next_due.scheduled_at.isoformat()
                            if a.next_due
                            else None,
                            "month_spend_usd": round(a.month_spend, 4),
                        }
                        for a in status.accounts
                    ],
                    "attention": [
                        {
                            "post": p.key,
                            "account": p.account_key,
                            "state": p.state,
                            "reason": p.state_reason,
                        }
                        for p in status.attention
                    ],
                    "unapproved": [
                        {
                            "post": p.key,
                            "account": p.account_key,
                            "due_at": p.scheduled_at.isoformat(),
                            "hint": unapproved_hint(p, now),
                        }
                        for p in status.unapproved
                    ],
                    "unapproved_total": status.unapproved_total,
                },
                indent=2,
            )
        )
        return
    table = Table(title="queue", title_justify="left")
    for column in ("account", "platform", "states", "next due", "spend this month"):
        table.add_column(column)
    for account in status.accounts:
        states = ", ".join(f"{k} {v}" for k, v in sorted(account.counts.items())) or "empty"
        next_due = "-"
        if account.next_due is not None:
            tz = zone(app.brief.account_zone_name(account.key))
            when = account.next_due.scheduled_at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
            next_due = f"{account.next_due.key} ({account.next_due.state}) {when}"
        name = account.key + (" [paused]" if account.paused else "")
        cells = (name, account.platform, states, next_due, f"${account.month_spend:.2f}")
        table.add_row(*map(Text, cells))  # text, not markup: "[paused]" is no style
    app.console.print(table)
    for account in status.accounts:
        if account.paused:
            app.console.print(f"paused: {account.key}: {account.paused_reason}", markup=False)
    if status.attention:
        app.console.print(f"needs attention ({len(status.attention)}):", markup=False)
        for post in status.attention:
            app.console.print(
                f"  {post.state:<8} {post.key} ({post.account_key}): {post.state_reason}",
                markup=False,
            )
    if status.unapproved:
        warn = format_duration(horizon)
        app.console.print(
            f"not approved, due within {warn} ({status.unapproved_total}):", markup=False
        )
        for post in status.unapproved:
            app.console.print(f"  {unapproved_hint(post, now)}", markup=False)
        if status.unapproved_total > len(status.unapproved):
            more = status.unapproved_total - len(status.unapproved)
            app.console.print(f"  ... and {more} more", markup=False)
    if not status.attention and not status.unapproved:
        app.console.print("nothing needs attention")


@click.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
@pass_app
def db_upgrade_cmd(app: App) -> None:
    """Create or migrate the schema to the newest version (for deployments)."""
    from chatbot.db.session import Database

    db = Database(app.config.database_url, app.config.lock_wait)
    try:
        db.upgrade()
    finally:
        db.dispose()
    app.console.print(f"database {db.safe_url} is at the newest schema", markup=False)


def settings_markdown() -> str:
    """The settings table as it appears in the README (a test keeps the two equal)."""
    from chatbot.settings import settings_table

    lines = ["| setting | default | what it does |", "|---|---|---|"]
    for row in settings_table():
        default = row["default"]
        shown = "" if default is None else f"`{default}`"
        lines.append(f"| `{row['key']}` | {shown} | {row['help'].replace('|', '/')} |")
    return "\n".join(lines)


@click.command("settings")
@click.option("--markdown", is_flag=True, help="Print the table used in the README.")
def settings_cmd(markdown: bool) -> None:
    """List every setting with its default and help text."""
    from chatbot.settings import settings_table

    if markdown:
        click.echo(settings_markdown())
        return
    for row in settings_table():
        default = "" if row["default"] is None else f" (default: {row['default']!r})"
        click.echo(f"{row['key']}{default}\n    {row['help']}")
