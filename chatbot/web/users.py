"""People who sign in to the web app: roles, what each may do, and password hashing (argon2id).

Users are managed from the CLI (`chatbot user add|list|remove`); the web app only reads them.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatbot.db.models import User
from chatbot.errors import UserError

ROLES = ("organizer", "reviewer", "host", "partner")
# What each action needs. A partner sees only its own account's posts, everywhere.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view_all": frozenset({"organizer", "reviewer", "host"}),
    "review": frozenset({"organizer", "reviewer"}),
    "host": frozenset({"organizer", "host"}),
    "settle": frozenset({"organizer"}),
    "audit": frozenset({"organizer", "reviewer"}),
    "opt": frozenset({"organizer", "partner"}),
    "partners": frozenset({"organizer"}),
    "own_account": frozenset({"partner"}),
}
MIN_PASSWORD = 12
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

if TYPE_CHECKING:
    from argon2 import PasswordHasher


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    """argon2id with the library's recommended parameters, built on first use (not at import:
    every CLI command imports this module)."""
    from argon2 import PasswordHasher

    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified when the name is unknown, so a wrong name takes as long as a wrong password.
    return hasher().hash("not a real password, only here for timing")


def can(user: User | None, action: str) -> bool:
    return user is not None and user.role in PERMISSIONS[action]


def add_user(
    session: Session,
    name: str,
    password: str,
    role: str,
    account: str | None,
    now: datetime,
    known_accounts: set[str],
) -> User:
    if not _NAME.match(name):
        raise UserError(f"user name {name!r}: use letters, digits and . _ @ - (up to 64)")
    if role not in ROLES:
        raise UserError(f"--role {role!r}: use one of {', '.join(ROLES)}")
    if role == "partner":
        if not account:
            raise UserError("a partner needs --account KEY: the account whose posts it sees")
        if account not in known_accounts:
            raise UserError(
                f"--account {account!r} is not in the config; use one of "
                f"{', '.join(sorted(known_accounts))}"
            )
    elif account:
        raise UserError("--account is only for partners; other roles see every account")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must be at least {MIN_PASSWORD} characters")
    if session.scalars(select(User).where(User.name == name)).first() is not None:
        raise UserError(f"there is already a user called {name!r}; remove it first to replace it")
    user = User(
        name=name,
        password_hash=hasher().hash(password),
        role=role,
        account_key=account,
        created_at=now,
        session_version=0,
    )
    session.add(user)
    return user


def remove_user(session: Session, name: str) -> None:
    user = session.scalars(select(User).where(User.name == name)).first()
    if user is None:
        raise UserError(f"no user called {name!r}")
    session.delete(user)


def authenticate(session: Session, name: str, password: str, now: datetime) -> User | None:
    from argon2.exceptions import InvalidHashError, VerificationError

    user = session.scalars(select(User).where(User.name == name)).first()
    try:
        hasher().verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hasher().hash(password)
    user.last_login_at = now
    return user
