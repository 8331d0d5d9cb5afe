"""``chatbot chat follow``: the chat's answers in a terminal, as the console shows them.

It reads what the worker (``chatbot run``) has read from the platforms, once a second, until
the chat's follow window closes or Ctrl-C; it never calls a platform itself, so following in
a terminal costs no API reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TextIO

import click

from chatbot.answers import store
from chatbot.cli.app import App
from chatbot.db.models import Answer
from chatbot.platforms import platform_named
from chatbot.queue import live
from chatbot.timeutil import zone

PAGE = 500  # answers printed per read; a follow started late pages through what is held


def _line(answer: Answer, tz: str) -> str:
    question = f"Q{answer.question}" if answer.question else "--"
    at = answer.created_at.astimezone(zone(tz))
    label = platform_named(answer.platform).label
    text = " ".join(answer.text.split())
    return f"{question:<4} {label:<9} {at:%H:%M:%S} {answer.author}: {text}  {answer.url}"


def _json(answer: Answer) -> str:
    return json.dumps(
        {
            "platform": answer.platform,
            "question": answer.question,
            "author": answer.author,
            "url": answer.url,
            "text": answer.text,
            "at": answer.created_at.isoformat().replace("+00:00", "Z"),
        },
        ensure_ascii=False,
    )


def follow(
    app: App,
    chat_id: str,
    fmt: str,
    out: TextIO | None = None,
    wait: Callable[[float], object] = time.sleep,
    every: float = 1.0,
) -> int:
    """Print answers until the window closes; returns how many were printed."""
    settings = app.config.settings
    db = app.db
    with db.read() as session:
        live.load_status(session, chat_id)  # a clear error for an unknown chat
    printed, last_id = 0, 0
    said: dict[str, str] = {}
    announced = False
    try:
        while True:
            now = app.now()
            with db.read() as session:
                followed = store.chats(session, settings, [chat_id])
                if not followed:
                    click.echo(f"{chat_id} has no posts to follow answers to", err=True)
                    return printed
                chat = followed[0]
                new = store.listed(
                    session, chat_id, None, after_id=last_id, limit=PAGE, oldest_first=True
                )
                problems = {s.platform: s.problem for s in store.sources(session, chat_id)}
            if not announced:
                announced = True
                hosts = ", ".join(sorted(platform_named(p).label for p in chat.hosts))
                ends = chat.ends.astimezone(zone(chat.timezone))
                click.echo(
                    f"following {chat.hashtag} on {hosts} until {ends:%a %d %b %H:%M %Z}"
                    " (Ctrl-C stops)",
                    err=True,
                )
            for platform, problem in problems.items():
                if problem and said.get(platform) != problem:
                    click.echo(f"{platform_named(platform).label}: {problem}", err=True)
                said[platform] = problem or ""
            for answer in new:
                line = _json(answer) if fmt == "json" else _line(answer, chat.timezone)
                click.echo(line, file=out)
                printed += 1
                last_id = answer.id
            if len(new) == PAGE:
                continue  # more already waiting: no pause before the next page
            if now >= chat.ends:
                click.echo(f"the follow window closed; {printed} answers printed", err=True)
                return printed
            wait(every)
    except KeyboardInterrupt:  # Ctrl-C: a clean stop (exit 0), whatever it interrupted
        return printed
