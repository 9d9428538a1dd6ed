"""Secrets at rest: MultiFernet under the operator's `HOOKGATE_SECRET_KEYS`.

Each configured key (any high-entropy string, newest first) is stretched with
HKDF-SHA256 into two independent keys: one for Fernet (encrypting source secrets
and OAuth credentials) and one for signing Google channel tokens. The newest key
encrypts and signs; every key still decrypts and verifies, so keys rotate by
prepending a new one and running `hookgate sources rekey`.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from gateway.settings import Settings

log = logging.getLogger(__name__)

_FERNET_INFO = b"hookgate/secrets-at-rest/v1"
_TOKEN_INFO = b"hookgate/google-channel-token/v1"


class SecretKeyError(Exception):
    """The secret keys are missing or cannot decrypt a stored secret."""


def _derive(key: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key.encode())


class SecretBox:
    """Encrypts and decrypts secrets at rest; derives the channel-token signing keys."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretKeyError("No secret keys are configured; set HOOKGATE_SECRET_KEYS.")
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(_derive(key, _FERNET_INFO))) for key in keys]
        )
        self.channel_token_keys: tuple[bytes, ...] = tuple(
            _derive(key, _TOKEN_INFO) for key in keys
        )

    def __repr__(self) -> str:
        return f"SecretBox(keys={len(self.channel_token_keys)})"

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken:
            raise SecretKeyError(
                "A stored secret cannot be decrypted with any configured key; "
                "was a key removed from HOOKGATE_SECRET_KEYS before `hookgate sources rekey`?"
            ) from None

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt under the newest key (what `sources rekey` does to every row)."""
        try:
            return self._fernet.rotate(ciphertext)
        except InvalidToken:
            raise SecretKeyError(
                "A stored secret cannot be decrypted with any configured key."
            ) from None


def load_keys(configured: Sequence[str], dev_key_path: Path) -> list[str]:
    """The configured keys, or a development key kept in a local file (with a warning).

    The fallback lets `make run` work on a fresh checkout; production sets
    HOOKGATE_SECRET_KEYS and never touches the file.
    """
    if configured:
        return list(configured)
    if dev_key_path.exists():
        key = dev_key_path.read_text().strip()
    else:
        key = secrets.token_urlsafe(32)
        fd = os.open(dev_key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
    log.warning(
        "HOOKGATE_SECRET_KEYS is not set: using the development key in %s; "
        "set HOOKGATE_SECRET_KEYS in production",
        dev_key_path,
    )
    return [key]


def secretbox_from(settings: Settings) -> SecretBox:
    """The box of `HOOKGATE_SECRET_KEYS` (newest first), or of the development key file."""
    return SecretBox(
        load_keys([k.get_secret_value() for k in settings.secret_keys], settings.dev_key_path)
    )
