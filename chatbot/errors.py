"""The project's own errors.

Every error a user can cause is a ``UserError``: the CLI prints its one-line message and exits 1,
never a traceback. Errors about a file carry the path and line so the message can say where.
"""

from __future__ import annotations

from pathlib import Path


class ChatbotError(Exception):
    """Base class for every error the project raises on purpose."""


class UserError(ChatbotError):
    """Something the user can fix: bad config, bad content, a wrong command argument."""

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None):
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class ConfigError(UserError):
    """The configuration file or the environment is wrong."""


class ContentError(UserError):
    """A chat, campaign or vision file is wrong."""


class UserErrors(UserError):
    """Several user errors found in one pass; each is printed on its own line."""

    def __init__(self, errors: list[UserError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))
