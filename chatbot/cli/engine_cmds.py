"""run, account pause|resume, settle: the worker and what a person does when it needs one."""

from __future__ import annotations

import os
import sys

import click

from chatbot.cli.app import App
from chatbot.engine.logs import setup_logging
from chatbot.engine.worker import Worker
from chatbot.errors import UserError
from chatbot.queue.accounts import set_account_paused
from chatbot.queue.review import resolve_item
from chatbot.queue.settle import SettleAction, settle

pass_app = click.make_pass_decorator(App)


@click.command("run")
@click.option("--until-idle", is_flag=True, help="Exit once no post is still waiting to be sent.")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    help="Log verbosity.",
)
@pass_app
def run_cmd(app: App, until_idle: bool, log_level: str) -> None:
    """The long-running worker: sends approved posts on time, exactly once."""
    from chatbot.connect.publishers import build_publishers
    from chatbot.engine.clock import SystemClock

    app.config.require_accounts("chatbot run")
    app.long_running = True
    setup_logging(log_level)
    clock = SystemClock()
    publishers = build_publishers(app.config, clock, sys.stdout, app.db)
    control = None
    if app.config.settings.worker.control_socket:
        from chatbot.cli.control import ControlServer

        control = ControlServer(app.config, app.db, clock.now)
    worker = Worker(app.config, app.db, publishers, clock, until_idle=until_idle, control=control)
    worker.install_signal_handlers()
    if not worker.run():
        # A send or a database call is still hanging past worker.stop_timeout. Everything is
        # recorded (see Worker.shutdown); waiting for its thread would overrun the deadline
        # (the platform's request timeout is longer), and Python joins threads at exit.
        app.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@click.group("account")
def account_group() -> None:
    """Pause or resume an account (a paused account posts nothing)."""


def _set_paused(app: App, name: str, paused: bool, by: str, reason: str) -> None:
    app.config.account(name)
    with app.db.write() as session:
        set_account_paused(session, app.config, name, paused, by, reason, app.now())


@account_group.command("pause")
@click.argument("name")
@click.option("--by", required=True, help="Who is pausing it.")
@click.option("--reason", default="paused by a person", help="Shown in status.")
@pass_app
def account_pause(app: App, name: str, by: str, reason: str) -> None:
    """Stop NAME from posting until resumed."""
    _set_paused(app, name, True, by, reason)
    app.console.print(f"{name} paused", markup=False)


@account_group.command("resume")
@click.argument("name")
@click.option("--by", required=True, help="Who is resuming it.")
@pass_app
def account_resume(app: App, name: str, by: str) -> None:
    """Let NAME post again (after fixing its credentials or adding API credit)."""
    _set_paused(app, name, False, by, "")
    app.console.print(f"{name} resumed", markup=False)


@click.command("settle")
@click.argument("post_ref")
@click.option("--posted-url", metavar="URL", help="It did go out: record its URL.")
@click.option("--retry", is_flag=True, help="It did not go out: send it again.")
@click.option("--cancel", is_flag=True, help="Do not send it.")
@click.option("--by", required=True, help="Who settled it.")
@pass_app
def settle_cmd(
    app: App, post_ref: str, posted_url: str | None, retry: bool, cancel: bool, by: str
) -> None:
    """Settle a failed, unknown or held post: mark it posted, retry it, or cancel it."""
    if sum((posted_url is not None, retry, cancel)) != 1:
        raise UserError("choose exactly one of --posted-url URL, --retry or --cancel")
    now = app.now()
    action: SettleAction = "posted" if posted_url is not None else "retry" if retry else "cancel"
    with app.db.write() as session:
        posts = resolve_item(session, post_ref)
        if len(posts) != 1:
            raise UserError(f"{post_ref} names {len(posts)} posts; settle one post at a time")
        reason = settle(session, posts[0], action, by, now, posted_url)
    app.console.print(f"{post_ref}: {reason}", markup=False)
