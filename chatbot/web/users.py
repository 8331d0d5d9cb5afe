"""People who sign in to the web app: roles, what each may do, and password hashing (argon2id).

Users are managed from the CLI (`chatbot user add|list|password|role|remove`). A password is
hashed before any transaction is opened: argon2 takes a quarter of a second of CPU by design,
and a write transaction held that long stalls the worker (SQLite has one writer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chatbot.db.models import User, WebSession
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


@dataclass(frozen=True)
class NewPassword:
    """A password checked and hashed, outside any transaction."""

    hash: str


def new_password(password: str) -> NewPassword:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must be at least {MIN_PASSWORD} characters")
    return NewPassword(hasher().hash(password))


def check_role(role: str, account: str | None, known_accounts: set[str]) -> None:
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


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise UserError(f"user name {name!r}: use letters, digits and . _ @ - (up to 64)")


def add_user(
    session: Session,
    name: str,
    password: NewPassword,
    role: str,
    account: str | None,
    now: datetime,
    known_accounts: set[str],
) -> User:
    check_name(name)
    check_role(role, account, known_accounts)
    if session.scalars(select(User).where(User.name == name)).first() is not None:
        raise UserError(f"there is already a user called {name!r}; remove it first to replace it")
    user = User(
        name=name, password_hash=password.hash, role=role, account_key=account, created_at=now
    )
    session.add(user)
    return user


def _user(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).first()
    if user is None:
        raise UserError(f"no user called {name!r}")
    return user


def end_sessions(session: Session, user_id: int) -> int:
    """Sign the user out everywhere; returns how many sessions ended."""
    result = session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def remove_user(session: Session, name: str) -> None:
    user = _user(session, name)
    end_sessions(session, user.id)
    session.delete(user)


def set_password(session: Session, name: str, password: NewPassword) -> int:
    """A new password ends every session the user had; returns how many."""
    user = _user(session, name)
    user.password_hash = password.hash
    return end_sessions(session, user.id)


def set_role(
    session: Session, name: str, role: str, account: str | None, known_accounts: set[str]
) -> int:
    """A new role (or partner account) ends every session the user had; returns how many."""
    check_role(role, account, known_accounts)
    user = _user(session, name)
    user.role, user.account_key = role, account
    return end_sessions(session, user.id)


def verify_password(password_hash: str | None, password: str) -> bool:
    """argon2id verification; slow on purpose, so never call it inside a transaction."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(hasher().verify(password_hash or _dummy_hash(), password)) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return bool(hasher().check_needs_rehash(password_hash))
