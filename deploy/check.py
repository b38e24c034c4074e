"""Check an environment's settings and configuration files without starting anything.

    SAFEGUARDING_ENV=production python -m deploy.check [--days 14] [--env-file FILE]

Builds every service's settings from the environment exactly as the service would at start-up
(so every refusal a service would make is made here, in the same words), loads every config
file those settings name (rota, alerting policy, casework deadlines, meeting series), applies the
rota checks that apply outside dev, and prints who is on duty for the next days with gaps marked.
An operator runs it after an edit and before a restart. Exit status: 0 fit, 1 not fit, 2 usage.

Nothing secret is printed: setting errors name the setting and the rule, channel problems name
the person and the channel kind, never a URL (it holds credentials).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from shared.redaction import safe_reason
from shared.rota import Rota, duty_periods, load_rota, safety_problems
from shared.settings import ServiceSettings


def _settings_classes() -> dict[str, Callable[[], ServiceSettings]]:
    from services.casework.settings import CaseworkSettings
    from services.intake.settings import IntakeSettings
    from services.meeting_scheduler.settings import SchedulerSettings
    from services.notifier.settings import NotifierSettings

    return {
        "intake": IntakeSettings,
        "notifier": NotifierSettings,
        "casework": CaseworkSettings,
        "meeting_scheduler": SchedulerSettings,
    }


def _config_problems(settings: ServiceSettings) -> list[str]:
    """Load each config file the service's settings name, with the service's own loader."""
    from services.casework.config import load_config
    from services.casework.directory import load_directory
    from services.meeting_scheduler.calendar import load_calendar
    from services.notifier.policy import load_policy

    loaders: dict[str, Callable[[Path], object]] = {
        "rota_file": load_rota,
        "alerting_file": load_policy,
        "config_file": load_config,
        "directory_file": load_directory,
        "calendar_file": load_calendar,
    }
    problems = []
    for field, loader in loaders.items():
        path = getattr(settings, field, None)
        if not isinstance(path, Path):
            continue
        try:
            rota = loader(path)
        except (OSError, ValueError) as error:
            problems.append(f"{field} {path}: {safe_reason(error, own_input=True)}")
            continue
        if isinstance(rota, Rota) and not settings.environment.is_local:
            problems.extend(f"{field} {path}: {problem}" for problem in safety_problems(rota))
    return problems


def check_services(only: list[str] | None = None) -> tuple[dict[str, list[str]], Rota | None]:
    """Each service's problems (empty: fit), and the notifier's rota if it loaded."""
    results: dict[str, list[str]] = {}
    rota: Rota | None = None
    for name, build in _settings_classes().items():
        if only and name not in only:
            continue
        try:
            settings = build()
        except ValidationError as error:
            results[name] = _setting_problems(error)
            continue
        results[name] = _config_problems(settings)
        rota_file = getattr(settings, "rota_file", None)
        if name == "notifier" and isinstance(rota_file, Path) and not results[name]:
            rota = load_rota(rota_file)
    return results, rota


def _setting_problems(error: ValidationError) -> list[str]:
    """One line per refused setting. The settings classes hide input in their errors; the
    messages are our own and name the setting and the rule."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        for message in str(item["msg"]).removeprefix("Value error, ").split("; "):
            problems.append(f"{where}: {message}" if where else message)
    return problems


def rota_lines(rota: Rota, start: datetime, days: int) -> list[str]:
    """The duty periods from `start` for `days`, in the rota's time zone, gaps marked."""
    zone = ZoneInfo(rota.timezone)
    lines = []
    for begin, end, person in duty_periods(rota, start, start + timedelta(days=days)):
        span = f"{begin.astimezone(zone):%a %d %b %H:%M} – {end.astimezone(zone):%a %d %b %H:%M}"
        if person is None:
            lines.append(f"  {span}  GAP: nobody on duty, alerts go to {rota.last_resort}")
        else:
            lines.append(f"  {span}  {person.id}")
    return lines


def _load_env_file(path: Path) -> None:
    """KEY=VALUE lines (a docker-compose .env file), without overriding the real environment."""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.check", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--days", type=int, default=14, help="days of rota to print (default 14)")
    parser.add_argument("--env-file", type=Path, help="read KEY=VALUE settings from this file too")
    parser.add_argument("--service", action="append", help="check only this service (repeatable)")
    args = parser.parse_args(argv)
    if args.env_file:
        _load_env_file(args.env_file)
    environment = os.environ.get("SAFEGUARDING_ENV", "")
    print(f"environment: {environment or '(not set)'}")
    results, rota = check_services(args.service)
    for name, problems in results.items():
        print(f"{name}: {'fit' if not problems else 'NOT FIT'}")
        for problem in problems:
            print(f"  - {problem}")
    if rota is not None:
        now = datetime.now(UTC)
        print(f"\non duty for the next {args.days} days ({rota.timezone}):")
        for line in rota_lines(rota, now, args.days):
            print(line)
    fit = all(not problems for problems in results.values())
    print(f"\n{'fit to start' if fit else 'NOT fit to start: fix the problems above'}")
    return 0 if fit else 1


if __name__ == "__main__":
    sys.exit(main())
