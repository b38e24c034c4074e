"""A channel URL is read once (services/notifier/adapters/apprise_sender.py, smtp_sender.py): each
send gets what apprise itself would have made from the URL, SMS and voice plugins are new for each
message (apprise throttles a reused one), and the shared reading is never changed by a send."""

from __future__ import annotations

import apprise
import pytest

from services.notifier.adapters.apprise_sender import AppriseSender, new_plugin, parsed_url
from services.notifier.adapters.smtp_sender import SmtpSender, email_plugin

URLS = (
    "json://127.0.0.1:8099/sms?to=%2B447700900123",
    "jsons://gateway.example.org/voice?:number=%2B447700900123&-X-Token=abc",
    "mailto://user:secret@mail.example.org:2525?from=alerts@example.org&to=duty@example.org",
    "mailtos://smtp.gmail.com?user=a@gmail.com&pass=pw&to=b@example.org&mode=ssl",
)


@pytest.mark.parametrize("url", URLS)
def test_a_plugin_from_the_cached_reading_is_the_one_apprise_makes(url: str) -> None:
    made, expected = new_plugin(url), apprise.Apprise.instantiate(url)
    assert made is not None
    assert expected is not None
    assert type(made) is type(expected)
    assert made.url(privacy=False) == expected.url(privacy=False)  # type: ignore[no-untyped-call]


def test_each_send_gets_a_new_plugin_and_the_reading_stays_as_parsed() -> None:
    url = URLS[0]
    parsed_url.cache_clear()
    first, second = new_plugin(url), new_plugin(url)
    assert first is not None
    assert second is not None
    assert first is not second
    assert parsed_url.cache_info().misses == 1
    assert parsed_url.cache_info().hits == 1
    # apprise writes the asset and the tags into the dictionary it instantiates from: the
    # shared reading must not carry a previous send's.
    assert not {"asset", "tag"} & set(parsed_url(url) or {})


def test_an_email_url_is_built_once_and_other_urls_are_not_email() -> None:
    email_plugin.cache_clear()
    assert email_plugin(URLS[2]) is email_plugin(URLS[2])
    assert email_plugin(URLS[0]) is None
    assert email_plugin("mailto://") is None


async def test_urls_apprise_cannot_read_are_refused_by_both_senders() -> None:
    for url in ("nonsense", "unknownscheme://host/path", "json://"):
        assert not await AppriseSender().send(url, "title", "body")
    assert not await SmtpSender().send("mailto://no-recipient-host", "title", "body")
