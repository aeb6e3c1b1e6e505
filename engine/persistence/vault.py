"""Encryption of tokens at rest (Fernet).

The key comes from SHOPSYNC_SECRET_KEY or from a key file in SHOPSYNC_HOME created with mode
0600 on first use. Only `encrypt`/`decrypt` see plaintext; callers keep tokens in local variables.
"""

from __future__ import annotations

import os

from cryptography.fernet import Fernet, InvalidToken

from engine.config import ConfigError, Settings


class SecretError(RuntimeError):
    """A stored secret cannot be decrypted (wrong key, or the key file was replaced)."""


class Vault:
    def __init__(self, settings: Settings) -> None:
        key = self._load_key(settings)
        try:
            self._fernet = Fernet(key)
        except ValueError:  # binascii.Error is a ValueError too; never echo the key
            where = ("SHOPSYNC_SECRET_KEY" if settings.secret_key is not None
                     else f"the key file {settings.key_file}")
            raise ConfigError(
                f"{where} is not a Fernet key (32 url-safe base64-encoded bytes); "
                "tokens stored with the right key cannot be read without it"
            ) from None

    @staticmethod
    def _load_key(settings: Settings) -> bytes:
        if settings.secret_key is not None:
            return settings.secret_key.get_secret_value().encode()
        path = settings.key_file
        settings.ensure_home()
        try:
            return path.read_bytes().strip()
        except FileNotFoundError:
            pass
        except OSError as error:
            raise ConfigError(f"cannot read the key file {path}: {error.strerror}") from None
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key

    def encrypt(self, plaintext: str | None) -> str | None:
        if plaintext is None:
            return None
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str | None) -> str | None:
        if ciphertext is None:
            return None
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as error:
            raise SecretError("stored token cannot be decrypted with the current key") from error
