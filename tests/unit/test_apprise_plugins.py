"""The notifier imports only the apprise plugins its channel URLs name
(services/notifier/adapters/apprise_plugins.py): the committed scheme table is apprise's own, a
URL read through it gives the plugin apprise would make, and a process that sends to an SMS
gateway and by e-mail never loads the rest; a scheme the table lacks, or a table written for
another apprise, still goes through apprise's own lookup."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import apprise
import pytest

from services.notifier.adapters import apprise_plugins
from services.notifier.adapters.apprise_sender import (
    instantiate,
    new_plugins,
    parsed_urls,
    read_url,
)
from tests.unit.test_channel_url_reading import URLS

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_table_is_apprises_own_for_the_installed_version() -> None:
    written = json.loads(apprise_plugins.TABLE_FILE.read_text())
    # When this fails after an apprise upgrade: python -m services.notifier.adapters.apprise_plugins
    assert written["apprise"] == apprise.__version__
    assert written["schemes"] == apprise_plugins.apprise_own_table()
    # When only this fails: apprise changed url_to_dict or Apprise.instantiate, which
    # apprise_sender.read_url and instantiate repeat; compare them again before regenerating.
    assert written["copied_code"] == apprise_plugins.copied_code_digest()


@pytest.mark.parametrize("url", URLS)
def test_the_table_names_the_plugin_of_every_url_the_equivalence_test_reads(url: str) -> None:
    """test_channel_url_reading.py compares what these URLs make with apprise's own: through the
    table, not through apprise's lookup."""
    assert apprise_plugins.plugin_class(url.partition("://")[0]) is not None


def test_tags_in_a_reading_are_replaced_as_apprise_replaces_them() -> None:
    (reading,) = parsed_urls(URLS[0]) or ()
    tagged = reading | {"tag": {"night"}}
    made, expected = instantiate(dict(tagged)), apprise.Apprise.instantiate(dict(tagged))
    assert made is not None
    assert expected is not None
    assert made.tags == expected.tags == set()


def test_a_bad_table_entry_leaves_the_scheme_to_apprise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = json.loads(apprise_plugins.TABLE_FILE.read_text())
    table["schemes"]["json"] = ["apprise.plugins.custom_form", "NotifyForm"]  # not json's
    table["schemes"]["jsons"] = ["apprise.plugins.no_such_module", "NotifyJSON"]
    bad = tmp_path / "apprise_schemes.json"
    bad.write_text(json.dumps(table))
    monkeypatch.setattr(apprise_plugins, "TABLE_FILE", bad)
    apprise_plugins.scheme_table.cache_clear()
    try:
        assert apprise_plugins.plugin_class("json") is None
        assert apprise_plugins.plugin_class("jsons") is None
        assert apprise_plugins.plugin_class("form") is not None
    finally:
        apprise_plugins.scheme_table.cache_clear()


def test_a_url_the_plugin_cannot_read_is_refused_as_apprise_refuses_it() -> None:
    assert read_url("json://") is None
    assert apprise.Apprise().add("json://") is False


def test_a_table_for_another_apprise_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "apprise_schemes.json"
    stale.write_text(json.dumps({"apprise": "0.0.1", "schemes": {"json": ["x.y", "Z"]}}))
    monkeypatch.setattr(apprise_plugins, "TABLE_FILE", stale)
    apprise_plugins.scheme_table.cache_clear()
    parsed_urls.cache_clear()
    try:
        assert apprise_plugins.plugin_class("json") is None
        made = new_plugins(URLS[0])  # apprise's own lookup
        assert made is not None
        assert made[0].url(privacy=False) == apprise.Apprise.instantiate(URLS[0]).url(  # type: ignore[no-untyped-call, union-attr]
            privacy=False
        )
    finally:
        apprise_plugins.scheme_table.cache_clear()
        parsed_urls.cache_clear()


def loaded_after(code: str) -> dict[str, object]:
    """Run `code` in a fresh interpreter (this process has loaded every plugin already) and
    report what apprise loaded."""
    script = textwrap.dedent(code) + textwrap.dedent(
        """
        import json, sys
        from apprise.apprise import N_MGR
        print(json.dumps({
            "all_loaded": bool(N_MGR),
            "plugin_modules": sorted(m for m in sys.modules if m.startswith("apprise.plugins.")),
        }))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_sending_to_a_gateway_and_by_email_loads_only_their_plugins() -> None:
    email = "mailto://user:pw@127.0.0.1:9?from=alerts@example.org&to=duty@example.org&mode=insecure"
    result = loaded_after(
        f"""
        import asyncio
        from services.notifier.adapters.channel_sender import ChannelSender
        from services.notifier.adapters.smtp_sender import email_plugin
        sender = ChannelSender()
        # Nothing listens on port 9: the sends fail, after apprise has done all it does.
        asyncio.run(sender.send("json://127.0.0.1:9/sms", "title", "body"))
        asyncio.run(sender.send("{email}", "title", "body"))
        assert email_plugin("{email}") is not None
        """
    )
    assert result["all_loaded"] is False
    modules = set(result["plugin_modules"])  # type: ignore[call-overload]
    assert {"apprise.plugins.custom_json", "apprise.plugins.email"} <= modules
    # apprise has 183 plugin modules; the two above and the packages they import are a handful.
    assert len(modules) < 20, sorted(modules)


def test_a_native_url_still_goes_through_apprises_own_lookup() -> None:
    """A provider's own https:// webhook address, which apprise recognises by its host."""
    result = loaded_after(
        """
        from services.notifier.adapters.apprise_sender import new_plugins
        made = new_plugins("https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")
        assert made is not None and type(made[0]).__name__ == "NotifySlack", made
        """
    )
    assert result["all_loaded"] is True
