"""web and user add|list|remove: the organizer web app and who may sign in to it."""

from __future__ import annotations

import os
import secrets
import sys

import click
from sqlalchemy import select

from chatbot.cli.app import App
from chatbot.db.audit import audit
from chatbot.db.models import User
from chatbot.web.users import (
    ROLES,
    NewPassword,
    add_user,
    check_name,
    check_role,
    new_password,
    remove_user,
    set_password,
    set_role,
)

pass_app = click.make_pass_decorator(App)


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@pass_app
def web_cmd(app: App, host: str, port: int) -> None:
    """The organizer web app, for local use (deploy with gunicorn: see the Procfile)."""
    from werkzeug.serving import run_simple

    from chatbot.web import SECRET_ENV, create_app

    app.config.require_accounts("chatbot web")
    app.long_running = True
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        # Fine on a laptop: sessions simply end when the server stops.
        secret = secrets.token_hex(32)
        app.err.print(
            f"note: {SECRET_ENV} is not set; using a random key, so sign-ins last until this "
            "server stops. Set it in the environment or .env for anything shared.",
            markup=False,
        )
    web = create_app(config=app.config, db=app.db, secret_key=secret, clock=app.clock)
    app.console.print(f"chatbot web on http://{host}:{port}/", markup=False)
    run_simple(host, port, web, threaded=True)


@click.group("user")
def user_group() -> None:
    """Who may sign in to the web app, and with which role."""


def _read_password(password_stdin: bool) -> NewPassword:
    """Read and hash the password before any transaction is opened (argon2 is slow on
    purpose; a write transaction held meanwhile would stall the worker)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return new_password(password)


@user_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the user may do.")
@click.option("--account", help="For a partner: the account key whose posts it sees.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
@click.option("--by", default=None, help="Who is adding the user (for the audit log).")
@pass_app
def user_add(
    app: App, name: str, role: str, account: str | None, password_stdin: bool, by: str | None
) -> None:
    """Add NAME; the password is asked for (never given on the command line)."""
    known = set(app.config.settings.accounts)
    check_name(name)
    check_role(role, account, known)
    password = _read_password(password_stdin)
    now = app.now()
    with app.db.write() as session:
        add_user(session, name, password, role, account, now, known)
        audit(session, now, by or app.default_actor(), "user.add", name, role=role)
    app.console.print(f"added {name} ({role}{', ' + account if account else ''})", markup=False)


@user_group.command("list")
@pass_app
def user_list(app: App) -> None:
    """Every user with its role and, for partners, its account."""
    with app.db.read() as session:
        users = list(session.scalars(select(User).order_by(User.name)))
    if not users:
        app.console.print("no users yet; add one with chatbot user add NAME --role organizer")
    for user in users:
        seen = f"{user.last_login_at:%Y-%m-%d %H:%M}Z" if user.last_login_at else "never"
        app.console.print(
            f"{user.name:<20} {user.role:<10} {user.account_key or '-':<12} last sign-in {seen}",
            markup=False,
        )


@user_group.command("password")
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
@click.option("--by", default=None, help="Who is changing it (for the audit log).")
@pass_app
def user_password(app: App, name: str, password_stdin: bool, by: str | None) -> None:
    """Give NAME a new password; every session it had ends."""
    password = _read_password(password_stdin)
    now = app.now()
    with app.db.write() as session:
        ended = set_password(session, name, password)
        audit(session, now, by or app.default_actor(), "user.password", name, sessions=ended)
    app.console.print(f"{name}: new password; {ended} sessions ended", markup=False)


@user_group.command("role")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="The new role.")
@click.option("--account", help="For a partner: the account key whose posts it sees.")
@click.option("--by", default=None, help="Who is changing it (for the audit log).")
@pass_app
def user_role(app: App, name: str, role: str, account: str | None, by: str | None) -> None:
    """Give NAME another role (or a partner another account); every session it had ends."""
    now = app.now()
    with app.db.write() as session:
        ended = set_role(session, name, role, account, set(app.config.settings.accounts))
        audit(session, now, by or app.default_actor(), "user.role", name, role=role, sessions=ended)
    app.console.print(f"{name} is now {role}; {ended} sessions ended", markup=False)


@user_group.command("remove")
@click.argument("name")
@click.option("--by", default=None, help="Who is removing the user (for the audit log).")
@pass_app
def user_remove(app: App, name: str, by: str | None) -> None:
    """Remove NAME; its sessions stop working at once."""
    now = app.now()
    with app.db.write() as session:
        remove_user(session, name)
        audit(session, now, by or app.default_actor(), "user.remove", name)
    app.console.print(f"removed {name}", markup=False)


__all__ = ["user_group", "web_cmd"]
