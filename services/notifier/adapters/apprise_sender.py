"""Sends one message to one apprise URL (an SMS gateway, a voice provider, a chat service, …).
E-mail goes through services/notifier/adapters/smtp_sender.py instead (shared TLS contexts)."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import apprise
from apprise import plugins

from services.notifier.ports import Attachment


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


# Channel URLs in use at once: the rota's people and the settings' extra channels. A URL's secrets
# are held here as they already are in the rota and the settings.
PARSED_URLS = 256


@lru_cache(maxsize=PARSED_URLS)
def parsed_url(url: str) -> dict[str, Any] | None:
    """apprise's reading of a channel URL, made once for each URL: parsing it was 0.3-0.45 ms of
    every send (`python -m bench.profile`). None for a URL apprise cannot read. Shared, so never
    handed to apprise itself, which adds to the dictionary it is given: `new_plugin` copies it."""
    results: dict[str, Any] | None = plugins.url_to_dict(  # type: ignore[no-untyped-call]
        url, secure_logging=True
    )
    return results


def new_plugin(url: str) -> apprise.NotifyBase | None:
    """A new plugin instance for the URL, as `Apprise.instantiate(url)` would make, from the
    URL's cached reading. New each time: apprise throttles consecutive sends through one plugin
    instance, which would add seconds to every alert after the first."""
    results = parsed_url(url)
    return None if results is None else apprise.Apprise.instantiate(copy.deepcopy(results))


class AppriseSender:
    async def send(
        self, url: str, title: str, body: str, attachments: tuple[Attachment, ...] = ()
    ) -> bool:
        plugin = new_plugin(url)
        notifier = apprise.Apprise()
        if plugin is None or not notifier.add(plugin):
            return False
        with attachment_files(attachments) as attach:
            result = await notifier.async_notify(
                body=body, title=title, body_format=apprise.NotifyFormat.TEXT, attach=attach
            )
        return bool(result)
