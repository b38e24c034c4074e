"""Signed, expiring acknowledgement links: `<alert id>.<person id>.<expiry>.<hmac>`.

The HMAC key is derived for this purpose alone from the configured secret (shared/keys.py), so
the secret itself never signs anything."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.keys import derive_key

LINK_KEY_PURPOSE = "notifier ack link v1"


@dataclass(frozen=True)
class AckClaim:
    alert_id: str
    person_id: str


class InvalidAckLink(Exception):
    """The link was altered, is not ours, or has expired. The message is safe to show."""


class ExpiredAckLink(InvalidAckLink):
    """A genuine link past its expiry."""


def make_token(secret: bytes, alert_id: str, person_id: str, expires: datetime) -> str:
    payload = f"{alert_id}|{person_id}|{int(expires.timestamp())}"
    encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    signature = hmac.new(_link_key(secret), encoded.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{encoded}.{signature}"


def read_token(secret: bytes, token: str, now: datetime) -> AckClaim:
    encoded, _, signature = token.partition(".")
    expected = hmac.new(_link_key(secret), encoded.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise InvalidAckLink("this acknowledgement link is not valid")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        alert_id, person_id, expires = payload.split("|")
        expiry = datetime.fromtimestamp(int(expires), UTC)
    except ValueError:
        raise InvalidAckLink("this acknowledgement link is not valid") from None
    if now > expiry:
        raise ExpiredAckLink("this acknowledgement link has expired: use the code, or call in")
    return AckClaim(alert_id, person_id)


def _link_key(secret: bytes) -> bytes:
    return derive_key(secret, LINK_KEY_PURPOSE)
