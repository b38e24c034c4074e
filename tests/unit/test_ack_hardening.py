"""The pure parts of acknowledging safely: the code's format and how typing it is forgiven, the
rate-limit windows, the guessing arithmetic at the default settings, and per-purpose keys."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.ack_limits import (
    guess_hit_probability,
    retry_after_seconds,
    window_start,
)
from services.notifier.acks import make_token, read_token
from services.notifier.domain import (
    ACK_CODE_ALPHABET,
    ACK_CODE_LENGTH,
    new_ack_code,
    normalise_ack_code,
)
from services.notifier.settings import NotifierSettings
from shared.keys import derive_key

HOURS_A_YEAR = 365 * 24
OPEN_CODES_AT_MOST = 100_000  # the bound argued in services/notifier/ack_limits.py


def _default(name: str) -> int:
    value = NotifierSettings.model_fields[name].default
    assert isinstance(value, int)
    return value


def test_a_code_is_twelve_unambiguous_characters_grouped_for_reading() -> None:
    code = new_ack_code()
    assert len(code) == 14
    assert code[4] == code[9] == "-"
    assert set(code.replace("-", "")) <= set(ACK_CODE_ALPHABET)
    assert ACK_CODE_LENGTH == 12
    assert len(ACK_CODE_ALPHABET) == 32


@pytest.mark.parametrize(
    "typed",
    ["K7Q2-M4XD-9BHT", "k7q2m4xd9bht", " K7Q2 M4XD 9BHT ", "k7q2-m4xd 9bht", "K7Q2M4XD9BHT\n"],
)
def test_case_spaces_and_dashes_do_not_matter(typed: str) -> None:
    assert normalise_ack_code(typed) == "K7Q2-M4XD-9BHT"


@pytest.mark.parametrize(
    "typed",
    ["", "K7Q2-M4XD", "K7Q2-M4XD-9BHTX", "K7Q2-M4XD-9BH0", "K7Q2-M4XD-9BHI", "K7Q2-M4XD-9BH!",
     "K7Q2-M4XD-9BHÉ", "K7Q2M4XD"],
)  # fmt: skip
def test_a_wrong_length_or_a_lookalike_is_no_code(typed: str) -> None:
    assert normalise_ack_code(typed) is None


def test_a_new_code_reads_back_as_itself() -> None:
    for _ in range(100):
        code = new_ack_code()
        assert normalise_ack_code(code) == code
        assert normalise_ack_code(code.lower().replace("-", " ")) == code


def test_windows_are_aligned_so_every_replica_counts_in_the_same_one() -> None:
    window = timedelta(minutes=15)
    now = datetime(2026, 11, 28, 10, 7, 30, tzinfo=UTC)
    assert window_start(now, window) == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert window_start(now + timedelta(minutes=8), window) == datetime(
        2026, 11, 28, 10, 15, tzinfo=UTC
    )
    assert retry_after_seconds(now, window) == 450
    assert retry_after_seconds(datetime(2026, 11, 28, 10, 14, 59, 500_000, tzinfo=UTC), window) == 1
    assert retry_after_seconds(datetime(2026, 11, 28, 10, 15, tzinfo=UTC), window) == 900


def test_guessing_at_the_default_limits_is_hopeless() -> None:
    """The README's arithmetic: at the default limits, a year of guessing at the global failure
    budget (any number of addresses) hits one of 100,000 open codes with p < 1e-6."""
    per_hour = 3600 / _default("ack_limit_window_seconds")
    global_per_year = _default("ack_failures_global") * per_hour * HOURS_A_YEAR
    client_per_year = _default("ack_failures_per_client") * per_hour * HOURS_A_YEAR
    year_global = guess_hit_probability(32, ACK_CODE_LENGTH, OPEN_CODES_AT_MOST, global_per_year)
    year_client = guess_hit_probability(32, ACK_CODE_LENGTH, OPEN_CODES_AT_MOST, client_per_year)
    print(f"\nP(hit in a year): global budget {year_global:.1e}, one client {year_client:.1e}")
    assert year_global < 1e-6
    assert year_client < year_global
    assert year_global == pytest.approx(1.82e-7, rel=0.01)


def test_the_old_codes_were_guessable_within_hours() -> None:
    """8 characters, every code ever issued still valid, no limit: 1,000 guesses a second."""
    three_hours = 1000 * 3 * 3600
    assert guess_hit_probability(32, 8, OPEN_CODES_AT_MOST, three_hours) > 0.6


def test_keys_are_derived_per_purpose() -> None:
    secret = b"test-only-ack-link-secret-000000"
    link, limiter = derive_key(secret, "notifier ack link v1"), derive_key(secret, "other v1")
    assert len(link) == len(limiter) == 32
    assert link != limiter
    assert secret not in (link, limiter)
    assert derive_key(secret, "notifier ack link v1") == link
    with pytest.raises(ValueError, match="no secret"):
        derive_key(b"", "notifier ack link v1")


def test_links_are_signed_with_the_derived_key_not_the_secret() -> None:
    secret = b"test-only-ack-link-secret-000000"
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    token = make_token(secret, "alert-1", "advisor-a", expires)
    encoded, _, signature = token.partition(".")
    raw = hmac.new(secret, encoded.encode(), hashlib.sha256).hexdigest()[:32]
    assert signature != raw, "the configured secret itself signed the link"
    derived = derive_key(secret, "notifier ack link v1")
    assert signature == hmac.new(derived, encoded.encode(), hashlib.sha256).hexdigest()[:32]
    assert read_token(secret, token, expires - timedelta(hours=1)).alert_id == "alert-1"
