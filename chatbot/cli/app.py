"""What every command shares: the config (loaded once), the database (opened on first use),
the clock, and the console."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from chatbot.errors import UserErrors
from chatbot.timeutil import utcnow

if TYPE_CHECKING:  # loaded by the commands that use them, not at start-up
    from rich.console import Console

    from chatbot.config import Config
    from chatbot.content.load import ContentSet
    from chatbot.db.session import Database


class App:
    def __init__(
        self,
        config_path: str | None,
        clock: Callable[[], datetime] = utcnow,
        *,
        config: Config | None = None,
        db: Database | None = None,
        console: Console | None = None,
        err: Console | None = None,
        actor: str | None = None,
    ):
        """The keywords are for a command run inside the worker (``chatbot.cli.control``):
        its config and database, borrowed (``close`` leaves them open), consoles that write
        into the reply, and the actor of the process that asked."""
        self._config_path = config_path
        self._config = config
        self._db = db
        self._owns_db = db is None
        self.clock = clock
        self._console = console
        self._err = err
        self._actor = actor
        self._captured = err is not None
        # Set by the commands that run for good (``run``, ``web``) before the database opens.
        self.long_running = False

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False, soft_wrap=True)
        return self._console

    @property
    def err(self) -> Console:
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._err

    @property
    def config(self) -> Config:
        if self._config is None:
            from chatbot.config import load_config

            self._config = load_config(self._config_path)
        return self._config

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = self.config.open_database(long_running=self.long_running)
        return self._db

    def content(self, strict: bool = True) -> ContentSet:
        from chatbot.content.load import load_content

        content = load_content(self.config)
        if strict and content.errors:
            raise UserErrors(list(content.errors))
        return content

    def now(self) -> datetime:
        return self.clock()

    def fail(self, message: str) -> None:
        """A one-line error for the person who ran the command."""
        if self._err is not None and self._captured:
            self._err.print(message, style="red", markup=False, highlight=False)
        else:
            import click

            click.secho(message, fg="red", err=True)

    def default_actor(self) -> str:
        from chatbot.cli.remote import actor

        return self._actor or actor()

    def close(self) -> None:
        if self._db is not None and self._owns_db:
            self._db.dispose()
