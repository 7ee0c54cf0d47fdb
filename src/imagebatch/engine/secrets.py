"""Encrypting what users give us to keep (their own API keys, webhook secrets).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with the server's key: the setting
IMAGEBATCH_SECRET_KEY, or a key generated on first start into <data_dir>/secret.key (mode
0600). Every server and worker of one installation must share the key.
"""

from __future__ import annotations

import base64
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from imagebatch.errors import ConfigurationError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


class SecretBox:
    def __init__(self, key: bytes) -> None:
        # Checked as Fernet checks it (32 bytes in URL-safe base64), so a wrong setting still
        # stops the start, while `cryptography` waits for the first secret (0.01 s).
        try:
            valid = len(base64.urlsafe_b64decode(key)) == 32
        except ValueError:
            valid = False
        if not valid:
            raise ConfigurationError(
                "IMAGEBATCH_SECRET_KEY is not a valid key: generate one with "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'"
            )
        self._key = key

    @cached_property
    def _fernet(self) -> Fernet:
        from cryptography.fernet import Fernet

        return Fernet(self._key)

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise ConfigurationError(
                "a stored secret cannot be decrypted: "
                "IMAGEBATCH_SECRET_KEY changed since it was saved"
            ) from None


def load_or_create_key(configured: str | None, data_dir: Path) -> bytes:
    if configured:
        return configured.encode()
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = base64.urlsafe_b64encode(os.urandom(32))  # what Fernet.generate_key() makes
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key
