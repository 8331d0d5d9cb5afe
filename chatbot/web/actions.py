"""Forms: review, settle, a partner's opt-out, and the host's live chat controls.

Every action runs the same function as the CLI in one transaction, so the web and the terminal
cannot disagree. A user mistake comes back as a message on the page; nothing is half-applied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request, url_for
from werkzeug.wrappers import Response

from chatbot.answers import actions as answer_actions
from chatbot.errors import UserError
from chatbot.queue import live
from chatbot.queue.optout import opt_in, opt_out
from chatbot.queue.review import approve, reject
from chatbot.queue.settle import SettleAction, settle
from chatbot.timeutil import TimeFormatError, parse_duration
from chatbot.web.console import _panel
from chatbot.web.pages import (
    back,
    config,
    database,
    done,
    ext,
    now,
    require,
    user,
    viewer_zone,
    visible_post,
)
from chatbot.web.preview import ReviewPending

actions = Blueprint("actions", __name__)


@actions.route("/review", methods=["POST"])
def review_item() -> Response:
    require("review")
    item = request.form.get("item", "").strip()
    decision = request.form.get("decision")
    note = request.form.get("note", "").strip()
    if not item or decision not in ("approve", "reject"):
        abort(400)
    try:
        # The whole-content review first: never inside the write transaction (it can take
        # seconds on a large queue, and SQLite has one writer: the worker).
        content, checks = ext("findings").current() if decision == "approve" else (None, None)
        with database().write() as s:
            if item.isdigit():
                visible_post(s, int(item))
            if content is not None:
                result = approve(
                    s,
                    item,
                    user().name,
                    note,
                    now(),
                    checks=checks,
                    content_hashes={p.key: p.content_hash for p in content.posts},
                    require_second_person=config().settings.review.require_second_person,
                )
                done(f"{item}: {len(result.changed)} posts approved by {user().name}")
            else:
                result = reject(s, item, user().name, note, now())
                done(f"{item}: {len(result.changed)} posts rejected by {user().name}")
    except (UserError, ReviewPending) as exc:
        done(str(exc), ok=False)
    return back(url_for("pages.timeline"))


@actions.route("/posts/<int:post_id>/settle", methods=["POST"])
def settle_post(post_id: int) -> Response:
    require("settle")
    action = request.form.get("action")
    if action not in ("posted", "retry", "cancel"):
        abort(400)
    chosen: SettleAction = action  # type: ignore[assignment]
    try:
        with database().write() as s:
            post = visible_post(s, post_id)
            reason = settle(s, post, chosen, user().name, now(), request.form.get("url"))
            done(f"{post.key}: {reason}")
    except UserError as exc:
        done(str(exc), ok=False)
    return back(url_for("pages.attention"))


@actions.route("/posts/<int:post_id>/opt", methods=["POST"])
def opt(post_id: int) -> Response:
    """A partner opts its account out of one post (or back in) before it goes out."""
    require("opt")
    choice = request.form.get("choice")
    if choice not in ("out", "in"):
        abort(400)
    with database().write() as s:
        post = visible_post(s, post_id)
        if choice == "out" and opt_out(s, post, user().name, now()):
            done(f"{post.key}: your account will not post this")
        elif choice == "in" and opt_in(s, post, user().name, now()):
            done(f"{post.key}: your account will post this again")
        else:
            done(f"{post.key} is {post.state}; nothing changed", ok=False)
    return back(url_for("pages.post_page", post_id=post_id))


@actions.route("/accounts/<account>/resume", methods=["POST"])
def resume_account(account: str) -> Response:
    """The button for ``chatbot account resume``: same function, audited under the user."""
    from chatbot.queue.accounts import set_account_paused

    require("settle")
    if account not in config().settings.accounts:
        abort(404)
    with database().write() as s:
        set_account_paused(s, config(), account, False, user().name, "", now())
    done(f"{account} resumed by {user().name}")
    return back(url_for("pages.attention"))


CONTROLS: dict[str, Callable[..., live.ControlResult]] = {
    "pause": live.pause,
    "resume": live.resume,
    "skip": live.skip,
    "delay": live.delay,
    "now": live.post_now,
}


@actions.route("/chats/<key>/control", methods=["POST"])
def control(key: str) -> Any:
    require("host")
    verb = request.form.get("verb", "")
    if verb not in CONTROLS:
        abort(400)
    kwargs: dict[str, Any] = {"expect_version": request.form.get("version", type=int)}
    if verb in ("skip", "now") and request.form.get("number"):
        kwargs["number"] = request.form.get("number", type=int)
    if verb == "resume":
        mode = request.form.get("mode") or config().settings.live.resume
        kwargs["mode"] = "keep" if mode == "keep" else "shift"
    ok = True
    try:
        if verb == "delay":
            kwargs["by_how_much"] = parse_duration(request.form.get("duration", ""))
        with database().write() as s:
            result = CONTROLS[verb](s, key, now(), user().name, **kwargs)
        message = result.message
    except (UserError, TimeFormatError) as exc:
        message, ok = str(exc), False
    if request.headers.get("Accept") == "application/json":
        with database().read() as s:
            try:
                panel = _panel(live.load_status(s, key), s)
            except live.ChatControlError:
                abort(404)
            html = render_template(
                "_panel.html", panel=panel, tz=panel["tz"], viewer_tz=viewer_zone()
            )
        return jsonify(ok=ok, message=message, panel=html), (200 if ok else 409)
    done(message, ok)
    return back(url_for("pages.chat_page", key=key))


@actions.route("/chats/<key>/answers/<int:answer_id>/<verb>", methods=["POST"])
def answer_action(key: str, answer_id: int, verb: str) -> Response | tuple[Response, int]:
    require("host")
    if verb not in answer_actions.ACTIONS:
        abort(404)
    ok = True
    try:
        with database().write() as s:
            result = answer_actions.act(
                s,
                config(),
                answer_id,
                verb,
                user().name,
                now(),
                text=request.form.get("text", ""),
            )
        message = result.message
    except UserError as exc:
        message, ok = str(exc), False
    if request.headers.get("Accept") == "application/json":
        return jsonify(ok=ok, message=message), (200 if ok else 409)
    done(message, ok)
    return back(url_for("pages.chat_page", key=key))


__all__ = ["actions"]
