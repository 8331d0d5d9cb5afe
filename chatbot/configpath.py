"""Which config file a command uses, and the ``.env`` beside it: kept apart from the config's
model so that a command can find its config (and the worker serving it) without loading
pydantic, PyYAML or the settings table."""

from __future__ import annotations

import os
import re
from pathlib import Path

from chatbot.errors import ConfigError

__all__ = ["find_config_path", "load_dotenv_beside", "mask_password", "resolve_database_url"]

_PASSWORD_IN_URL = re.compile(r"(?<=://)([^:/@]*):([^@/]*)@")


def mask_password(url: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host``, for a URL that may not
    even parse (so SQLAlchemy's own masking cannot be used)."""
    return _PASSWORD_IN_URL.sub(r"\1:***@", url)


def find_config_path(explicit: str | None = None, cwd: Path | None = None) -> Path:
    cwd = cwd or Path.cwd()
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError("config file not found; check the --config path", path)
        return path.resolve()
    env = os.environ.get("CHATBOT_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError("config file named by $CHATBOT_CONFIG not found", path)
        return path.resolve()
    for name in ("config.yaml", "config.example.yaml"):
        candidate = cwd / name
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(
        "no config file: pass --config PATH, set CHATBOT_CONFIG, or copy config.example.yaml "
        "to config.yaml",
        cwd,
    )


def load_dotenv_beside(path: Path) -> None:
    """Load ``.env`` beside the config without overriding the real environment."""
    env_file = path.parent / ".env"
    if env_file.is_file():
        from dotenv import dotenv_values  # ~20 ms: loaded only when there is a .env

        for key, value in dotenv_values(env_file).items():
            if value is not None and key not in os.environ:
                os.environ[key] = value


def resolve_database_url(url: str, base_dir: Path) -> str:
    """``$DATABASE_URL`` wins over the setting; a relative SQLite path is relative to the
    config's folder."""
    url = os.environ.get("DATABASE_URL") or url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix) :]
        if rest and rest != ":memory:" and not rest.startswith("file:"):
            path = Path(rest)
            url = prefix + str(path if path.is_absolute() else base_dir / path)
    return url
