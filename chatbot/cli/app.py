"""What every command shares: the config (loaded once), the database (opened on first use),
the clock, and the console."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from chatbot.errors import UserErrors
from chatbot.timeutil import utcnow

if TYPE_CHECKING:  # loaded by the commands that use them, not at start-up
    from rich.console import Console

    from chatbot.cli.brief import Brief
    from chatbot.config import Config
    from chatbot.content.load import ContentSet
    from chatbot.db.direct import DirectDatabase
    from chatbot.db.session import Database
    from chatbot.queue.views import QueueStore


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
        self._direct: DirectDatabase | None = None
        self._brief: Brief | None = None
        self._direct_looked = False

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
    def brief(self) -> Brief:
        """What the short commands read of the config: kept by an earlier command that
        validated these same bytes with this same code, else validated now and kept
        (``chatbot.cli.brief``: it spares them loading pydantic and the settings)."""
        if self._brief is None:
            from chatbot.cli.brief import Brief, brief_key, keep_brief, kept_brief

            key = None
            if self._config is None:
                from chatbot.configpath import find_config_path, load_dotenv_beside

                path = find_config_path(self._config_path)
                load_dotenv_beside(path)
                key = brief_key(path)  # the bytes about to be validated, if need be
                self._brief = kept_brief(path, key)
            if self._brief is None:
                self._brief = Brief.of(self.config)
                if key is not None and self._owns_db:  # its own process, not the worker's
                    keep_brief(self._brief, key)
        return self._brief

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = self.config.open_database(long_running=self.long_running)
        return self._db

    @contextmanager
    def queue(self, write: bool = False) -> Iterator[QueueStore]:
        """One transaction for the live controls and the overviews. In a command's own process
        on an existing queue it reads and writes through ``sqlite3`` or psycopg alone: loading
        SQLAlchemy would be most of the command's time (``chatbot.db.direct``). Otherwise (a
        new or older database, a URL it does not take, a command the worker runs) through a
        session."""
        direct = self._direct_database()
        if direct is not None:
            from chatbot.queue.store_direct import DirectStore

            with direct.write() if write else direct.read() as connection:
                yield DirectStore(connection)
            return
        from chatbot.queue.store_orm import OrmStore

        with self.db.write() if write else self.db.read() as session:
            yield OrmStore(session)

    def _direct_database(self) -> DirectDatabase | None:
        if not self._direct_looked:
            self._direct_looked = True
            if self._db is None and self._owns_db:
                from chatbot.db.direct import DirectDatabase

                brief = self.brief
                self._direct = DirectDatabase.open(brief.database_url, brief.lock_wait)
        return self._direct

    def content(self, strict: bool = True) -> ContentSet:
        from chatbot.content.load import load_content

        content = load_content(self.config)
        if strict and content.errors:
            raise UserErrors(list(content.errors))
        return content

    def now(self) -> datetime:
        return self.clock()

    def say(self, message: str) -> None:
        """One plain line for the person who ran the command. Through click when nothing has
        loaded rich (a fortieth of a second, for a live control that prints one line)."""
        if self._console is None:
            import click

            click.echo(message)
        else:
            self._console.print(message, markup=False)

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
        if self._direct is not None:
            self._direct.close()
        if self._db is not None and self._owns_db:
            self._db.dispose()
