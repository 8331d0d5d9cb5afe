"""The chat page: the host's live console, refreshed as a whole every few seconds.

Its routes belong to the ``pages`` blueprint (``pages.chat_page``, ``pages.chat_panel``);
the module is imported with it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from flask import abort, render_template, request
from sqlalchemy import select

from chatbot.db.models import Account, PostState
from chatbot.queue import live
from chatbot.queue.views import PostView
from chatbot.web.answers import answers_view
from chatbot.web.pages import database, now, pages, require, row, viewer_zone

# -- the console -----------------------------------------------------------------------------------


@pages.route("/chats/<key>")
def chat_page(key: str) -> Any:
    require("view_all")
    question = request.args.get("q", "")
    with database().read() as s:
        panel = _panel(_status(s, key), s)
        view = answers_view(s, key, int(question) if question.isdigit() else None)
    return render_template(
        "chat.html", panel=panel, tz=panel["tz"], viewer_tz=viewer_zone(), answers=view
    )


@pages.route("/chats/<key>/panel")
def chat_panel(key: str) -> Any:
    """The live console alone: the page's script fetches it to update without a reload."""
    return _render("_panel.html", key)


def _render(template: str, key: str) -> Any:
    require("view_all")
    with database().read() as s:
        panel = _panel(_status(s, key), s)
    return render_template(template, panel=panel, tz=panel["tz"], viewer_tz=viewer_zone())


def _status(session: Any, key: str) -> live.ChatStatus:
    try:
        return live.load_status(session, key)
    except live.ChatControlError:
        abort(404)


def countdown(at: datetime, current: datetime) -> str:
    """'in 3m 05s', 'in 2h 10m', 'due now' (whole seconds: the page counts them down)."""
    seconds = int((at - current).total_seconds())
    if seconds <= 0:
        return "due now"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        return f"in {hours // 24} days"
    if hours:
        return f"in {hours}h {minutes:02d}m"
    return f"in {minutes}m {secs:02d}s" if minutes else f"in {secs}s"


def _steps(status: live.ChatStatus, reposts: dict[int, list[PostView]]) -> list[dict[str, Any]]:
    """The script one step a line: a question's copies on the host's other platforms and its
    partners' reposts are chips under it, not lines of their own."""
    steps: list[dict[str, Any]] = []
    by_seq: dict[int | None, dict[str, Any]] = {}
    for post in status.posts:
        step = by_seq.get(post.seq) if post.seq is not None else None
        if step is None:
            step = {"main": row(post), "copies": [], "reposts": list(reposts.get(post.id, []))}
            steps.append(step)
            by_seq[post.seq] = step
        else:
            step["copies"].append(post)
            step["reposts"].extend(reposts.get(post.id, []))
    return steps


def _panel(status: live.ChatStatus, session: Any) -> dict[str, Any]:
    nxt = status.next
    drafts = [p for p in status.remaining if p.state == PostState.DRAFT]
    whole_chat = len(drafts) > 1 and len(drafts) == len(status.remaining)
    reposts: dict[int, list[PostView]] = defaultdict(list)
    for dep in status.dependents:
        if dep.depends_on_id is not None:
            reposts[dep.depends_on_id].append(dep)
    accounts = {p.account_key for p in (*status.posts, *status.dependents)}
    paused = list(
        session.scalars(select(Account).where(Account.key.in_(accounts), Account.paused.is_(True)))
    )
    current = now()
    return {
        "chat": status.chat,
        "state": status.state,
        "now": current,
        "next": row(nxt) if nxt else None,
        "countdown": countdown(nxt.scheduled_at, current) if nxt else "",
        "last": row(status.sent[-1]) if status.sent else None,
        # Waiting on a person: not approved (skipped once its time has passed) or held.
        # A chat nobody has approved yet is one flag, not one per question.
        "unapproved_chat": whole_chat,
        "drafts": len(drafts),
        "flagged": []
        if whole_chat
        else [row(p) for p in status.remaining if p.state == PostState.DRAFT or p.held],
        "paused_accounts": paused,
        # Failed or unknown: settled from here (mark posted with its URL, retry, or cancel).
        "failed": [
            row(p)
            for p in (*status.posts, *status.dependents)
            if p.state in (PostState.FAILED, PostState.UNKNOWN)
        ],
        "steps": _steps(status, reposts),
        "tz": status.chat.timezone,
    }
