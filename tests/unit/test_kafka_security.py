"""Transport security settings turn into the client options aiokafka needs."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.kafka.security import parse_security
from pydantic import ValidationError

from shared.kafka import security_from
from shared.settings import ServiceSettings

LOCAL: dict[str, Any] = {"SAFEGUARDING_ENV": "dev"}


def test_plaintext_by_default() -> None:
    assert security_from(ServiceSettings(**LOCAL, KAFKA_SECURITY="plaintext")) is None


def test_tls_only() -> None:
    options = parse_security(security_from(ServiceSettings(**LOCAL, KAFKA_SECURITY="ssl")))
    assert options["security_protocol"] == "SSL"
    assert options["ssl_context"] is not None


def test_scram_over_tls() -> None:
    settings = ServiceSettings(
        **LOCAL,
        KAFKA_SECURITY="sasl_scram_sha_512",
        KAFKA_USERNAME="intake",
        KAFKA_PASSWORD="pw-canary",
    )
    options = parse_security(security_from(settings))
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "intake"
    assert "pw-canary" not in repr(settings)


def test_scram_without_credentials_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs KAFKA_USERNAME and KAFKA_PASSWORD"):
        ServiceSettings(**LOCAL, KAFKA_SECURITY="sasl_scram_sha_512")
