"""apprise's SMTP sends share two TLS contexts instead of building one a message, and a send that
turns verification off never weakens the context other sends use."""

from __future__ import annotations

import ssl

import pytest

from services.notifier.adapters import apprise_sender, smtp_tls

shim = smtp_tls.apprise_ssl


def test_installed_once_for_apprise_only() -> None:
    assert apprise_sender.AppriseSender is not None  # importing the sender installs the shim
    assert shim() is not ssl
    assert ssl.create_default_context is not shim().create_default_context
    smtp_tls.install()  # idempotent
    assert isinstance(ssl.create_default_context(), ssl.SSLContext)


def test_a_verified_send_gets_the_shared_verifying_context() -> None:
    first = shim().create_default_context()
    second = shim().create_default_context()
    assert first.wrap_socket == second.wrap_socket  # one context behind both
    assert first.verify_mode == ssl.CERT_REQUIRED
    assert first.check_hostname is True


def test_switching_verification_off_affects_that_send_only() -> None:
    insecure = shim().create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = shim().CERT_NONE
    assert insecure.verify_mode == ssl.CERT_NONE
    assert insecure.check_hostname is False
    verified = shim().create_default_context()
    assert verified.verify_mode == ssl.CERT_REQUIRED
    assert verified.check_hostname is True


def test_any_other_change_is_refused_rather_than_shared() -> None:
    context = shim().create_default_context()
    with pytest.raises(AttributeError, match="does not take"):
        context.minimum_version = ssl.TLSVersion.TLSv1
