"""Publish the services' contracts: OpenAPI (HTTP) and AsyncAPI (Kafka, FastStream's generator).

    python -m deploy.contracts           # rewrite docs/contracts/
    python -m deploy.contracts --check   # exit 1 if the committed files are out of date

tests/unit/test_contracts.py runs the check, so a change to an event, a topic or an endpoint
that is not reflected in docs/contracts/ fails the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faststream.specification import AsyncAPI

from shared.app import ServiceApp

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / "docs" / "contracts"
# Fixed values, so the documents do not depend on the environment they are generated in.
DOCUMENTED: dict[str, Any] = {
    "SAFEGUARDING_ENV": "dev",
    "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
    "KAFKA_TOPIC_PREFIX": "",
    "database_url": "sqlite+aiosqlite:///:memory:",
}


def _apps() -> dict[str, Callable[[], ServiceApp]]:
    from services.casework.main import create_app as casework
    from services.casework.settings import CaseworkSettings
    from services.intake.main import create_app as intake
    from services.intake.settings import IntakeSettings
    from services.meeting_scheduler.main import create_app as meetings
    from services.meeting_scheduler.settings import SchedulerSettings
    from services.notifier.main import create_app as notifier
    from services.notifier.settings import NotifierSettings

    return {
        "intake": lambda: intake(IntakeSettings(**DOCUMENTED)),
        "notifier": lambda: notifier(
            NotifierSettings(
                **DOCUMENTED,
                rota_file=ROOT / "deploy" / "config" / "rota.yaml",
                alerting_file=ROOT / "deploy" / "config" / "alerting.yaml",
            )
        ),
        "casework": lambda: casework(
            CaseworkSettings(
                **DOCUMENTED,
                config_file=ROOT / "deploy" / "config" / "casework.yaml",
                rota_file=ROOT / "deploy" / "config" / "rota.yaml",
                directory_file=ROOT / "deploy" / "config" / "services-directory.yaml",
            )
        ),
        "meeting_scheduler": lambda: meetings(
            SchedulerSettings(
                **DOCUMENTED, calendar_file=ROOT / "deploy" / "config" / "meetings.yaml"
            )
        ),
    }


def render() -> dict[Path, str]:
    documents: dict[Path, str] = {}
    for name, build in _apps().items():
        app = build()
        asyncapi: Any = (
            AsyncAPI(app.kafka_broker, title=f"safeguarding {name}", version="1")
            .to_specification()
            .to_jsonable()
        )
        documents[CONTRACTS / f"{name}.asyncapi.json"] = _dump(asyncapi)
        documents[CONTRACTS / f"{name}.openapi.json"] = _dump(app.http_app.openapi())
    return documents


def _dump(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stale(documents: dict[Path, str]) -> list[Path]:
    return [
        path for path, text in documents.items() if not path.exists() or path.read_text() != text
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    documents = render()
    if args.check:
        if outdated := stale(documents):
            print(
                "out of date: " + ", ".join(str(p.relative_to(ROOT)) for p in outdated),
                file=sys.stderr,
            )
            sys.exit(1)
        print("contracts up to date")
        return
    CONTRACTS.mkdir(parents=True, exist_ok=True)
    for path, text in documents.items():
        path.write_text(text)
    print(f"wrote {len(documents)} documents to {CONTRACTS.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
