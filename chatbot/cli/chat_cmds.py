"""chat status|pause|resume|skip|delay|now and rehearse: hosting a chat from the terminal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from chatbot.cli.app import App

if TYPE_CHECKING:  # the rehearsal loads the engine: only `chatbot rehearse` needs it
    from chatbot.engine.rehearsal import RehearsedPost
    from chatbot.queue.views import ChatStore
from chatbot.errors import UserError
from chatbot.queue import live
from chatbot.timeutil import TimeFormatError, parse_duration, zone

pass_app = click.make_pass_decorator(App)


def _local(when: datetime | None, tz_name: str) -> str:
    return "" if when is None else f"{when.astimezone(zone(tz_name)):%H:%M:%S %Z}"


def _print_status(app: App, status: live.ChatStatus) -> None:
    from rich.table import Table
    from rich.text import Text

    chat = status.chat
    app.console.print(
        f"{chat.key}: {status.state} (version {chat.control_version}) · host {chat.host}",
        markup=False,
    )
    table = Table(show_edge=False, pad_edge=False)
    for column in ("post", "time", "state", "reposts", "note"):
        table.add_column(column)
    deps: dict[int, list[str]] = {}
    for dep in status.dependents:
        if dep.depends_on_id is not None:
            deps.setdefault(dep.depends_on_id, []).append(f"{dep.account_key}:{dep.state}")
    nxt = status.next
    for post in status.posts:
        when = post.posted_at if post.posted_at else post.scheduled_at
        marker = " ← next" if nxt is not None and post.id == nxt.id else ""
        # Text, not markup: a platform's error may hold "[...]" (rich would drop it, or fail).
        table.add_row(
            *map(
                Text,
                (
                    live.label(post) + marker,
                    _local(when, chat.timezone),
                    str(post.state),
                    ", ".join(deps.get(post.id, [])),
                    post.state_reason or "",
                ),
            )
        )
    app.console.print(table)


@click.group("chat")
def chat_group() -> None:
    """Steer a live chat while `chatbot run` is running: each control takes effect within a
    second, is audited, and is safe to repeat."""


def _control(
    app: App, action: Callable[..., live.ControlResult], chat_id: str, **kwargs: Any
) -> live.ControlResult:
    now = app.now()
    with app.queue(write=True) as store:
        result = action(store, chat_id, now, **kwargs)
    app.say(result.message)
    return result


_by = click.option("--by", help="Who is doing it (default: $CHATBOT_USER or your login).")
_if_version = click.option(
    "--if-version",
    "expect_version",
    type=int,
    help="Refuse if the chat changed since this version (shown by chat status).",
)


@chat_group.command("status")
@click.argument("chat_id")
@pass_app
def chat_status(app: App, chat_id: str) -> None:
    """Show CHAT_ID's posts, what went out, what is next, and its version."""
    with app.queue() as store:
        status = live.load_status(store, chat_id)
        _print_status(app, status)
        _print_answers(app, store, chat_id)


def _print_answers(app: App, store: ChatStore, chat_id: str) -> None:
    """The recap: answers per question and platform (what outlives the purge of the posts)."""
    counts = store.answer_counts(chat_id)
    if not counts:
        return
    by_question: dict[int, list[tuple[str, int]]] = {}
    for (question, platform), answers in sorted(counts.items()):
        by_question.setdefault(question, []).append((app.brief.label(platform), answers))
    parts = []
    for question in sorted(by_question, key=lambda q: (q == 0, q)):
        each = by_question[question]
        name = f"Q{question}" if question else "not placed"
        detail = " · ".join(f"{label} {n}" for label, n in each)
        parts.append(f"{name} {sum(n for _, n in each)} ({detail})")
    app.console.print(f"answers: {sum(counts.values())} in all; " + ", ".join(parts), markup=False)


@chat_group.command("pause")
@click.argument("chat_id")
@_by
@_if_version
@pass_app
def chat_pause(app: App, chat_id: str, by: str | None, expect_version: int | None) -> None:
    """Hold every later post of CHAT_ID (and their reposts) until resumed."""
    _control(app, live.pause, chat_id, by=by or app.default_actor(), expect_version=expect_version)


@chat_group.command("resume")
@click.argument("chat_id")
@click.option(
    "--shift/--keep-times",
    "shift",
    default=None,
    help="Move the rest later by the pause (default: live.resume), or keep the original "
    "times and skip what fell due during the pause.",
)
@_by
@_if_version
@pass_app
def chat_resume(
    app: App, chat_id: str, shift: bool | None, by: str | None, expect_version: int | None
) -> None:
    """Resume a paused CHAT_ID."""
    mode = app.brief.resume if shift is None else ("shift" if shift else "keep")
    _control(
        app,
        live.resume,
        chat_id,
        by=by or app.default_actor(),
        mode=mode,
        expect_version=expect_version,
    )


