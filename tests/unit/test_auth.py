"""Signed police requests (services/intake/auth.py): HMAC over request id, timestamp and body, with a
300 s tolerance and two keys active at once for rotation. Pure: no I/O, time is passed in."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from services.intake.auth import (
    LOG_APPEND_TIME,
    AuthenticationFailed,
    VerifiedRequest,
    sign,
    signed_headers,
    verify,
    verify_record,
)

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
NOW_TS = int(NOW.timestamp())
TOLERANCE = timedelta(seconds=300)
KEY_A_ID = "police-a"
KEY_A = b"key-a-secret-32-bytes-for-tests!"
KEY_B_ID = "police-b"
KEY_B = b"key-b-secret-32-bytes-for-tests?"
KEYS: dict[str, bytes] = {KEY_A_ID: KEY_A, KEY_B_ID: KEY_B}
BODY = b'{"police_reference":"NFK/2026/118734","person":{"name":"Body Person Name"}}'
REQUEST_ID = "req-0123456789abcdef"


def _headers(
    *,
    key_id: str = KEY_A_ID,
    secret: bytes = KEY_A,
    request_id: str = REQUEST_ID,
    timestamp: int = NOW_TS,
    body: bytes = BODY,
) -> dict[str, str]:
    """Signed headers as the server sees them: starlette's Headers is case-insensitive, so a plain
    dict stands in with lower-case names."""
    return {
        name.lower(): value
        for name, value in signed_headers(key_id, secret, request_id, timestamp, body).items()
    }


def _verify(headers: Mapping[str, str], body: bytes = BODY) -> VerifiedRequest:
    return verify(headers, body, KEYS, NOW, TOLERANCE)


def _refusal(headers: Mapping[str, str], body: bytes = BODY) -> str:
    with pytest.raises(AuthenticationFailed) as failure:
        _verify(headers, body)
    return str(failure.value)


def test_sign_is_hmac_sha256_over_the_documented_message() -> None:
    message = f"v1\n{REQUEST_ID}\n{NOW_TS}\n{hashlib.sha256(BODY).hexdigest()}".encode()
    expected = hmac.new(KEY_A, message, hashlib.sha256).hexdigest()
    assert sign(KEY_A, REQUEST_ID, NOW_TS, BODY) == expected
    assert len(expected) == 64


def test_signed_headers_are_the_four_documented_headers() -> None:
    headers = signed_headers(KEY_A_ID, KEY_A, REQUEST_ID, NOW_TS, BODY)
    assert headers == {
        "X-Key-Id": KEY_A_ID,
        "X-Request-Id": REQUEST_ID,
        "X-Timestamp": str(NOW_TS),
        "X-Signature": sign(KEY_A, REQUEST_ID, NOW_TS, BODY),
    }


def test_correctly_signed_request_verifies_with_key_id_and_request_id() -> None:
    assert _verify(_headers()) == VerifiedRequest(key_id=KEY_A_ID, request_id=REQUEST_ID)


def test_verify_accepts_the_mapping_signed_headers_returns() -> None:
    headers = signed_headers(KEY_A_ID, KEY_A, REQUEST_ID, NOW_TS, BODY)
    assert _verify(headers) == VerifiedRequest(KEY_A_ID, REQUEST_ID)


@pytest.mark.parametrize("missing", ["x-key-id", "x-request-id", "x-timestamp", "x-signature"])
def test_each_missing_header_is_refused_and_named(missing: str) -> None:
    headers = _headers()
    del headers[missing]
    assert _refusal(headers) == f"missing header(s): {missing}"


@pytest.mark.parametrize("empty", ["x-key-id", "x-request-id", "x-timestamp", "x-signature"])
def test_an_empty_header_counts_as_missing(empty: str) -> None:
    headers = _headers() | {empty: ""}
    assert _refusal(headers) == f"missing header(s): {empty}"


def test_all_headers_missing_are_listed_in_order() -> None:
    assert _refusal({}) == "missing header(s): x-key-id, x-request-id, x-timestamp, x-signature"


def test_unknown_key_id_is_refused_even_with_a_valid_signature_by_that_secret() -> None:
    headers = _headers(key_id="police-retired")
    assert _refusal(headers) == "unknown key id"


@pytest.mark.parametrize(
    "request_id",
    [
        pytest.param("abc1234", id="seven_chars_too_short"),
        pytest.param("a" * 129, id="129_chars_too_long"),
        pytest.param("req 01234567", id="space"),
        pytest.param("req.01234567", id="dot"),
        pytest.param("req/01234567", id="slash"),
        pytest.param("req:01234567", id="colon"),
        pytest.param("réq-01234567", id="non_ascii_letter"),
    ],
)
def test_malformed_request_id_is_refused(request_id: str) -> None:
    headers = _headers(request_id=request_id)
    assert _refusal(headers) == "X-Request-Id must be 8-128 of A-Z a-z 0-9 _ -"


@pytest.mark.parametrize(
    "request_id",
    [
        pytest.param("abcd1234", id="eight_chars"),
        pytest.param("A" * 128, id="128_chars"),
        pytest.param("Az09_-Az09_-", id="every_allowed_class"),
    ],
)
def test_well_formed_request_ids_at_the_limits_are_accepted(request_id: str) -> None:
    assert _verify(_headers(request_id=request_id)) == VerifiedRequest(KEY_A_ID, request_id)


@pytest.mark.parametrize("header", ["x-request-id", "x-timestamp"])
def test_a_trailing_newline_is_refused(header: str) -> None:
    if header == "x-request-id":
        headers = _headers(request_id="abcdefgh\n")  # signed over the id as sent
    else:
        headers = _headers() | {"x-timestamp": f"{NOW_TS}\n"}  # int() drops the newline
    with pytest.raises(AuthenticationFailed):
        _verify(headers)


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param("yesterday", id="word"),
        pytest.param("-1764320400", id="negative"),
        pytest.param("1764320400.0", id="decimal_point"),
        pytest.param("1.7e9", id="exponent"),
        pytest.param(" 1764320400", id="leading_space"),
        pytest.param("0x6929", id="hex"),
        pytest.param("²", id="superscript_two"),
        pytest.param("1764320400³", id="superscript_three_at_the_end"),
        pytest.param("١٧٦٤٣٢٠٤٠٠", id="arabic_indic_digits"),
        pytest.param("9" * 13, id="thirteen_digits"),
    ],
)
def test_non_numeric_timestamp_is_refused(timestamp: str) -> None:
    headers = _headers() | {"x-timestamp": timestamp}
    assert _refusal(headers) == "X-Timestamp must be Unix seconds"


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        pytest.param(-301, False, id="301s_in_the_past"),
        pytest.param(301, False, id="301s_in_the_future"),
        pytest.param(-299, True, id="299s_in_the_past"),
        pytest.param(299, True, id="299s_in_the_future"),
        pytest.param(-300, True, id="300s_in_the_past_on_the_edge"),
        pytest.param(300, True, id="300s_in_the_future_on_the_edge"),
        pytest.param(-3600, False, id="an_hour_old"),
    ],
)
def test_timestamp_must_be_within_the_tolerance(offset: int, accepted: bool) -> None:
    headers = _headers(timestamp=NOW_TS + offset)
    if accepted:
        assert _verify(headers) == VerifiedRequest(KEY_A_ID, REQUEST_ID)
    else:
        assert _refusal(headers) == "X-Timestamp outside the accepted window"


def test_timestamp_is_part_of_the_signature() -> None:
    """A fresh timestamp cannot be pasted onto an old signature."""
    headers = _headers(timestamp=NOW_TS - 100) | {"x-timestamp": str(NOW_TS)}
    assert _refusal(headers) == "signature does not match"


def test_request_id_is_part_of_the_signature() -> None:
    headers = _headers() | {"x-request-id": "req-another-id-0001"}
    assert _refusal(headers) == "signature does not match"


@pytest.mark.parametrize("position", [0, len(BODY) // 2, len(BODY) - 1])
def test_body_changed_by_one_byte_is_refused(position: int) -> None:
    changed = bytearray(BODY)
    changed[position] ^= 0x01
    assert bytes(changed) != BODY
    assert _refusal(_headers(), bytes(changed)) == "signature does not match"


def test_body_with_one_byte_appended_is_refused() -> None:
    assert _refusal(_headers(), BODY + b" ") == "signature does not match"


def test_signature_by_the_other_active_key_is_refused() -> None:
    headers = _headers(key_id=KEY_A_ID, secret=KEY_B)
    assert _refusal(headers) == "signature does not match"


def test_signature_by_a_key_we_do_not_hold_is_refused() -> None:
    headers = _headers(secret=b"an attacker's guess at the key!!")
    assert _refusal(headers) == "signature does not match"


def test_signature_in_upper_case_hex_is_accepted() -> None:
    headers = _headers()
    headers["x-signature"] = headers["x-signature"].upper()
    assert headers["x-signature"] != headers["x-signature"].lower()
    assert _verify(headers) == VerifiedRequest(KEY_A_ID, REQUEST_ID)


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param("0" * 63, id="63_hex_digits"),
        pytest.param("0" * 65, id="65_hex_digits"),
        pytest.param("g" * 64, id="not_hex"),
        pytest.param("é" * 64, id="non_ascii"),
        pytest.param("０" * 64, id="fullwidth_digits"),
    ],
)
def test_signature_that_is_not_64_hex_digits_is_refused(signature: str) -> None:
    """Before the signature is compared: hmac.compare_digest raises TypeError on non-ASCII text."""
    headers = _headers() | {"x-signature": signature}
    assert _refusal(headers) == "X-Signature must be 64 hex digits"


def test_truncated_signature_is_refused() -> None:
    headers = _headers()
    headers["x-signature"] = headers["x-signature"][:-1]
    assert _refusal(headers) == "X-Signature must be 64 hex digits"


def test_two_active_keys_both_verify_during_rotation() -> None:
    old = _headers(key_id=KEY_A_ID, secret=KEY_A, request_id="req-old-key-0001")
    new = _headers(key_id=KEY_B_ID, secret=KEY_B, request_id="req-new-key-0001")
    assert _verify(old) == VerifiedRequest(KEY_A_ID, "req-old-key-0001")
    assert _verify(new) == VerifiedRequest(KEY_B_ID, "req-new-key-0001")


def test_after_rotation_the_retired_key_is_refused() -> None:
    headers = _headers(key_id=KEY_A_ID, secret=KEY_A)
    with pytest.raises(AuthenticationFailed, match=r"^unknown key id$"):
        verify(headers, BODY, {KEY_B_ID: KEY_B}, NOW, TOLERANCE)


def test_refusal_messages_never_contain_the_body_or_a_secret() -> None:
    good = _headers()
    changed = bytearray(BODY)
    changed[10] ^= 0x01
    cases: list[tuple[dict[str, str], bytes]] = [
        ({}, BODY),
        (_headers(key_id="police-retired"), BODY),
        (_headers(request_id="bad id!"), BODY),
        (good | {"x-timestamp": "soon"}, BODY),
        (_headers(timestamp=NOW_TS - 301), BODY),
        (_headers(timestamp=NOW_TS + 301), BODY),
        (good, bytes(changed)),
        (_headers(secret=KEY_B), BODY),
        (good | {"x-signature": good["x-signature"][:-1]}, BODY),
    ]
    forbidden = [
        BODY.decode(),
        "Body Person Name",
        "NFK/2026/118734",
        KEY_A.decode(),
        KEY_B.decode(),
        KEY_A.hex(),
        KEY_B.hex(),
        good["x-signature"],
        sign(KEY_A, REQUEST_ID, NOW_TS, bytes(changed)),
        hashlib.sha256(BODY).hexdigest(),
    ]
    messages = [_refusal(headers, body) for headers, body in cases]
    assert len(messages) == len(cases)
    for message in messages:
        for text in forbidden:
            assert text not in message, (message, text)
    assert len(set(messages)) == 7  # each kind of failure is told apart


# --- the same scheme on a Kafka ingress record --------------------------------------------------

APPENDED_MS = NOW_TS * 1000  # when the broker appended the record (LogAppendTime)


def _record_headers(**changes: object) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in _headers(**changes).items()]  # type: ignore[arg-type]


def _verify_record(headers: list[tuple[str, bytes]], appended_ms: int = APPENDED_MS,
                   timestamp_type: int = LOG_APPEND_TIME) -> VerifiedRequest:  # fmt: skip
    return verify_record(headers, BODY, KEYS, appended_ms, timestamp_type, TOLERANCE)


def test_a_signed_record_verifies_whatever_its_other_headers_hold() -> None:
    other = [("content-type", b"application/json"), ("x-origin", b"\xff\xfe")]
    assert _verify_record([*_record_headers(), *other]) == VerifiedRequest(KEY_A_ID, REQUEST_ID)


def test_freshness_is_judged_against_the_broker_append_time_not_now() -> None:
    # No "now" takes part: read however late (a backlog after an outage), it reached Kafka in time.
    assert _verify_record(_record_headers()).key_id == KEY_A_ID
    # Signed ten minutes before the broker appended it: an old record written again.
    with pytest.raises(AuthenticationFailed, match="outside the accepted window"):
        _verify_record(_record_headers(timestamp=NOW_TS - 600))


def test_a_record_stamped_by_its_writer_is_refused() -> None:
    with pytest.raises(AuthenticationFailed, match="LogAppendTime"):
        _verify_record(_record_headers(), timestamp_type=0)  # CreateTime: the writer's clock


def test_a_non_ascii_signature_header_is_refused_not_crashed() -> None:
    headers = [(n, v) for n, v in _record_headers() if n != "x-signature"]
    with pytest.raises(AuthenticationFailed, match="x-signature is not ASCII"):
        _verify_record([*headers, ("x-signature", b"\xe9" * 64)])
