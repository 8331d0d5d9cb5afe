"""Encryption of stored tokens: Fernet keys from the environment only.

``CHATBOT_TOKEN_KEYS`` holds one or more Fernet keys separated by commas, newest first. Tokens
are sealed with the first and opened with any (MultiFernet), so a key is rotated by putting a
new key in front, running ``chatbot keys rotate`` (which re-seals every stored token with it)
and then dropping the old key. A database dump without the environment reveals no token.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from chatbot.errors import ConfigError

KEY_ENV = "CHATBOT_TOKEN_KEYS"


class TokenBox:
    def __init__(self, keys: list[str]):
        if not keys:
            raise ConfigError(
                f"{KEY_ENV} is not set: connected accounts' tokens are encrypted with it. "
                "Generate a key with `chatbot keys generate` and put it in the environment "
                "(or .env beside the config)"
            )
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError):
            raise ConfigError(
                f"{KEY_ENV}: each key must be a Fernet key (32 url-safe base64 bytes); "
                "generate one with `chatbot keys generate`"
            ) from None

    @classmethod
    def from_env(cls) -> TokenBox:
        raw = os.environ.get(KEY_ENV, "")
        return cls([k.strip() for k in raw.split(",") if k.strip()])

    def seal(self, secrets: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(secrets).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken:
            raise ConfigError(
                f"a stored token cannot be decrypted with {KEY_ENV}: the key it was sealed "
                "with is missing (keep the old key after the new one until `chatbot keys "
                "rotate` has run)"
            ) from None
        return data

    def rotate(self, sealed: str) -> str:
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise ConfigError(
                f"a stored token cannot be decrypted with any key in {KEY_ENV}"
            ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode()
