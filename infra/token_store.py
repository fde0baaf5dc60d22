"""Rotated OAuth refresh tokens kept across restarts, encrypted at rest.

Xero and QuickBooks (and others) rotate the refresh token on every refresh: the one in
the environment is spent after the first use, so a restarted worker could no longer
authenticate. With ``INVOICING_TOKEN_STORE`` (a file path) and ``INVOICING_TOKEN_STORE_KEY``
(a Fernet key: ``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``)
the worker writes each rotated refresh token, encrypted, to that file (mode 0600) and
reads the latest one back on start-up. Token values never appear in logs or on topics;
the file holds only ciphertext.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from domain.errors import ConfigError

__all__ = ["TokenStore", "configure_token_store", "token_store"]

_STORE: "TokenStore | None" = None


class TokenStore:
    """A small encrypted key → refresh-token file."""

    def __init__(self, path: str | Path, key: str) -> None:
        self.path = Path(path)
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError):
            raise ConfigError("INVOICING_TOKEN_STORE_KEY is not a Fernet key") from None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"token store {self.path} is unreadable: {type(exc).__name__}") from None

    def get(self, name: str) -> str | None:
        with self._lock:
            blob = self._load().get(name)
        if blob is None:
            return None
        try:
            return self._fernet.decrypt(blob.encode()).decode()
        except InvalidToken:
            raise ConfigError(f"token store {self.path}: entry {name!r} was written with another key") from None

    def put(self, name: str, token: str) -> None:
        with self._lock:
            data = self._load()
            data[name] = self._fernet.encrypt(token.encode()).decode()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh)
            os.replace(tmp, self.path)


def configure_token_store(path: str | Path | None, key: str | None) -> TokenStore | None:
    """Install the process-wide store (both set), or none.

    Raises:
        ConfigError: only one of the two is set, or the key is invalid.
    """
    global _STORE
    if not path and not key:
        _STORE = None
        return None
    if not (path and key):
        raise ConfigError("set both INVOICING_TOKEN_STORE and INVOICING_TOKEN_STORE_KEY, or neither")
    _STORE = TokenStore(path, key)
    return _STORE


def token_store() -> TokenStore | None:
    return _STORE
