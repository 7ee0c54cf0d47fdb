"""Encrypting what users give us to keep (their own API keys, webhook secrets).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with the server's key: the setting
IMAGEBATCH_SECRET_KEY, or a key generated on first start into <data_dir>/secret.key (mode
0600). Every server and worker of one installation must share the key.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from imagebatch.errors import ConfigurationError


class SecretBox:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError:
            raise ConfigurationError(
                "IMAGEBATCH_SECRET_KEY is not a valid key: generate one with "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'"
            ) from None

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
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
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key