@chat_group.command("skip")
@click.argument("chat_id")
@click.option("--question", type=int, help="Skip this question (default: the next post).")
@_by
@_if_version
@pass_app
def chat_skip(
    app: App, chat_id: str, question: int | None, by: str | None, expect_version: int | None
) -> None:
    """Drop the next post of CHAT_ID (or question N); later times are unchanged."""
    number = question
    if number is None:  # for the hint below: which question "the next" was
        with app.queue() as store:
            upcoming = live.load_status(store, chat_id).next
            number = upcoming.number if upcoming is not None else None
    result = _control(
        app,
        live.skip,
        chat_id,
        by=by or app.default_actor(),
        number=question,
        expect_version=expect_version,
    )
    if result.changed and question is None and number is not None:
        app.say(f"to repeat this safely use `chatbot chat skip {chat_id} --question {number}`")


@chat_group.command("delay")
@click.argument("chat_id")
@click.argument("duration")
@_by
@_if_version
@pass_app
def chat_delay(
    app: App, chat_id: str, duration: str, by: str | None, expect_version: int | None
) -> None:
    """Move every remaining post of CHAT_ID later by DURATION (e.g. 5m)."""
    if _is_duration(chat_id) and not _is_duration(duration):
        chat_id, duration = duration, chat_id  # `chat delay 5m fr-chat` reads naturally too
    _control(
        app,
        live.delay,
        chat_id,
        by=by or app.default_actor(),
        by_how_much=_duration(duration),
        expect_version=expect_version,
    )


@chat_group.command("now")
@click.argument("chat_id")
@click.option("--question", type=int, help="Post this question now (default: the next post).")
@_by
@_if_version
@pass_app
def chat_now(
    app: App, chat_id: str, question: int | None, by: str | None, expect_version: int | None
) -> None:
    """Post the next post of CHAT_ID (or question N) immediately."""
    _control(
        app,
        live.post_now,
        chat_id,
        by=by or app.default_actor(),
        number=question,
        expect_version=expect_version,
    )


def _is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except TimeFormatError:
        return False
    return True


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except TimeFormatError as exc:
        raise UserError(f"DURATION: {exc}") from None


def describe(item: RehearsedPost, tz_name: str) -> str:
    """One rehearsed post as the rehearsal prints it."""
    when = _local(item.at, tz_name)
    if item.repost_of is not None:
        body = f"reposts {item.key.split('@', 1)[0]}"
    else:
        body = f"[{item.weighted}/{item.limit}] {item.text}"
        if item.reply_to:
            body += f" (reply to {item.reply_to})"
    cards = "".join(f"\n    card: {path}" for path in item.cards)
    return f"{when}  {item.account:<10} {item.key:<22} {body}{cards}"


@click.command("rehearse")
@click.argument("chat_id")
@click.option(
    "--speed",
    type=float,
    default=60.0,
    show_default=True,
    help="Times real speed (60: a minute of the chat per second).",
)
@pass_app
def rehearse_cmd(app: App, chat_id: str, speed: float) -> None:
    """Play CHAT_ID through the dry-run publisher at SPEED times real speed; works before
    approval and touches neither the queue nor any account."""
    from chatbot.engine.rehearsal import Rehearsal

    content = app.content()
    spec = content.chats.get(chat_id)
    tz_name = (spec.timezone if spec else None) or app.config.account_zone_name(
        spec.hosts[0] if spec else ""
    )
    rehearsal = Rehearsal(
        app.config,
        content,
        chat_id,
        speed=speed,
        on_post=lambda item: app.console.print(describe(item, tz_name), markup=False),
    )
    posts = rehearsal.run()
    app.console.print(f"rehearsed {len(posts)} posts of {chat_id}", markup=False)


@chat_group.command("follow")
@click.argument("chat_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="json: one object a line (platform, question, author, url, text, at).",
)
@pass_app
def follow_cmd(app: App, chat_id: str, fmt: str) -> None:
    """Print the chat's answers as they arrive, on every platform it is hosted on, until its
    follow window closes or Ctrl-C (a running `chatbot run` reads them)."""
    from chatbot.cli.follow import follow

    follow(app, chat_id, fmt)
