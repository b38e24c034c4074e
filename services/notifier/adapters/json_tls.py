"""apprise's JSON plugin (`json://`, `jsons://`: an HTTP SMS or voice gateway) with its TLS
contexts built once per process instead of once per message.

apprise 2.2.0's `NotifyJSON.send` posts each message with `requests.request`: a new session and
connection, and over https a new TLS context with a CA bundle loaded into it. That was 23-28 ms
of CPU a message over https against 1.2-1.5 ms over http (`python -m bench.sms_send`), more than
the rest of a contact costs the four services. apprise takes no session, adapter or context from
outside, and requests offers no setting for it.

`KeptContextJSON` runs apprise's own `send`, byte for byte, with one name bound differently: the
`requests` it calls is `OneContextRequests`. Its `request` does what `requests.request` does (a
new session for the message, closed after it), and mounts for https an adapter that hands urllib3
a context made once (`init_poolmanager`) and keeps requests from loading the default CA bundle
into it again on each connection (`cert_verify`). The connection is still new for every message:
a kept one could be closed by the gateway at the moment it is reused, and fail an urgent page.
Everything else stays apprise's and requests' own:
- how apprise prepares the message: strips it, converts its format, caps its size, retries;
- the request's headers and body, and how its status is judged;
- proxies and the environment's settings. A CA bundle named in `REQUESTS_CA_BUNDLE` or
  `CURL_CA_BUNDLE` is left to requests, which loads it for each connection, as before.
tests/integration/test_json_tls.py checks that a gateway receives what stock apprise sends, that
the CA bundle is read once, and that a certificate is checked as before.
"""

from __future__ import annotations

import os
import ssl
import types
from functools import cache
from typing import Any

import requests
from apprise.plugins import custom_json
from apprise.plugins.custom_json import NotifyJSON
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.util.ssl_ import create_urllib3_context

# requests reads these, in this order, in place of `verify=True` (Session.merge_environment_settings)
ENVIRONMENT_BUNDLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@cache
def tls_context(verified: bool) -> ssl.SSLContext:
    """The context urllib3 would build for each connection (`create_urllib3_context`), built once:
    checked against the CA bundle requests uses (certifi's), or not checked (`verify=no`). Not
    the e-mail sender's contexts: urllib3 sets `verify_mode` on the context it is given."""
    if not verified:
        return create_urllib3_context(cert_reqs=ssl.CERT_NONE)
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    context.load_verify_locations(cafile=DEFAULT_CA_BUNDLE_PATH)
    return context


class OneContextAdapter(HTTPAdapter):
    """requests' adapter, its https connections on `tls_context(verified)`."""

    def __init__(self, verified: bool) -> None:
        self.context = tls_context(verified)  # set first: HTTPAdapter.__init__ makes the pools
        super().__init__()

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(
            connections, maxsize, block, ssl_context=self.context, **pool_kwargs
        )

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)
        # requests names its default bundle for every connection, and urllib3 would load it into
        # the context each time. This context holds it already. Only for a pool on this context:
        # a proxy's pool builds its own context, which needs the bundle named.
        on_this_context = getattr(conn, "conn_kw", {}).get("ssl_context") is self.context
        default = requests.utils.DEFAULT_CA_BUNDLE_PATH  # the bundle requests names by default
        if verify is True and on_this_context and conn.ca_certs == default:
            conn.ca_certs = None


class OneContextRequests:
    """What `NotifyJSON.send` uses of the requests module (tests/integration/test_json_tls.py
    checks the list against its code), with `request` on a session that uses the kept contexts."""

    RequestException = requests.RequestException

    @staticmethod
    def request(method: str, url: str, **kwargs: Any) -> requests.Response:
        verify = kwargs.get("verify", True)
        with requests.Session() as session:  # as requests.request: one session, then closed
            named = any(os.environ.get(name) for name in ENVIRONMENT_BUNDLES)
            if verify is False or (verify is True and not (session.trust_env and named)):
                session.mount("https://", OneContextAdapter(verified=verify is True))
            return session.request(method=method, url=url, **kwargs)


# apprise's own `send`, its global `requests` bound to OneContextRequests (see the module's text).
_send = NotifyJSON.send
kept_context_send = types.FunctionType(
    _send.__code__,
    {**vars(custom_json), "requests": OneContextRequests},
    _send.__name__,
    _send.__defaults__,
    _send.__closure__,
)
kept_context_send.__kwdefaults__ = _send.__kwdefaults__


class KeptContextJSON(NotifyJSON):  # type: ignore[no-untyped-call]
    """apprise's JSON plugin, sending through `kept_context_send`."""

    send = kept_context_send
