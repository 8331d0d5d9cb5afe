"""The organizer web app: preview, review and host. Server-rendered Flask + Jinja2.

Every page and asset needs a signed-in user except the sign-in page; every form carries a CSRF
token (Flask-WTF); sessions are signed with ``CHATBOT_SECRET_KEY`` from the environment and
end when the user's password changes or the user is removed. Styles and the one script are
inline with a per-request nonce, so the Content-Security-Policy allows nothing else.

    gunicorn 'chatbot.web:create_app()'     # the Procfile's web: line
    chatbot web                              # local use
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.wrappers import Response

from chatbot.config import Config, load_config
from chatbot.db.session import Database
from chatbot.errors import ConfigError
from chatbot.timeutil import utcnow, zone
from chatbot.web.preview import Findings
from chatbot.web.signin import current_user
from chatbot.web.users import can

SECRET_ENV = "CHATBOT_SECRET_KEY"
PUBLIC_ENDPOINTS = frozenset({"pages.login", "pages.favicon"})


def create_app(
    config_path: str | None = None,
    *,
    config: Config | None = None,
    db: Database | None = None,
    secret_key: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    testing: bool = False,
) -> Flask:
    config = config or load_config(config_path)
    config.require_accounts("the web app")
    secret = secret_key or os.environ.get(SECRET_ENV)
    if not secret or len(secret) < 32:
        raise ConfigError(
            f"{SECRET_ENV} must be set to at least 32 random characters to sign web sessions; "
            "make one with: python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.settings.web.cookies_secure,
        SESSION_COOKIE_NAME="chatbot_session",
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session instead of a clock
        TESTING=testing,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    hops = config.settings.web.proxy_hops
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Trust X-Forwarded-For/-Proto from exactly that many proxies: the client's address
        # (for sign-in throttling) and https (for secure cookies) come from them.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    CSRFProtect(app)
    app.extensions["chatbot"] = {
        "config": config,
        "db": db or config.open_database(long_running=True),
        "clock": clock,
        "findings": Findings(config),
    }

    from chatbot.web import answers, console  # noqa: F401 - their routes join the blueprints
    from chatbot.web.actions import actions
    from chatbot.web.connect import connect
    from chatbot.web.pages import pages

    app.register_blueprint(pages)
    app.register_blueprint(actions)
    app.register_blueprint(connect)
    app.before_request(_load_user)
    app.after_request(_security_headers)
    app.context_processor(lambda: {"can": lambda action: can(g.get("user"), action)})
    app.template_filter("local")(_local)
    for code in (403, 404, 405, 500):
        app.register_error_handler(code, _error_page)
    app.register_error_handler(CSRFError, _csrf_error)
    return app


def _load_user() -> Response | None:
    g.nonce = secrets.token_urlsafe(16)
    g.user = current_user(_ext("db"), session.get("sid"), _ext("clock")())
    if g.user is None and "sid" in session:
        session.clear()  # signed out elsewhere, removed, or expired
    from chatbot.web.connect import PUBLIC as CONNECT_PUBLIC

    if g.user is None and request.endpoint not in PUBLIC_ENDPOINTS | CONNECT_PUBLIC:
        if request.endpoint is None:
            return None  # a 404 stays a 404 (it reveals nothing)
        return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
    return None


def _security_headers(response: Response) -> Response:
    nonce = g.get("nonce", "")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    if g.get("user") is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


_MESSAGES = {
    403: ("Not allowed", "Your role does not allow this. Ask an organizer if you need it."),
    404: ("Not found", "There is nothing here, or nothing you may see."),
    405: ("Not allowed", "This address does not accept that kind of request."),
    500: ("Something went wrong", "The error was logged. Try again, or tell an organizer."),
}


def _error_page(error: Any) -> tuple[str, int]:
    code = getattr(error, "code", 500) or 500
    title, text = _MESSAGES.get(code, _MESSAGES[500])
    return render_template("error.html", title=title, text=text, code=code), code


def _csrf_error(error: CSRFError) -> tuple[str, int]:
    text = (
        "The form expired or did not come from this site, so nothing was changed. "
        "Reload the page and try again."
    )
    return render_template("error.html", title="Form refused", text=text, code=400), 400


def _local(
    when: datetime | None, tz_name: str | None = None, fmt: str = "%a %d %b %H:%M %Z"
) -> str:
    if when is None:
        return ""
    return when.astimezone(zone(tz_name or "UTC")).strftime(fmt)


def _ext(name: str) -> Any:
    from flask import current_app

    return current_app.extensions["chatbot"][name]


__all__ = ["create_app"]
