"""apprise's plugin for a channel URL's scheme, imported on its own.

apprise finds the plugin for a scheme by importing every one of its plugin modules, and every
library they import, the first time it reads any URL: 183 modules for 255 schemes, which added
23 MB to the notifier's resident memory for the two or three schemes a deployment uses (an SMS
gateway, a voice provider, e-mail). `apprise_schemes.json`, next to this module, holds the
module and class apprise itself picks for each scheme, so only the plugin a URL needs is imported
(about 6 MB with its libraries, for the first).

The table is written from apprise (`python -m services.notifier.adapters.apprise_plugins`), and
tests/unit/test_apprise_plugins.py fails when the installed apprise maps any scheme differently,
so an upgrade cannot change what a URL means unnoticed. At run time, a table written for another
apprise version is not used at all, and a scheme the table does not name (a plugin added since,
or a provider's own https:// URL that apprise recognises by its host) goes to apprise's own
lookup, which imports every plugin once, as before.

A hand-made part: apprise has no lookup of one scheme that does not load them all, and removing
the unused plugins afterwards (`NotificationManager.remove`) gave no memory back (measured: RSS
unchanged after removal and a full collection).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import sys
from functools import cache
from pathlib import Path

import apprise
from apprise.plugins.base import NotifyBase

from shared.logging import get_logger

log = get_logger(__name__)

TABLE_FILE = Path(__file__).with_name("apprise_schemes.json")
PLUGIN_PACKAGE = "apprise.plugins."


def apprise_own_table() -> dict[str, list[str]]:
    """Scheme → [module, class] as apprise maps them, read by loading every plugin (what this
    module avoids at run time: for writing and checking the table only)."""
    from apprise.apprise import N_MGR

    table = {}
    for scheme in N_MGR.schemas():  # type: ignore[no-untyped-call]
        plugin = N_MGR[scheme]
        table[scheme] = [plugin.__module__, plugin.__name__]
    return dict(sorted(table.items()))


@cache
def scheme_table() -> dict[str, tuple[str, str]]:
    """The committed table, or nothing (apprise's own lookup for every scheme) when it was
    written for another apprise version."""
    written = json.loads(TABLE_FILE.read_text())
    if written["apprise"] != apprise.__version__:
        log.warning(
            "apprise_scheme_table_stale", table_for=written["apprise"], running=apprise.__version__
        )
        return {}
    return {
        scheme: (module, name)
        for scheme, (module, name) in written["schemes"].items()
        if module.startswith(PLUGIN_PACKAGE)
    }


def plugin_class(scheme: str) -> type[NotifyBase] | None:
    """The plugin class for a scheme (lower case), importing only its module; None when the
    table does not name the scheme, or names something that is not that scheme's plugin (then
    apprise's own lookup decides, as for a scheme the table lacks)."""
    where = scheme_table().get(scheme)
    if where is None:
        return None
    module, name = where
    try:
        found = getattr(importlib.import_module(module), name)
        # apprise calls `schemas` on the class itself (its manager's `fn(plugin)`), as here.
        if (
            isinstance(found, type)
            and issubclass(found, NotifyBase)
            and scheme in found.schemas(found)  # type: ignore[arg-type, no-untyped-call]
        ):
            return found
    except (ImportError, AttributeError):
        pass
    log.warning("apprise_scheme_table_entry_bad", scheme=scheme)
    return None


def copied_code_digest() -> str:
    """A digest of the two apprise functions apprise_sender.py repeats (`read_url` is
    `url_to_dict`, `instantiate` is `Apprise.instantiate`): the table records the one it was
    written against, and the unit test fails when an upgrade changes them, so the copies are
    checked again rather than regenerated past."""
    from apprise import plugins

    source = inspect.getsource(plugins.url_to_dict) + inspect.getsource(apprise.Apprise.instantiate)
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def write_table() -> None:
    schemes = apprise_own_table()
    lines = [f"  {json.dumps(scheme)}: {json.dumps(where)}" for scheme, where in schemes.items()]
    TABLE_FILE.write_text(
        f'{{\n "apprise": {json.dumps(apprise.__version__)},\n'
        f' "copied_code": {json.dumps(copied_code_digest())},\n "schemes": {{\n'
        + ",\n".join(lines)
        + "\n }\n}\n"
    )
    sys.stdout.write(f"{len(schemes)} schemes written to {TABLE_FILE}\n")


if __name__ == "__main__":
    write_table()
