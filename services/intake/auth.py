"""Signed requests from the police intake system: HMAC-SHA256 over the request id, a timestamp and
the body, with a few minutes' tolerance and every request id accepted once.

Headers (all required):
    X-Key-Id        which shared key signed it (two may be active at once, for rotation)
    X-Request-Id    unique per request, 8–128 of [A-Za-z0-9_-]; a repeated id is refused (403)
    X-Timestamp     Unix time in seconds
    X-Signature     hex HMAC-SHA256 of  "v1\n{request id}\n{timestamp}\n{hex SHA-256 of body}"

A retried POST must be signed again with a new request id; the contact itself is idempotent on
(force_code, police_reference), so the retry is answered 200 with the same case reference.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SCHEME = "v1"
# Used with fullmatch: `$` would also accept a trailing newline.
REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,128}")
TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII only: str.isdigit() also accepts "²"
SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
HEADERS = ("x-key-id", "x-request-id", "x-timestamp", "x-signature")


class AuthenticationFailed(Exception):
    """401: the request is not signed by a key we hold. The message is safe to return."""


class Forbidden(Exception):
    """403: correctly signed, but refused (replayed request id)."""


@dataclass(frozen=True)
class VerifiedRequest:
    key_id: str
    request_id: str


def sign(secret: bytes, request_id: str, timestamp: int, body: bytes) -> str:
    message = "\n".join((SCHEME, request_id, str(timestamp), hashlib.sha256(body).hexdigest()))
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def signed_headers(
    key_id: str, secret: bytes, request_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """What a client sends; used by `python -m services.intake.client` and the tests."""
    return {
        "X-Key-Id": key_id,
        "X-Request-Id": request_id,
        "X-Timestamp": str(timestamp),
        "X-Signature": sign(secret, request_id, timestamp, body),
    }


def verify(
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, bytes],
    now: datetime,
    tolerance: timedelta,
) -> VerifiedRequest:
    """Check the signature and freshness. Replay of the request id is checked by the caller,
    which must record ids atomically (services/intake/handlers.py)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    values = {name: lowered.get(name) for name in HEADERS}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise AuthenticationFailed(f"missing header(s): {', '.join(missing)}")
    key_id, request_id, timestamp, signature = (str(values[name]) for name in HEADERS)
    if key_id not in keys:
        raise AuthenticationFailed("unknown key id")
    if not REQUEST_ID.fullmatch(request_id):
        raise AuthenticationFailed("X-Request-Id must be 8-128 of A-Z a-z 0-9 _ -")
    if not TIMESTAMP.fullmatch(timestamp):
        raise AuthenticationFailed("X-Timestamp must be Unix seconds")
    skew = abs(now.timestamp() - int(timestamp))
    if skew > tolerance.total_seconds():
        raise AuthenticationFailed("X-Timestamp outside the accepted window")
    if not SIGNATURE.fullmatch(signature):
        raise AuthenticationFailed("X-Signature must be 64 hex digits")
    expected = sign(keys[key_id], request_id, int(timestamp), body)
    if not hmac.compare_digest(expected, signature.lower()):
        raise AuthenticationFailed("signature does not match")
    return VerifiedRequest(key_id, request_id)


LOG_APPEND_TIME = 1  # Kafka's timestamp type: set by the broker when it appended the record


def verify_record(
    headers: Sequence[tuple[str, bytes]],
    value: bytes,
    keys: Mapping[str, bytes],
    timestamp_ms: int,
    timestamp_type: int,
    tolerance: timedelta,
) -> VerifiedRequest:
    """The same scheme for a record on the ingress topic, its four headers carried as Kafka record
    headers. Freshness is judged against the time the broker appended the record (the topic is
    created with LogAppendTime), not against now: a backlog read hours later after an outage is
    still fresh, while an old signed record written again today is not."""
    if timestamp_type != LOG_APPEND_TIME:
        raise AuthenticationFailed("the ingress topic must use LogAppendTime (deploy/topics.py)")
    text = {}
    for name, raw in headers:
        if name.lower() not in HEADERS:
            continue  # other headers are metadata (content type, correlation id), not signed
        try:
            text[name.lower()] = raw.decode("ascii") if raw is not None else ""
        except UnicodeDecodeError:
            raise AuthenticationFailed(f"{name.lower()} is not ASCII") from None
    appended_at = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return verify(text, value, keys, appended_at, tolerance)
