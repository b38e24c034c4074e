"""Keeping personal data out of logs and error texts; settings that refuse unsafe values."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from pydantic import ValidationError

from services.intake.settings import DEV_VAULT_KEY, IntakeSettings
from shared.redaction import MAX_REASON, REDACTED, redact_mapping, safe_reason
from shared.settings import Environment
from tests.support.signing import event_settings

R = REDACTED


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param({"name": "Canary", "case_reference": "MS-2026-7KQ2M4"},
                     {"name": R, "case_reference": "MS-2026-7KQ2M4"}, id="top_level"),
        pytest.param({"Phone": "+447700900123", "EMAIL": "a@b.c", "event": "sent"},
                     {"Phone": R, "EMAIL": R, "event": "sent"}, id="any_case"),
        pytest.param({"ctx": {"date_of_birth": "2001-01-01", "district": "norwich",
                              "deeper": {"notes": "secret", "attempt": 2}}},
                     {"ctx": {"date_of_birth": R, "district": "norwich",
                              "deeper": {"notes": R, "attempt": 2}}}, id="nested"),
        pytest.param({"person": {"name": "Canary", "age_estimate": 30}, "payload": b"{...}"},
                     {"person": R, "payload": R}, id="whole_personal_subtrees"),
        pytest.param({"event": "ok", "count": 3, "tags": ["name", "phone"]},
                     {"event": "ok", "count": 3, "tags": ["name", "phone"]}, id="nothing_personal"),
    ],
)  # fmt: skip
def test_redact_mapping(event: dict[str, Any], expected: dict[str, Any]) -> None:
    assert redact_mapping(event) == expected


def test_redact_mapping_changes_the_event_in_place() -> None:
    event: dict[str, Any] = {"name": "Canary"}
    assert redact_mapping(event) is event
    assert event == {"name": R}


def test_redact_mapping_reaches_into_lists() -> None:
    event: dict[str, Any] = {"contacts": [{"name": "Canary Wilhelmina", "district": "norwich"}]}
    assert redact_mapping(event) == {"contacts": [{"name": R, "district": "norwich"}]}


def test_redact_mapping_tolerates_non_string_keys() -> None:
    event: dict[str, Any] = {"offsets": {0: 12, 1: 15}}
    assert redact_mapping(event) == {"offsets": {0: 12, 1: 15}}


def test_safe_reason_of_json_decode_error_omits_the_document() -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads('{"name": "Canary Wilhelmina", "phone": +44}')
    reason = safe_reason(caught.value)
    assert reason == "malformed JSON: Expecting value at line 1 column 40"
    assert caught.value.doc.startswith('{"name": "Canary')  # the error does hold the input


def test_safe_reason_of_unicode_error_omits_the_bytes() -> None:
    with pytest.raises(UnicodeDecodeError) as caught:
        b"Canary \xff Wilhelmina".decode()
    assert safe_reason(caught.value) == "not UTF-8 text: invalid byte at position 7"


def test_safe_reason_withholds_messages_of_exceptions_that_may_quote_values() -> None:
    assert safe_reason(KeyError("Canary Wilhelmina")) == "builtins.KeyError (message withheld)"
    assert safe_reason(ValueError("Canary Wilhelmina")) == "builtins.ValueError (message withheld)"


def test_safe_reason_keeps_system_messages_truncated() -> None:
    assert (
        safe_reason(ConnectionRefusedError("broker down")) == "ConnectionRefusedError: broker down"
    )
    assert len(safe_reason(RuntimeError("x" * 5000))) == MAX_REASON


# --- settings ---------------------------------------------------------------------------------

REAL_KEY = base64.b64encode(bytes(range(100, 132))).decode()
POSTGRES = "postgresql+asyncpg://intake@db.internal/intake"
POLICE_KEYS = {"k1": base64.b64encode(bytes(range(50, 82))).decode()}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if (
            name.startswith(("INTAKE_", "KAFKA_", "SAFEGUARDING_", "EVENT_", "STAFF_"))
            or name == "LOG_LEVEL"
        ):
            monkeypatch.delenv(name)


SECURE_KAFKA = {"KAFKA_SECURITY": "sasl_scram_sha_512", "KAFKA_USERNAME": "intake",
                "KAFKA_PASSWORD": "a-long-scram-password"} | event_settings("intake")  # fmt: skip
OIDC = {"issuer": "https://login.example.org/realms/safeguarding"}


def test_dev_defaults_construct() -> None:
    settings = IntakeSettings(environment="dev")
    assert settings.environment is Environment.DEV
    assert settings.database_url == "sqlite+aiosqlite:///.local/db/intake.sqlite3"
    assert settings.vault_key_id == "dev-1"
    assert settings.vault_key.get_secret_value() == DEV_VAULT_KEY
    assert len(base64.b64decode(DEV_VAULT_KEY)) == 32
    assert settings.child_is_immediate is True
    assert settings.topic("referrals") == "referrals"


def test_there_is_no_default_environment() -> None:
    with pytest.raises(ValidationError, match="SAFEGUARDING_ENV is required"):
        IntakeSettings()


@pytest.mark.parametrize("environment", ["production", "staging", "test"])
def test_dev_vault_key_is_refused_outside_dev(environment: str) -> None:
    with pytest.raises(ValidationError, match="INTAKE_VAULT_KEY holds a public dev secret"):
        IntakeSettings(environment=environment, database_url=POSTGRES, **SECURE_KAFKA)


def test_production_with_sqlite_is_refused() -> None:
    with pytest.raises(ValidationError, match="not SQLite"):
        IntakeSettings(environment="production", vault_key=REAL_KEY, **SECURE_KAFKA)


def test_production_with_plaintext_kafka_is_refused() -> None:
    with pytest.raises(ValidationError, match="KAFKA_SECURITY=plaintext is for dev and test"):
        IntakeSettings(environment="production", vault_key=REAL_KEY, database_url=POSTGRES,
                       police_keys=POLICE_KEYS)  # fmt: skip


def test_production_with_real_key_and_postgres_is_accepted() -> None:
    settings = IntakeSettings(
        environment="production", vault_key=REAL_KEY, database_url=POSTGRES,
        police_keys=POLICE_KEYS, staff_oidc=OIDC, **SECURE_KAFKA,
    )  # fmt: skip
    assert settings.environment is Environment.PRODUCTION
    assert REAL_KEY not in repr(settings)


def test_production_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEGUARDING_ENV", "production")
    monkeypatch.setenv("INTAKE_DATABASE_URL", POSTGRES)
    monkeypatch.setenv("STAFF_OIDC_ISSUER", OIDC["issuer"])
    for name, value in SECURE_KAFKA.items():
        if isinstance(value, str):
            name = name if name.isupper() else f"INTAKE_{name.upper()}"
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.setenv(name, json.dumps(value))
    with pytest.raises(ValidationError, match="INTAKE_VAULT_KEY holds a public dev secret"):
        IntakeSettings()
    monkeypatch.setenv("INTAKE_VAULT_KEY", REAL_KEY)
    with pytest.raises(ValidationError, match="INTAKE_POLICE_KEYS holds a public dev secret"):
        IntakeSettings()
    monkeypatch.setenv("INTAKE_POLICE_KEYS", json.dumps(POLICE_KEYS))
    settings = IntakeSettings()
    assert settings.environment is Environment.PRODUCTION
    assert settings.signatures_required


@pytest.mark.parametrize("length", [16, 31, 33, 64])
def test_vault_key_must_be_32_bytes(length: int) -> None:
    key = base64.b64encode(bytes(length)).decode()
    with pytest.raises(ValidationError, match=r"exactly 32 bytes|at least 32 bytes"):
        IntakeSettings(environment="dev", vault_key=key)


def test_settings_error_does_not_echo_the_vault_key() -> None:
    with pytest.raises(ValidationError) as caught:
        IntakeSettings(environment="production", vault_key=REAL_KEY)
    assert REAL_KEY[-16:] not in str(caught.value)
