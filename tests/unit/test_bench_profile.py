"""`python -m bench.profile`'s sum by library: each busy sample goes to the deepest frame outside
the standard library, asyncio counts as itself, and waiting samples are left out. Made-up
collapsed stacks in py-spy's raw format; no sampling."""

from __future__ import annotations

from pathlib import Path

from bench.profile import by_library, library_of

LOOP = "BaseEventLoop._run_once (asyncio/base_events.py:1922);Handle._run (asyncio/events.py:80)"
STACKS = f"""\
{LOOP};log (structlog/_log_levels.py:10);dumps (json/__init__.py:231);encode (json/encoder.py:199) 7
{LOOP};handle (services/notifier/raising.py:67);execute (sqlalchemy/engine/base.py:1400) 5
{LOOP};handle (services/notifier/raising.py:67) 3
{LOOP} 2
_run_module_as_main (<frozen runpy>:198);BaseEventLoop._run_once (asyncio/base_events.py:1922);select (selectors.py:469) 40
_bootstrap (threading.py:1002);run (threading.py:982);dumps (json/__init__.py:231) 1
"""


def test_each_busy_sample_goes_to_its_deepest_library(tmp_path: Path) -> None:
    stacks = tmp_path / "notifier.stacks.txt"
    stacks.write_text(STACKS)
    busy, parts = by_library(stacks)
    assert busy == 18  # the 40 samples waiting in select are not busy
    assert parts == {
        "structlog": 7,  # json's encoder, called by the logger, counts for the logger
        "sqlalchemy": 5,
        "services": 3,
        "asyncio": 2,
        "(standard library)": 1,
    }


def test_a_frame_s_library_is_its_top_level_package() -> None:
    assert library_of("execute (sqlalchemy/engine/base.py:1400)") == "sqlalchemy"
    assert library_of("_patiently (shared/sqlite_driver.py:140)") == "shared"
    assert library_of("Handle._run (asyncio/events.py:80)") == "asyncio"
    assert library_of("Thread.run (threading.py:982)") is None
    assert library_of("encode (json/encoder.py:199)") is None
    assert library_of("_run_code (<frozen runpy>:88)") is None
    assert library_of("<module> (<string>:1)") is None
