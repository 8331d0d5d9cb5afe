"""What the short commands read of the config, kept once it has been validated.

A live control or a status overview in its own process needs five settings of the config: where
the queue is, how long to wait for its lock, the default of ``chat resume``, the review's
warning horizon and the accounts' zones. Validating the whole config to get them loads pydantic,
builds the settings' models and parses the YAML: about 100 ms on the 2-core machine the
benchmarks run on, half of such a command. So the first short command on a config validates it
as every command does and keeps this brief; the next ones on the same bytes of the same config,
read by the same code, use the brief instead. Any change to the file or to the code that
validates it is another key, and so a full validation again (with its errors, if any).

A database URL with a password (or options, where libpq takes one too) is never written out:
no brief is kept for it. A brief lives in the user's private runtime directory (the worker's
socket directory), mode 0600, written whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from chatbot.cli.remote import is_private, socket_dir
from chatbot.configpath import mask_password, resolve_database_url

if TYPE_CHECKING:
    from chatbot.config import Config

PACKAGE = Path(__file__).resolve().parent.parent
# The modules whose code decides whether a config is valid and what it says: a test keeps this
# list equal to what loading a config imports of the package.
VALIDATED_BY = (
    "cli/brief.py",
    "config.py",
    "configpath.py",
    "counting/__init__.py",
    "errors.py",
    "platforms/__init__.py",
    "platforms/base.py",
    "platforms/bluesky.py",
    "platforms/dryrun.py",
    "platforms/mastodon.py",
    "platforms/x.py",
    "settings.py",
    "timeutil.py",
    "yamlmarks.py",
)
FORMAT = 1


@dataclass(frozen=True)
class Brief:
    path: Path
    database_setting: str  # the config's database_url (one without a password, when kept)
    lock_wait: float  # seconds
    resume: Literal["shift", "keep"]  # live.resume
    warn_before: float  # review.warn_before, seconds
    timezone: str
    zones: dict[str, str] = field(default_factory=dict)  # account -> its zone
    labels: dict[str, str] = field(default_factory=dict)  # platform -> its name for people

    @property
    def database_url(self) -> str:
        return resolve_database_url(self.database_setting, self.path.parent)

    def account_zone_name(self, key: str) -> str:
        return self.zones.get(key) or self.timezone

    @classmethod
    def of(cls, config: Config) -> Brief:
        from chatbot.platforms import PLATFORMS

        settings = config.settings
        return cls(
            path=config.path,
            database_setting=settings.database_url,
            lock_wait=config.lock_wait,
            resume=settings.live.resume,
            warn_before=settings.review.warn_before.total_seconds(),
            timezone=settings.timezone,
            zones={
                key: account.timezone
                for key, account in settings.accounts.items()
                if account.timezone is not None
            },
            labels={name: platform.label for name, platform in PLATFORMS.items()},
        )

    def label(self, platform: str) -> str:
        return self.labels.get(platform, platform)


@lru_cache(maxsize=1)
def _code() -> bytes:
    digest = hashlib.sha256(f"{FORMAT}\0{sys.version}".encode())
    for name in VALIDATED_BY:
        digest.update(name.encode() + b"\0" + (PACKAGE / name).read_bytes())
    return digest.digest()


def brief_key(config_path: Path) -> str:
    """What a brief is kept under: the config's bytes and the code that validates them."""
    return hashlib.sha256(_code() + config_path.read_bytes()).hexdigest()


def _file(config_path: Path) -> Path:
    name = hashlib.sha256(str(config_path).encode()).hexdigest()[:24]
    return socket_dir() / f"brief-{name}.json"


def kept_brief(config_path: Path, key: str | None = None) -> Brief | None:
    """The brief kept for these bytes of this config and this code (``key``, if the caller
    has read them already), if there is one."""
    where = _file(config_path)
    if not is_private(where.parent):
        return None
    try:
        kept = json.loads(where.read_text(encoding="utf-8"))
        if kept.get("key") != (key or brief_key(config_path)):
            return None
        values: dict[str, Any] = kept["brief"]
        return Brief(**{**values, "path": config_path})
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none yet, or damaged: validate again


def may_keep(url: str) -> bool:
    """Whether a database URL may be written out: a SQLite one, or one with no password in it
    and no options after ``?`` (where libpq would also take one)."""
    if url.startswith("sqlite:"):
        return True
    return "?" not in url and mask_password(url) == url


def keep_brief(brief: Brief, key: str) -> None:
    """Keep ``brief``, validated from the bytes ``key`` was made of (read before validating
    them), for the next short command, if it may be kept; never an error."""
    if not may_keep(brief.database_setting):
        return
    where = _file(brief.path)
    try:
        if brief_key(brief.path) != key:
            return  # the file changed while it was being validated: this brief is not its
        where.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not is_private(where.parent):
            return
        values = {k: v for k, v in asdict(brief).items() if k != "path"}
        text = json.dumps({"key": key, "brief": values})
        partial = where.with_suffix(f".{os.getpid()}.tmp")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(partial, where)
    except OSError:
        return  # a read-only or full disk: the next command validates again
