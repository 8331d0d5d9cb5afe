"""Finding, loading and validating the configuration file.

Order: ``--config``, ``$CHATBOT_CONFIG``, ``./config.yaml``, then ``./config.example.yaml``.
A ``.env`` beside the config is loaded first; the real environment wins over it. Secrets are read
from the environment only when a publisher needs them and are never stored on these objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from chatbot.configpath import find_config_path, load_dotenv_beside, resolve_database_url
from chatbot.errors import ConfigError
from chatbot.platforms import Platform, platform_named
from chatbot.settings import Account, Settings
from chatbot.timeutil import zone
from chatbot.yamlmarks import dotted, load_yaml

if TYPE_CHECKING:
    from chatbot.db.session import Database


@dataclass(frozen=True)
class Config:
    """Validated settings plus where they came from."""

    path: Path
    settings: Settings

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else self.base_dir / path

    @property
    def content_dir(self) -> Path:
        return self.resolve(self.settings.content_dir)

    @property
    def graphics_dir(self) -> Path:
        return self.resolve(self.settings.graphics_dir)

    @property
    def cards_dir(self) -> Path:
        return self.resolve(self.settings.cards_dir)

    @property
    def cache_dir(self) -> Path:
        return self.resolve(self.settings.cache_dir)

    @property
    def database_url(self) -> str:
        return resolve_database_url(self.settings.database_url, self.base_dir)

    @property
    def lock_wait(self) -> float:
        return self.settings.database_lock_wait.total_seconds()

    def open_database(self, migrate: bool = True, long_running: bool = False) -> Database:
        """The configured database, migrated to the newest schema on first use;
        ``long_running`` for the worker and the web app (see ``Database``)."""
        from chatbot.db.session import open_database

        return open_database(
            self.database_url,
            migrate=migrate,
            lock_wait=self.lock_wait,
            long_running=long_running,
        )

    def require_accounts(self, command: str) -> None:
        """``run`` and ``web`` have nothing to do without accounts: say what is missing."""
        if not self.settings.accounts:
            raise ConfigError(
                f"no accounts: {command} needs at least one under accounts:, e.g.\n"
                '  accounts:\n    lfp: {platform: x, handle: "@libraryfreedom", '
                "env_prefix: LFP}\n(see config.example.yaml and the README's Configuration)",
                self.path,
            )

    def account(self, key: str) -> Account:
        try:
            return self.settings.accounts[key]
        except KeyError:
            raise ConfigError(
                f"no account {key!r} in the config; known accounts: "
                f"{', '.join(sorted(self.settings.accounts)) or 'none'}",
                self.path,
            ) from None

    def account_zone_name(self, key: str) -> str:
        account = self.settings.accounts.get(key)
        return (account.timezone if account else None) or self.settings.timezone

    def platform_of(self, key: str) -> str:
        return self.account(key).platform

    def platform(self, key: str) -> Platform:
        """The registry entry of account ``key``'s platform."""
        return platform_named(self.account(key).platform)


def load_config(explicit: str | None = None, cwd: Path | None = None) -> Config:
    path = find_config_path(explicit, cwd)
    load_dotenv_beside(path)
    doc = load_yaml(path, ConfigError)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping of settings (key: value)", path, 1)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        key = dotted(loc) or "(top level)"
        raise ConfigError(f"{key}: {_explain(first)}", path, doc.line(loc)) from None
    for name, account in settings.accounts.items():
        try:
            platform = platform_named(account.platform)
        except ValueError as exc:
            loc = ("accounts", name, "platform")
            raise ConfigError(f"{dotted(loc)}: {exc}", path, doc.line(loc)) from None
        if platform.credential_names and account.credentials == "env" and not account.env_prefix:
            raise ConfigError(
                f"accounts.{name}.env_prefix: a {account.platform} account needs env_prefix "
                "so its credentials can come from the environment (e.g. env_prefix: LFP)",
                path,
                doc.line(("accounts", name)),
            )
        if platform.needs_instance_url and not account.instance_url:
            raise ConfigError(
                f"accounts.{name}.instance_url: a {account.platform} account needs its "
                "instance's URL (e.g. instance_url: https://mastodon.social)",
                path,
                doc.line(("accounts", name)),
            )
    zone(settings.timezone)
    return Config(path=path, settings=settings)


def _explain(error: Any) -> str:
    kind = str(error["type"])
    msg = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return "unknown setting; check the spelling (see README, Configuration)"
    if kind == "missing":
        return "required setting is missing"
    return msg


def credentials(account_key: str, account: Account) -> dict[str, str]:
    """``{PREFIX}_{NAME}`` for each credential the account's platform needs, from the
    environment only; all of them (lower-cased names) or a clear error."""
    values = {}
    missing = []
    for name in platform_named(account.platform).credential_names:
        env_name = f"{account.env_prefix}_{name}"
        value = os.environ.get(env_name, "")
        if not value:
            missing.append(env_name)
        values[name.lower()] = value
    if missing:
        raise ConfigError(
            f"account {account_key!r} (platform {account.platform}) has no credentials: set "
            f"{', '.join(missing)} in the environment or in .env beside the config"
        )
    return values
