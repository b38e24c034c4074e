"""shared/db.py reads each service's newest migration without importing Alembic, and a start on a
database already at it leaves Alembic unloaded (about 10 MB of every service's memory)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from shared.db import alembic_config, create_engine, migrate, newest_revision

ROOT = Path(__file__).parents[2]
SERVICES = ["intake", "notifier", "casework", "meeting_scheduler"]


@pytest.mark.parametrize("service", SERVICES)
def test_the_newest_revision_is_alembics_head(service: str) -> None:
    location = ROOT / "services" / service / "migrations"
    config = Config()
    config.set_main_option("script_location", str(location))
    assert newest_revision(location) == ScriptDirectory.from_config(config).get_current_head()


def versions(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "versions"
    folder.mkdir()
    for name, text in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text))
    return tmp_path


def test_a_merge_and_annotated_assignments_are_read(tmp_path: Path) -> None:
    location = versions(tmp_path, {
        "a": 'revision = "a"\ndown_revision = None\n',
        "b": 'revision: str = "b"\ndown_revision: str | None = "a"\n',
        "c": 'revision = "c"\ndown_revision = "a"\n',
        "d": 'revision = "d"\ndown_revision = ("b", "c")\n',
    })  # fmt: skip
    assert newest_revision(location) == "d"


@pytest.mark.parametrize(
    "files",
    [
        {"a": 'revision = "a"\ndown_revision = None\n', "b": 'revision = "b"\ndown_revision = "a"\n',
         "c": 'revision = "c"\ndown_revision = "a"\n'},  # two heads
        {"a": 'revision = "a"\ndown_revision = None\n', "b": 'revision = name()\ndown_revision = "a"\n'},
        {"a": 'revision = "a"\ndown_revision = None\n', "b": 'revision = "b"\ndown_revision = "z"\n'},
        {"a": 'revision = "a"\n'},  # no down_revision stated
    ],
    ids=["two heads", "computed", "unknown parent", "unstated parent"],
)  # fmt: skip
def test_anything_in_doubt_is_left_to_alembic(tmp_path: Path, files: dict[str, str]) -> None:
    assert newest_revision(versions(tmp_path, files)) is None


def test_a_start_on_a_database_at_its_newest_revision_does_not_load_alembic(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/n.sqlite3"
    location = ROOT / "services" / "notifier" / "migrations"

    async def first_start() -> None:
        engine = create_engine(url)
        await migrate(engine, location, "alembic_version_notifier")
        await engine.dispose()

    asyncio.run(first_start())
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from pathlib import Path
        import services.notifier.main
        from shared.db import create_engine, migrate
        loaded_by_imports = "alembic" in sys.modules

        async def start() -> None:
            engine = create_engine({url!r})
            await migrate(engine, Path({str(location)!r}), "alembic_version_notifier")
            await engine.dispose()

        asyncio.run(start())
        print(loaded_by_imports, "alembic" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "False False"


def test_an_editors_lock_file_is_not_read_as_a_revision(tmp_path: Path) -> None:
    location = versions(tmp_path, {
        "a": 'revision = "a"\ndown_revision = None\n',
        "b": 'revision = "b"\ndown_revision = "a"\n',
    })  # fmt: skip
    # Emacs' lock file: a dangling symlink whose name ends in .py; Alembic skips it.
    (location / "versions" / ".#b.py").symlink_to("user@host.1234:1700000000")
    (location / "versions" / "__init__.py").write_text("")
    assert newest_revision(location) == "b"


def test_a_database_one_revision_behind_is_still_upgraded(tmp_path: Path) -> None:
    location = ROOT / "services" / "casework" / "migrations"
    table = "alembic_version_casework"
    newest = newest_revision(location)

    def downgrade_one(connection: Connection) -> None:
        command.downgrade(alembic_config(location, connection, table), "-1")

    def stored(connection: Connection) -> list[str]:
        rows = connection.execute(sa.text(f"SELECT version_num FROM {table}"))
        return list(rows.scalars())

    async def run() -> tuple[list[str], list[str]]:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/c.sqlite3")
        try:
            await migrate(engine, location, table)
            async with engine.begin() as connection:
                await connection.run_sync(downgrade_one)
                behind = await connection.run_sync(stored)
            await migrate(engine, location, table)
            async with engine.connect() as connection:
                return behind, await connection.run_sync(stored)
        finally:
            await engine.dispose()

    behind, after = asyncio.run(run())
    assert behind != [newest]
    assert after == [newest]
