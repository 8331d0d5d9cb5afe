"""Audit entries as sentences a person reads ("olga approved fr-chat (6 posts): read through"),
not ``key=value`` pairs. An action this table does not know still reads as one sentence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from chatbot.timeutil import format_duration


def _posts(detail: dict[str, Any]) -> str:
    posts = detail.get("posts")
    if isinstance(posts, list):
        count = len(posts)
    elif isinstance(posts, int):
        count = posts
    else:
        return ""
    return f" ({count} post{'s' if count != 1 else ''})"


def _note(detail: dict[str, Any]) -> str:
    note = str(detail.get("note") or "").strip()
    return f": “{note}”" if note else ""


def _seconds(detail: dict[str, Any]) -> str:
    seconds = detail.get("seconds")
    if isinstance(seconds, int | float):
        return f" by {format_duration(timedelta(seconds=seconds))}"
    return ""


def _answer(who: str, did: str, detail: dict[str, Any]) -> str:
    return (
        f"{who} {did} an answer on {detail.get('platform', '?')} in {detail.get('chat', '?')} "
        "from the console (the click approved it)"
    )


Sentence = Callable[[str, str, dict[str, Any]], str]
SENTENCES: dict[str, Sentence] = {
    "apply": lambda who, _t, d: (
        f"{who} applied the content: {d.get('added', 0)} added, {d.get('changed', 0)} changed, "
        f"{d.get('removed', 0)} removed"
    ),
    "approve": lambda who, t, d: f"{who} approved {t}{_posts(d)}{_note(d)}",
    "reject": lambda who, t, d: f"{who} rejected {t}{_posts(d)}{_note(d)}",
    "approval.voided": lambda _w, t, d: (
        f"the approval of {t} was voided: "
        f"{d.get('reason') or 'its words, card or alt text changed'}"
    ),
    "account.paused": lambda who, t, d: f"{who} paused {t}: {d.get('reason') or 'no reason given'}",
    "account.resumed": lambda who, t, _d: f"{who} resumed {t}",
    "chat.pause": lambda who, t, d: f"{who} paused the chat {t}",
    "chat.resume": lambda who, t, d: f"{who} resumed the chat {t}{_posts(d)}",
    "chat.skip": lambda who, t, d: f"{who} skipped in {t}{_posts(d)}",
    "chat.delay": lambda who, t, d: f"{who} delayed the rest of {t}{_seconds(d)}{_posts(d)}",
    "chat.now": lambda who, t, d: f"{who} posted the next of {t} now",
    "settle.posted": lambda who, t, _d: f"{who} marked {t} posted",
    "settle.retry": lambda who, t, _d: f"{who} sent {t} again",
    "settle.cancel": lambda who, t, _d: f"{who} cancelled {t}",
    "post.opt_out": lambda who, t, _d: f"{who} took their account off {t}",
    "post.opt_in": lambda who, t, _d: f"{who} put their account back on {t}",
    "partner.invited": lambda who, t, d: (
        f"{who} invited the partner {t} to connect (the link lasts {d.get('expires_in', '?')})"
    ),
    "partner.connected": lambda _w, t, d: (
        f"the partner {t} connected its {d.get('platform', '')} account"
    ),
    "partner.disconnected": lambda who, t, _d: f"{who} disconnected {t} and deleted its tokens",
    "partner.refresh_failed": lambda _w, t, d: (
        f"{t}'s token could not be refreshed: {d.get('error', '')}"
    ),
    "sign_in.failed": lambda _w, t, d: (
        f"a sign-in as {t} failed"
        + (f" from {d['client']}" if d.get("client") else "")
        + (f"; locked: {d['locked']}" if d.get("locked") else "")
    ),
    "answer.like": lambda who, _t, d: _answer(who, "liked", d),
    "answer.repost": lambda who, _t, d: _answer(who, "reposted", d),
    "answer.reply": lambda who, _t, d: _answer(who, "replied to", d),
    "user.add": lambda who, t, d: f"{who} added the user {t} as {d.get('role', '?')}",
    "user.remove": lambda who, t, _d: f"{who} removed the user {t}",
    "user.role": lambda who, t, d: f"{who} made {t} {d.get('role', '?')}",
    "user.password": lambda who, t, _d: f"{who} set a new password for {t}",
}


def sentence(actor: str, action: str, target: str, detail: dict[str, Any] | None) -> str:
    detail = detail or {}
    known = SENTENCES.get(action)
    if known is not None:
        try:
            text = known(actor, target, detail)
        except (TypeError, ValueError):
            text = ""
        if text:
            return text + "."  # names stay as people wrote them: "olga", not "Olga"
    extra = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in detail.items())
    words = action.replace(".", " ").replace("_", " ")
    return f"{actor} — {words} {target}".strip() + (f" ({extra})." if extra else ".")


__all__ = ["SENTENCES", "sentence"]
