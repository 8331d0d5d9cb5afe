"""The console's answers: the current question's answers as they arrive, counts per question
and platform, what each platform's reading is missing, and the host's like, repost and reply.

Its page route joins the ``pages`` blueprint (the actions' route is in ``actions``).
The fragment is small and read in two queries, so the page can fetch it every second.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from flask import abort, jsonify, render_template, request
from sqlalchemy import func, select

from chatbot.answers import actions as answer_actions
from chatbot.answers import store
from chatbot.db.models import Answer
from chatbot.platforms import platform_named
from chatbot.timeutil import format_duration
from chatbot.web.pages import config, database, now, pages, require

SHOWN = 50  # answers listed at once: the newest; the counts cover all of them
STALE = timedelta(seconds=30)  # a platform not read for this long: is the worker running?


def answers_view(session: Any, key: str, question: int | None) -> dict[str, Any]:
    followed = store.chats(session, config().settings, [key])
    if not followed:
        abort(404)
    chat = followed[0]
    posted = sorted({q.number for q in chat.questions if q.remote_id})
    current = posted[-1] if posted else None
    shown = question if question is not None else current
    counts = store.counts(session, key)
    platforms = sorted(chat.hosts, key=lambda p: platform_named(p).label)
    # The questions out so far (and any with answers): not the whole script's empty rows.
    numbers = sorted(set(posted) | {q for q, _ in counts if q})
    rows = [
        {
            "number": n,
            "label": f"Q{n}" if n else "Not placed",
            "by_platform": [counts.get((n, p), 0) for p in platforms],
            "total": sum(counts.get((n, p), 0) for p in platforms),
        }
        for n in [*numbers, 0]
        if n or counts_unplaced(counts)
    ]
    sources = {s.platform: s for s in store.sources(session, key)}
    current_time = now()
    return {
        "chat": chat,
        "key": key,
        "current": current,
        "shown": shown,
        "answers": store.listed(session, key, shown, limit=SHOWN),
        "rows": rows,
        "platforms": [(p, platform_named(p).label) for p in platforms],
        "sources": [(platform_named(p).label, sources.get(p)) for p in platforms],
        "stale": {
            p: bool(s.read_at and s.mode != "off" and current_time - s.read_at > STALE)
            for p, s in sources.items()
        },
        "version": version(session, key, current_time),
        "can_like": {p: answer_actions.can_like(p) for p in platforms},
        "open": chat.open_at(current_time),
        "keep": format_duration(config().settings.answers.keep),
        "total": sum(counts.values()),
    }


def version(session: Any, key: str, current: datetime) -> str:
    """Changes whenever the fragment would: a new answer, a platform's state, staleness. The
    page asks for it four times a second and fetches the fragment only when it changes."""
    newest = session.scalar(select(func.max(Answer.id)).where(Answer.chat_key == key)) or 0
    states = [
        (s.platform, s.mode, s.problem, bool(s.read_at and current - s.read_at > STALE))
        for s in store.sources(session, key)
    ]
    digest = hashlib.sha256(repr(states).encode()).hexdigest()[:12]
    return f"{newest}-{digest}"


def counts_unplaced(counts: dict[tuple[int, str], int]) -> bool:
    return any(n for (q, _), n in counts.items() if q == 0)


def _question_arg() -> int | None:
    value = request.args.get("q", "")
    return int(value) if value.isdigit() else None


@pages.route("/chats/<key>/answers/version")
def chat_answers_version(key: str) -> Any:
    require("view_all")
    with database().read() as s:
        return jsonify(v=version(s, key, now()))


@pages.route("/chats/<key>/answers")
def chat_answers(key: str) -> Any:
    """The answers fragment alone (the console page fetches it every second)."""
    require("view_all")
    with database().read() as s:
        view = answers_view(s, key, _question_arg())
    return render_template("_answers.html", answers=view)


__all__ = ["answers_view"]
