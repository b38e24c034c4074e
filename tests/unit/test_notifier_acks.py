"""Signed, expiring acknowledgement links (services/notifier/acks.py)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier.acks import AckClaim, InvalidAckLink, make_token, read_token

SECRET = b"canary-secret-0123456789abcdef-x"
OTHER_SECRET = b"other-secret-0123456789abcdef-yy"
ALERT = "alert-canary-7f3c2a"
PERSON = "advisor-day"
EXPIRES = datetime(2026, 6, 18, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
NOT_VALID = "this acknowledgement link is not valid"
EXPIRED = "this acknowledgement link has expired: use the code, or call in"


def _token() -> str:
    return make_token(SECRET, ALERT, PERSON, EXPIRES)


def _reencode(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _assert_safe(error: InvalidAckLink) -> None:
    message = str(error)
    assert SECRET.decode() not in message
    assert "canary" not in message
    assert ALERT not in message
    assert PERSON not in message


def test_token_round_trips() -> None:
    assert read_token(SECRET, _token(), NOW) == AckClaim(alert_id=ALERT, person_id=PERSON)


def test_token_shape_and_no_secret_inside() -> None:
    token = _token()
    encoded, signature = token.split(".")
    assert len(signature) == 32
    assert set(signature) <= set("0123456789abcdef")
    assert encoded == _reencode(f"{ALERT}|{PERSON}|{int(EXPIRES.timestamp())}")
    assert SECRET.decode() not in token
    assert "=" not in token


def test_token_is_valid_until_its_expiry_inclusive() -> None:
    assert read_token(SECRET, _token(), EXPIRES) == AckClaim(ALERT, PERSON)


def test_expired_token_is_refused() -> None:
    with pytest.raises(InvalidAckLink) as caught:
        read_token(SECRET, _token(), EXPIRES + timedelta(seconds=1))
    assert str(caught.value) == EXPIRED
    _assert_safe(caught.value)


def _flip(text: str, index: int) -> str:
    replacement = "a" if text[index] != "a" else "b"
    return text[:index] + replacement + text[index + 1 :]


def _tampered_signature() -> str:
    return _flip(_token(), len(_token()) - 1)


def _tampered_payload() -> str:
    return _flip(_token(), 3)


def _other_alert_same_signature() -> str:
    _, signature = _token().split(".")
    return f"{_reencode(f'alert-other|{PERSON}|{int(EXPIRES.timestamp())}')}.{signature}"


def _later_expiry_same_signature() -> str:
    _, signature = _token().split(".")
    later = int((EXPIRES + timedelta(days=365)).timestamp())
    return f"{_reencode(f'{ALERT}|{PERSON}|{later}')}.{signature}"


def _other_secret() -> str:
    return make_token(OTHER_SECRET, ALERT, PERSON, EXPIRES)


@pytest.mark.parametrize(
    "forge",
    [
        _tampered_signature,
        _tampered_payload,
        _other_alert_same_signature,
        _later_expiry_same_signature,
        _other_secret,
        lambda: _token().split(".")[0],
        lambda: "",
        lambda: ".",
        lambda: "not-a-token",
        lambda: _token() + "0",
    ],
    ids=["signature", "payload", "other_alert", "later_expiry", "other_secret", "unsigned",
         "empty", "dot", "garbage", "long_signature"],
)  # fmt: skip
def test_forged_token_is_refused(forge: Callable[[], str]) -> None:
    token = forge()
    with pytest.raises(InvalidAckLink) as caught:
        read_token(SECRET, token, NOW)
    assert str(caught.value) == NOT_VALID
    _assert_safe(caught.value)


def test_token_from_another_secret_is_refused_even_when_expired() -> None:
    with pytest.raises(InvalidAckLink) as caught:
        read_token(SECRET, _other_secret(), EXPIRES + timedelta(days=1))
    assert str(caught.value) == NOT_VALID


def test_signed_malformed_payload_is_refused() -> None:
    """A payload with the wrong number of parts fails cleanly, not with an unpacking error."""
    token = make_token(SECRET, f"{ALERT}|extra", PERSON, EXPIRES)
    with pytest.raises(InvalidAckLink) as caught:
        read_token(SECRET, token, NOW)
    assert str(caught.value) == NOT_VALID
    _assert_safe(caught.value)


IDS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="|"),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None, database=None)
@given(IDS, IDS, st.integers(min_value=1, max_value=10**6))
def test_any_ids_round_trip_and_are_bound_to_the_token(
    alert_id: str, person_id: str, seconds_left: int
) -> None:
    expires = NOW + timedelta(seconds=seconds_left)
    token = make_token(SECRET, alert_id, person_id, expires)
    assert read_token(SECRET, token, NOW) == AckClaim(alert_id, person_id)
    with pytest.raises(InvalidAckLink):
        read_token(OTHER_SECRET, token, NOW)
    with pytest.raises(InvalidAckLink):
        read_token(SECRET, token, expires + timedelta(seconds=1))
