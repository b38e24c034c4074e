"""The one rule for times in the services' HTTP APIs: every instant leaves in UTC, written
`YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, whatever zone the value was computed in (meeting times and rota
shifts are worked out in Europe/London, so without this a JSON time came as `Z` in winter and as
`+01:00` in summer). Calendar dates stay ISO dates; times shown to people (console pages, agenda
documents, messages) are London wall-clock time and are not API times.

Response models annotate their instants as `UtcTimestamp`; a body built by hand writes them with
`utc_text`. On input the type takes only aware values (a time without an offset is ambiguous, so
it is refused rather than guessed) and keeps them in UTC.

Kafka events (shared/events.py) are not covered: they keep the offset they were made with, since
consumers key on the text they read (e.g. the notifier's agenda alert key) and each event is
signed over its exact bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, PlainSerializer, WithJsonSchema


def utc_text(value: datetime) -> str:
    """`value` as API text: UTC with `Z`, microseconds only when there are any."""
    if value.tzinfo is None:
        raise ValueError("an API time needs an offset: a naive datetime is ambiguous")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _in_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcTimestamp = Annotated[
    AwareDatetime,
    AfterValidator(_in_utc),
    # json only: Python callers of model_dump() keep datetime objects to compare.
    PlainSerializer(utc_text, return_type=str, when_used="json"),
    # Serialising to text would otherwise publish a bare string: it is still an RFC 3339 instant.
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
