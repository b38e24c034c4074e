"""Sends one message to one apprise URL (an SMS gateway, a voice provider, a chat service, …).
E-mail goes through services/notifier/adapters/smtp_sender.py instead (shared TLS contexts)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from functools import lru_cache
from pathlib import Path
from typing import Any

import apprise
from apprise import plugins
from apprise.plugins.custom_json import NotifyJSON
from apprise.utils.parse import GET_SCHEMA_RE, parse_urls

from services.notifier.adapters.apprise_plugins import plugin_class
from services.notifier.adapters.json_tls import KeptContextJSON
from services.notifier.ports import Attachment
from shared.logging import get_logger

log = get_logger(__name__)


@contextmanager
def attachment_files(
    attachments: tuple[Attachment, ...],
) -> Iterator[apprise.AppriseAttachment | None]:
    """apprise attaches files by path: the attachments as files in a folder removed afterwards."""
    if not attachments:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="notifier-") as folder:
        attach = apprise.AppriseAttachment()
        for item in attachments:
            path = Path(folder) / Path(item.filename).name
            path.write_bytes(item.content)
            attach.add(str(path))
        yield attach


# Channel strings in use at once: the rota's people and the settings' extra channels. Each holds
# its credentials, in this process's memory already (the rota, the settings); nothing here logs it.
PARSED_URLS = 256


@lru_cache(maxsize=PARSED_URLS)
def parsed_urls(channel: str) -> tuple[dict[str, Any], ...] | None:
    """apprise's reading of a channel string, made once for each: parsing it was 0.3-0.45 ms of
    every send (`python -m bench.profile`). One entry for each URL the string holds, split as
    `Apprise.add` splits it; None when it holds none or one apprise cannot read, which
    `Apprise.add` refuses too. Shared, so never handed to apprise itself, which writes into the
    dictionary it is given: `new_plugins` copies it."""
    urls: list[str] = parse_urls(channel)  # type: ignore[no-untyped-call]
    readings = [read_url(url) for url in urls]
    read = tuple(reading for reading in readings if reading is not None)
    if not read or len(read) != len(readings):
        return None
    return read


def read_url(url: str) -> dict[str, Any] | None:
    """What apprise's `url_to_dict` returns for one URL, from the scheme's plugin alone when
    apprise_plugins.py knows it (the same call `url_to_dict` makes, on the same rewritten URL);
    otherwise apprise's own lookup, which imports every plugin."""
    rewritten = url.replace("/#", "/%23")  # as url_to_dict does, before reading the scheme
    scheme = GET_SCHEMA_RE.match(rewritten)
    name = scheme.group("schema").lower() if scheme else ""
    plugin = plugin_class(name) if name else None
    if plugin is None:
        apprises: dict[str, Any] | None = plugins.url_to_dict(url, secure_logging=True)  # type: ignore[no-untyped-call]
        return apprises
    reading: dict[str, Any] | None = plugin.parse_url(rewritten)
    if not reading:
        # apprise logs this with the URL masked; the scheme alone says enough here.
        log.warning("channel_url_unreadable", scheme=name)
        return None
    return reading


def new_plugins(channel: str) -> list[apprise.NotifyBase] | None:
    """New plugin instances for the channel string's URLs, as `Apprise.add` makes them, from its
    cached reading; None when apprise would refuse one. New each time: apprise throttles
    consecutive sends through one plugin instance, which would add seconds to every alert after
    the first."""
    made = []
    for reading in parsed_urls(channel) or ():
        try:
            # A deep copy, though no plugin in use changes the nested values: 25 us is cheap
            # insurance for the next plugin that does.
            plugin = instantiate(deepcopy(reading))
        # Any plugin's refusal of its settings, whatever its type. apprise's own handling would
        # log the reading it was given, password and tokens unmasked (its masking reads URL
        # strings only): logged here by scheme alone.
        except Exception as error:  # noqa: BLE001
            log.warning(
                "channel_url_refused", scheme=reading.get("schema"), error=type(error).__name__
            )
            return None
        if plugin is None:
            return None
        made.append(plugin)
    return made or None


def instantiate(reading: dict[str, Any]) -> apprise.NotifyBase | None:
    """`Apprise.instantiate(reading, suppress_exceptions=False)` without apprise's lookup when
    apprise_plugins.py knows the scheme: the same checks (the plugin is enabled here) and the
    same arguments (no tags, a default asset). Errors from the plugin reach the caller."""
    plugin = plugin_class(reading.get("schema", ""))
    if plugin is None:
        made: apprise.NotifyBase | None = apprise.Apprise.instantiate(
            reading, suppress_exceptions=False
        )
        return made
    if not plugin.enabled:
        log.warning("channel_plugin_disabled", scheme=reading.get("schema"))
        return None
    if plugin is NotifyJSON:
        plugin = KeptContextJSON  # an HTTP gateway's TLS contexts built once (json_tls.py)
    # apprise replaces any tags the reading holds with the ones it is given (none), adds an
    # asset, and checks again that the plugin it made is enabled.
    made = plugin(**(reading | {"tag": set(), "asset": apprise.AppriseAsset()}))
    if not made.enabled:
        log.warning("channel_plugin_disabled", scheme=reading.get("schema"))
        return None
    return made


class AppriseSender:
    async def send(
        self, url: str, title: str, body: str, attachments: tuple[Attachment, ...] = ()
    ) -> bool:
        made = new_plugins(url)
        notifier = apprise.Apprise()
        if made is None or not notifier.add(made):
            return False
        with attachment_files(attachments) as attach:
            result = await notifier.async_notify(
                body=body, title=title, body_format=apprise.NotifyFormat.TEXT, attach=attach
            )
        return bool(result)
