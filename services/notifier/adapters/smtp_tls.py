"""Reuse TLS contexts across apprise's email sends.

apprise's SMTP controller calls `ssl.create_default_context()` for every message, even for a
plain-SMTP URL that never uses it; with OpenSSL 3 that parses the whole system CA bundle each
time. Profiling the notifier under a steady load (`python -m bench.profile`) put a quarter of its
CPU there. Two contexts made once (certificates verified, or not, as a URL asks) do the same job.

apprise only ever sets `check_hostname` and `verify_mode` on the context it gets, then hands it to
smtplib, which only calls `wrap_socket`. `_ContextChoice` stands in for it: it answers as the
shared verified context until apprise switches verification off, and from then on as the shared
unverified one, so no send can change a context another send is using.
"""

from __future__ import annotations

import ssl
import types
from functools import cache
from typing import Any

import apprise.plugins.email.smtp as apprise_smtp


@cache
def _shared(verified: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verified:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _ContextChoice:
    def __init__(self) -> None:
        object.__setattr__(self, "_verified", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if (name == "check_hostname" and value is False) or (
            name == "verify_mode" and value == ssl.CERT_NONE
        ):
            object.__setattr__(self, "_verified", False)
            return
        raise AttributeError(f"the shared TLS context does not take {name}={value!r}")

    def __getattr__(self, name: str) -> Any:
        return getattr(_shared(object.__getattribute__(self, "_verified")), name)


def _create_default_context(*args: Any, **kwargs: Any) -> Any:
    if args or kwargs:  # a purpose or CA files: not what apprise asks for today; do not guess
        return ssl.create_default_context(*args, **kwargs)
    return _ContextChoice()


def apprise_ssl() -> Any:
    """The `ssl` apprise's SMTP module sees (not part of apprise's typed interface)."""
    return vars(apprise_smtp)["ssl"]


def install() -> None:
    """Give apprise's SMTP module an `ssl` of its own whose create_default_context shares
    contexts; the real `ssl` module, used by everything else, is untouched."""
    if getattr(apprise_ssl(), "shares_contexts", False):
        return
    shim = types.ModuleType("ssl")
    shim.__dict__.update(vars(ssl))
    shim.create_default_context = _create_default_context  # type: ignore[attr-defined]
    shim.shares_contexts = True  # type: ignore[attr-defined]
    vars(apprise_smtp)["ssl"] = shim
