"""Credentials at rest: Fernet tokens under keys from the environment (SPEC §10).

`settings.INTEGRATIONS_KEYS` lists Fernet keys, newest first. `MultiFernet`
encrypts with the first and decrypts with any of them, so a key is rotated by
putting the new one in front, running `manage.py rotate_integration_keys`
(which re-encrypts every stored token with the new key) and then dropping the
old one. Without keys (development) one key is derived from SECRET_KEY.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class CredentialsUnreadable(Exception):
    """The stored token was written under a key that is no longer configured."""


def keyring() -> MultiFernet:
    keys = list(settings.INTEGRATIONS_KEYS)
    if not keys:
        digest = hashlib.sha256(f"integrations:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(values: dict[str, str]) -> str:
    return keyring().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(keyring().decrypt(token.encode()))
    except InvalidToken as exc:
        raise CredentialsUnreadable(
            "The stored credentials cannot be decrypted with the configured INTEGRATIONS_KEYS."
        ) from exc


def rotate(token: str) -> str:
    """The same values, encrypted with the newest key."""
    return keyring().rotate(token.encode()).decode() if token else token


def masked(value: str) -> str:
    """What a page may show of a secret: its length hidden, its last 4 characters."""
    if not value:
        return ""
    return "••••" + value[-4:] if len(value) > 8 else "••••"
