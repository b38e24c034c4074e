"""One configured secret, one key per purpose: HKDF-SHA256 (RFC 5869) from `cryptography`.

A key derived for signing acknowledgement links cannot verify anything else, and a key used to
pseudonymise rate-limit keys cannot sign a link: learning one purpose's key (from a log of HMACs,
a bug in one use) gives nothing for another."""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SALT = b"safeguarding-notifications key derivation v1"


@lru_cache(maxsize=64)
def derive_key(secret: bytes, purpose: str, length: int = 32) -> bytes:
    """The key for `purpose` (e.g. "notifier ack link v1"); the same inputs give the same key."""
    if not secret:
        raise ValueError("no secret to derive a key from")
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=SALT, info=purpose.encode()).derive(
        secret
    )
