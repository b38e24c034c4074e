"""Safe by default: the public dev secrets, and the checks every environment but `dev` applies to
keys, channels, URLs and Kafka transport. Settings classes and `python -m deploy.check` both call
these, so a value refused at start-up is refused by the check too, with the same words.

Messages name the setting and the rule, never the value: a refused secret must not reach a log."""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
from urllib.parse import parse_qs, urlsplit

MIN_KEY_BYTES = 32

# Fixed keys make `dev` runs reproducible. They are public (they are in this file), so every other
# environment refuses each of them wherever it appears, not only in the setting it was made for.
DEV_VAULT_KEY = base64.b64encode(b"dev-only-vault-key-not-secret!!!").decode()
DEV_POLICE_KEY = base64.b64encode(b"dev-only-police-signing-key-0000").decode()
DEV_ACK_SECRET = base64.b64encode(b"dev-only-ack-link-secret-0000000").decode()
DEV_TOKEN_PREFIX = "dev-"  # noqa: S105 - a marker refused outside dev, not a secret
SERVICES = ("intake", "notifier", "casework", "meeting_scheduler")
# Each service's event-signing key in dev (shared/event_signing.py), derived from its name.
DEV_EVENT_SEEDS = {
    service: hashlib.sha256(f"dev-only event signing key of {service}".encode()).digest()
    for service in SERVICES
}
DEV_SECRETS = frozenset(
    {DEV_VAULT_KEY, DEV_POLICE_KEY, DEV_ACK_SECRET}
    | {base64.b64encode(seed).decode() for seed in DEV_EVENT_SEEDS.values()}
)


def is_dev_secret(value: str) -> bool:
    """A value that is, or is shaped like, one of the published dev secrets."""
    if value in DEV_SECRETS or value.startswith(DEV_TOKEN_PREFIX):
        return True
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return raw.startswith(b"dev-only-")


def decode_key(name: str, value: str, min_bytes: int = MIN_KEY_BYTES) -> bytes:
    """Strict base64 (no stray characters, canonical padding) of at least `min_bytes` bytes. An
    empty or short HMAC key verifies what an attacker signs; lax base64 hides a typo'd key."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{name}: not strict base64") from None
    if base64.b64encode(raw).decode() != value:
        raise ValueError(f"{name}: not canonical base64 (padding or trailing bits)")
    if len(raw) < min_bytes:
        raise ValueError(f"{name}: a key must be at least {min_bytes} bytes (base64 of them)")
    return raw


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bootstrap_is_loopback(servers: str) -> bool:
    """Every `host:port` of a Kafka bootstrap list is on this machine."""
    hosts = [item.strip().rsplit(":", 1)[0] for item in servers.split(",") if item.strip()]
    return bool(hosts) and all(is_loopback_host(host) for host in hosts)


def channel_problem(url: str) -> str | None:
    """Why an apprise channel URL may not carry alerts outside dev, or None. The reason names
    the rule only: the URL itself holds credentials."""
    parts = urlsplit(url)
    query = {key.lower(): value for key, value in parse_qs(parts.query).items()}
    if any(value.lower() == "insecure" for value in query.get("mode", [])):
        return "mode=insecure sends without TLS"
    if parts.scheme.lower() in {"json", "xml", "form", "mailto"} and is_loopback_host(
        parts.hostname
    ):
        return "a loopback address is a development stand-in, not a gateway"
    if parts.scheme.lower() in {"json", "xml", "form"}:
        return "plain-HTTP webhook: use the TLS form of the scheme (jsons://, xmls://, forms://)"
    return None


def public_url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme != "https":
        return "must be https outside dev"
    if is_loopback_host(parts.hostname):
        return "must not be a loopback address outside dev"
    return None
