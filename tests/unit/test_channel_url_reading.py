"""A channel URL is read once (services/notifier/adapters/apprise_sender.py, smtp_sender.py): each
send gets what apprise itself would have made from the URL (read through the scheme table of
apprise_plugins.py, tests/unit/test_apprise_plugins.py), SMS and voice plugins are new for each
message (apprise throttles a reused one), the shared reading is never changed by a send, and a URL
apprise refuses is not logged with its secrets."""

from __future__ import annotations

import logging
from datetime import UTC

import apprise
import pytest
from apprise.plugins.custom_json import NotifyJSON

from services.notifier.adapters.apprise_sender import AppriseSender, new_plugins, parsed_urls
from services.notifier.adapters.json_tls import KeptContextJSON
from services.notifier.adapters.smtp_sender import SmtpSender, email_plugin, message_zone

URLS = (
    "json://127.0.0.1:8099/sms?to=%2B447700900123",
    "jsons://gateway.example.org/voice?:number=%2B447700900123&-X-Token=abc",
    "mailto://user:secret@mail.example.org:2525?from=alerts@example.org&to=duty@example.org",
    "mailtos://smtp.gmail.com?user=a@gmail.com&pass=pw&to=b@example.org&mode=ssl",
    "forms://gateway.example.org/sms",
    "xml://gateway.example.org:8080/#fragment",  # the "/#" that apprise's url_to_dict rewrites
    "twilio://ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb@+447700900001/+447700900123",
    "tgram://123456789:abcdefg_hijklmnop/12315544/",
)


# The one class the notifier makes differently: apprise's JSON plugin with its TLS contexts built
# once (json_tls.py), the same settings and the same requests (tests/integration/test_json_tls.py).
OURS: dict[type[apprise.NotifyBase], type[apprise.NotifyBase]] = {NotifyJSON: KeptContextJSON}


@pytest.mark.parametrize("url", URLS)
def test_a_plugin_from_the_cached_reading_is_the_one_apprise_makes(url: str) -> None:
    made, expected = new_plugins(url), apprise.Apprise()
    assert expected.add(url)
    assert made is not None
    assert [type(plugin) for plugin in made] == [
        OURS.get(type(plugin), type(plugin)) for plugin in expected
    ]
    assert [plugin.url(privacy=False) for plugin in made] == [  # type: ignore[no-untyped-call]
        plugin.url(privacy=False)  # type: ignore[no-untyped-call]
        for plugin in expected
    ]
    assert [plugin.tags for plugin in made] == [plugin.tags for plugin in expected]


def test_a_channel_string_holding_two_urls_is_two_plugins_as_apprise_makes() -> None:
    channel = "jsons://a.example.org/sms, jsons://b.example.org/sms"
    made = new_plugins(channel)
    assert made is not None
    assert [plugin.host for plugin in made] == ["a.example.org", "b.example.org"]
    assert email_plugin("mailto://a.example.org?to=x@example.org mailto://b.example.org") is None


def test_each_send_gets_a_new_plugin_and_the_reading_stays_as_parsed() -> None:
    url = URLS[0]
    parsed_urls.cache_clear()
    first, second = new_plugins(url), new_plugins(url)
    assert first is not None
    assert second is not None
    assert first[0] is not second[0]
    assert parsed_urls.cache_info().misses == 1
    assert parsed_urls.cache_info().hits == 1
    # apprise writes the asset and the tags into the dictionary it instantiates from: the
    # shared reading must not carry a previous send's.
    (reading,) = parsed_urls(url) or ()
    assert not {"asset", "tag"} & set(reading)


def test_an_email_url_is_built_once_and_other_urls_are_not_email() -> None:
    email_plugin.cache_clear()
    assert email_plugin(URLS[2]) is email_plugin(URLS[2])
    assert email_plugin(URLS[0]) is None
    assert email_plugin("mailto://") is None


async def test_urls_apprise_cannot_read_are_refused_by_both_senders() -> None:
    for url in ("nonsense", "unknownscheme://host/path", "json://"):
        assert not await AppriseSender().send(url, "title", "body")
    assert not await SmtpSender().send("mailto://no-recipient-host", "title", "body")


@pytest.mark.parametrize(
    "url",
    [
        "mailtos://user:s3cretPW@mail.example.org?to=a@example.org&mode=bogus",
        "jsons://user:s3cretPW@gateway.example.org/sms?method=BOGUS",
    ],
)
async def test_a_url_apprise_refuses_is_not_logged_with_its_password(
    url: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """apprise masks the URL strings it logs but not a parsed reading: handed one, its refusal
    logged the password in full."""
    with caplog.at_level(logging.DEBUG):
        sender = SmtpSender() if url.startswith("mailto") else AppriseSender()
        assert not await sender.send(url, "title", "body")
    printed = capsys.readouterr()
    logged = [f"{record.getMessage()} {record.__dict__}" for record in caplog.records]
    assert logged or printed.out or printed.err  # the refusal is logged, without the URL
    assert not any("s3cretPW" in line for line in [*logged, printed.out, printed.err])


def test_a_kept_email_plugin_dates_messages_in_the_zone_of_the_moment() -> None:
    """Without `tz=` a message is dated in the machine's zone when it is sent (None lets apprise
    look it up then); the kept plugin's own default was fixed when it was built."""
    assert message_zone(email_plugin(URLS[2]) or pytest.fail("no plugin")) is None
    named = email_plugin(URLS[2] + "&tz=UTC")
    assert named is not None
    zone = message_zone(named)
    assert zone is not None
    assert zone.utcoffset(None) == UTC.utcoffset(None)
