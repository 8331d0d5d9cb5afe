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
from chatbot.db.models import Answer, AnswerSource, Post, PostState
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
    unplaced = any(n for (q, _), n in counts.items() if q == 0)
    rows = [
        {
            "number": n,
            "label": f"Q{n}" if n else "Not placed",
            "by_platform": [counts.get((n, p), 0) for p in platforms],
            "total": sum(counts.get((n, p), 0) for p in platforms),
        }
        for n in [*numbers, 0]
        if n or unplaced
    ]
    found_sources = store.sources(session, key)
    sources = {s.platform: s for s in found_sources}
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
        "stale": {p: _stale(s, current_time) for p, s in sources.items()},
        "version": version(session, key, current_time, found_sources),
        "can_like": {p: answer_actions.can_like(p) for p in platforms},
        "open": chat.open_at(current_time),
        "keep": format_duration(config().settings.answers.keep),
        "total": sum(counts.values()),
    }


def _stale(source: AnswerSource, current: datetime) -> bool:
    """Read once, then not for ``STALE``: the worker has probably stopped."""
    return bool(source.read_at and source.mode != "off" and current - source.read_at > STALE)


def version(
    session: Any, key: str, current: datetime, sources: list[AnswerSource] | None = None
) -> str:
    """Changes whenever the fragment would: an answer arrives or is purged, a question goes
    out (the list moves to it), a platform's state or staleness changes. The page asks for it
    four times a second and fetches the fragment only when it changes. ``sources``: already
    read by the caller."""
    newest, held = session.execute(
        select(func.max(Answer.id), func.count(Answer.id)).where(Answer.chat_key == key)
    ).one()
    question = session.scalar(
        select(func.max(Post.number)).where(
            Post.chat_key == key, Post.kind == "question", Post.state == PostState.POSTED
        )
    )
    states = [
        (s.platform, s.mode, s.problem, _stale(s, current))
        for s in (store.sources(session, key) if sources is None else sources)
    ]
    digest = hashlib.sha256(repr((held, question, states)).encode()).hexdigest()[:12]
    return f"{newest or 0}-{digest}"


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
    """The answers fragment alone (the console page fetches it when its version changes)."""
    require("view_all")
    with database().read() as s:
        view = answers_view(s, key, _question_arg())
    return render_template("_answers.html", answers=view)


__all__ = ["answers_view"]
