"""Small helpers that turn a problem at a key path into an error naming file and line."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from chatbot.config import Config
from chatbot.errors import ContentError
from chatbot.timeutil import TimeFormatError, zone
from chatbot.yamlmarks import LocatedYaml, PathKey, dotted


def located_error(doc: LocatedYaml, keys: PathKey, message: str) -> ContentError:
    prefix = f"{dotted(keys)}: " if keys else ""
    return ContentError(prefix + message, doc.path, doc.line(keys))


def content_zone(doc: LocatedYaml, keys: PathKey, name: str | None, fallback: str) -> ZoneInfo:
    try:
        return zone(name or fallback)
    except TimeFormatError as exc:
        raise located_error(doc, keys, str(exc)) from None


def check_account(doc: LocatedYaml, keys: PathKey, key: str, config: Config) -> None:
    if key not in config.settings.accounts:
        known = ", ".join(sorted(config.settings.accounts)) or "none"
        raise located_error(
            doc, keys, f"no account {key!r} in {config.path.name}; known accounts: {known}"
        )
