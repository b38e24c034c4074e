"""Fuzzing POST /v1/contacts in memory: thousands of generated requests, none may crash intake.

The cases are generated up front from one seeded `random.Random` (INTAKE_FUZZ_SEED overrides the
seed; the seed is printed) and sent in order through one running intake app (FastStream's
in-memory broker, SQLite under tmp_path). For every request:
- the status is one of the documented ones (never a 5xx) and exactly the one its case expects:
  for a generated body, an independent judge of the contract (tests/support/contact_oracle.py,
  written from DOMAIN.md, not from intake's validators) decides: 422 if it calls the body
  invalid, 202 if valid (413 past the size limit), so a mutation intake wrongly accepts fails;
- the content type is `application/json`, case-insensitive, parameters allowed (RFC 9110); any
  other media type (`application/jsonx`, `application/json-patch+json`, `text/json`…) is a 415;
- nothing submitted is echoed: the personal data and every generated string value carry the word
  "canary", which no response and no log line may contain.
At the end, every accepted contact has been published as exactly one referral event, which holds
no submitted text but the operation's name (the one free text an event carries), and intake logged
no error or failed job.

Inputs that once crashed intake (found by this fuzz, since fixed) are kept as named tests at the
end: a year-one recorded_at, and signature headers no str check anticipated. So are the
disagreements with the oracle: a recorded_at that is not RFC 3339 (Unix seconds as text, no
seconds, an offset without a colon) is accepted, and the six characters `\u0000` quoted in a
note are refused as if they were a NUL.
"""

from __future__ import annotations

import base64
import gc
import json
import logging
import os
import random
import string
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream import AckPolicy, TestApp
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.intake.auth import signed_headers
from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.topics import REFERRALS
from tests.support.contact_oracle import contact_problems
from tests.support.log_capture import LogLines
from tests.support.system import (
    ROOT,
    TEST_POLICE_KEY,
    TEST_POLICE_KEY_ID,
    TEST_SETTINGS_INTAKE,
    signed,
)
from tests.support.waiting import wait_until

SEED = int(os.environ.get("INTAKE_FUZZ_SEED", "20261128"))
EXAMPLE = ROOT / "docs" / "examples" / "police-contact.v1.json"
MAX_BODY = 64 * 1024  # IntakeSettings.max_body_bytes default
TOLERANCE = 300  # IntakeSettings.signature_tolerance_seconds default
DOCUMENTED = frozenset({200, 202, 401, 403, 413, 415, 422})
ACCEPTED = frozenset({200, 202})

CANARY_PERSON = "Fuzzy Canary Hortensia"
CANARY_OFFICER = "PC Canary Bartholomew"
CANARY_NOTES = "canary notes: Wilhelmina lives at 12 Canary Row"

IN_MEMORY: dict[str, Any] = {
    "SAFEGUARDING_ENV": "test",  # signatures required
    "verify_topics_on_start": False,
    "outbox_poll_seconds": 0.2,
    "consumer_retry_backoff_seconds": 0.01,
}

Headers = dict[str, str]
HeaderMaker = Callable[[bytes], Headers]


@dataclass(frozen=True)
class Case:
    kind: str
    body: bytes
    headers: HeaderMaker  # called at send time, so timestamps are fresh
    expect: frozenset[int]
    chunked: bool = False  # sent without Content-Length, in chunks
    why: str = ""  # the oracle's verdict on the body, for the failure message


@dataclass
class Outcome:
    statuses: Counter[int] = field(default_factory=Counter)
    by_kind: dict[str, Counter[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def record(self, case: Case, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1
        self.by_kind.setdefault(case.kind, Counter())[response.status_code] += 1
        problems = []
        if response.status_code not in DOCUMENTED:
            problems.append("undocumented status")
        elif response.status_code not in case.expect:
            problems.append(f"expected one of {sorted(case.expect)}")
        if "canary" in response.text.lower():
            problems.append("response echoes a submitted value")
        if problems:
            self.failures.append(
                f"{case.kind}: {response.status_code} ({', '.join(problems)}); oracle: "
                f"{case.why or 'valid'}; response {response.text[:300]!r}; "
                f"body {case.body[:160]!r}"
            )


@dataclass(frozen=True)
class RunningIntake:
    client: httpx.AsyncClient
    logs: LogLines
    referrals: list[bytes]  # every event intake published on the referrals topic


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[RunningIntake]:
    app = create_app(
        IntakeSettings(
            **IN_MEMORY,
            database_url=f"sqlite+aiosqlite:///{tmp_path}/intake.sqlite3",
            **TEST_SETTINGS_INTAKE,
        )
    )
    referrals: list[bytes] = []

    @app.kafka_broker.subscriber(REFERRALS.name, group_id="probe", ack_policy=AckPolicy.ACK)
    async def on_referral(message: KafkaMessage) -> None:
        referrals.append(message.body)

    # Earlier tests in this process may leave unreachable objects whose finalisers log errors
    # (an unclosed client, say); collected while this test captures, they would be blamed on
    # intake. Collect them now, so what is captured below is this test's own.
    gc.collect()
    root = logging.getLogger()
    saved = root.handlers[:]
    logs = LogLines()
    logs.setFormatter(saved[0].formatter if saved else None)
    root.handlers[:] = [logs]
    # raise_app_exceptions=False: a crash reaches the test as the 500 a client would see.
    transport = httpx.ASGITransport(app=app.http_app, raise_app_exceptions=False)
    try:
        async with (
            TestKafkaBroker(app.kafka_broker),
            TestApp(app),
            httpx.AsyncClient(transport=transport, base_url="http://intake") as client,
        ):
            yield RunningIntake(client, logs, referrals)
    finally:
        root.handlers[:] = saved


async def send(client: httpx.AsyncClient, case: Case) -> httpx.Response:
    headers = case.headers(case.body)
    if not case.chunked:
        return await client.post("/v1/contacts", content=case.body, headers=headers)
    size = random.Random(len(case.body)).choice([1000, 4096, 16384, 65536])

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(case.body), size):
            yield case.body[start : start + size]

    return await client.post("/v1/contacts", content=chunks(), headers=headers)


# --- headers --------------------------------------------------------------------------------


def unsigned(_: bytes) -> Headers:
    return {"content-type": "application/json"}


def with_headers(changes: Headers, drop: tuple[str, ...] = ()) -> HeaderMaker:
    """Correctly signed, then some headers changed or dropped (after signing)."""

    def make(body: bytes) -> Headers:
        headers = lower(signed(body)) | lower(changes)
        return {name: value for name, value in headers.items() if name not in drop}

    return make


def lower(headers: Headers) -> Headers:
    return {name.lower(): value for name, value in headers.items()}


def fixed(headers: Headers) -> HeaderMaker:
    """These headers whatever the body."""
    return lambda _: headers


def uppercase_signature(body: bytes) -> Headers:
    headers = signed(body)
    return headers | {"X-Signature": headers["X-Signature"].upper()}


def signed_as(other: bytes) -> HeaderMaker:
    """Correctly signed, for another body."""
    return lambda _: signed(other)


def signed_with(
    *,
    key_id: str = TEST_POLICE_KEY_ID,
    secret: bytes = base64.b64decode(TEST_POLICE_KEY),
    request_id: str | None = None,
    timestamp_offset: int = 0,
    timestamp: str | None = None,
) -> HeaderMaker:
    """Signed by the given key, id and time (so a stale request carries a valid signature)."""

    def make(body: bytes) -> Headers:
        when = int(time.time()) + timestamp_offset
        headers = signed_headers(key_id, secret, request_id or uuid.uuid4().hex, when, body)
        if timestamp is not None:
            headers["X-Timestamp"] = timestamp
        return {"content-type": "application/json", **headers}

    return make


# --- bodies ---------------------------------------------------------------------------------


class Generator:
    """Every random choice of the run, from one seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.serial = 0
        self.example = json.loads(EXAMPLE.read_bytes())

    def canary(self) -> str:
        self.serial += 1
        return f"canary-{self.serial}"

    def reference(self) -> str:
        self.serial += 1
        return f"FUZZ/{SEED}/{self.serial}"

    def contact(self) -> dict[str, Any]:
        """The example with canary personal data and a police reference of its own."""
        doc: dict[str, Any] = json.loads(json.dumps(self.example))
        doc["police_reference"] = self.reference()
        doc["person"]["name"] = CANARY_PERSON
        doc["officer"]["name"] = CANARY_OFFICER
        doc["notes"] = CANARY_NOTES
        return doc

    def key(self) -> str:
        """A dict key. Unknown keys are withheld from 422 paths (shared/redaction.error_path)
        too, but kept plain here so a leak of a value is not confused with one of a key."""
        return "".join(self.rng.choices("xyzw_0123456789", k=self.rng.randint(1, 8)))

    def value(self, depth: int = 0, exclude: str | None = None) -> Any:
        """A random JSON value whose kind is not `exclude`; strings are canaries."""
        kinds = ["null", "bool", "int", "huge", "float", "string", "long", "list", "dict"]
        if depth > 3:
            kinds = kinds[:7]
        kind = self.rng.choice([k for k in kinds if k != exclude])
        rng = self.rng
        if kind == "null":
            return None
        if kind == "bool":
            return rng.random() < 0.5
        if kind == "int":
            return rng.choice([0, 1, -1, 17, 121, -(2**31), 2**63, rng.randint(-(10**6), 10**6)])
        if kind == "huge":
            return rng.choice([1, -1]) * 10 ** rng.randint(19, 400) + rng.randint(0, 9)
        if kind == "float":
            return rng.choice([0.5, -0.0, 1e308, -1e-308, 18.0, rng.uniform(-1e9, 1e9)])
        if kind == "string":
            return self.canary()
        if kind == "long":
            return self.canary() + "-" + "x" * rng.randint(200, 12000)
        if kind == "list":
            return [self.value(depth + 1) for _ in range(rng.randint(0, 5))]
        return {self.key(): self.value(depth + 1) for _ in range(rng.randint(0, 5))}

    def unicode_text(self) -> str:
        pool = (
            [chr(c) for c in range(0x20)]
            + ["\x7f", "\u0085", "\u00a0", "\u200b", "\u200d", "\u202e", "\u2028", "\ufeff"]
            + ["\ufffd", "\U0001f600", "\U0010ffff", "e\u0301", "\u4e2d", "\u0627", "\U0001d11e"]
            + list(string.ascii_letters + string.digits + "/_-+@. ")
        )
        return self.canary() + "".join(self.rng.choices(pool, k=self.rng.randint(1, 40)))


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "dict"


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and list index in a document, parents first."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from paths(item, (*prefix, index))


def parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def place(doc: Any, path: tuple[str, ...], value: Any) -> None:
    """Set a field unless an earlier mutation removed or retyped one of its parents."""
    for part in path[:-1]:
        if not isinstance(doc, dict) or not isinstance(doc.get(part), dict):
            return
        doc = doc[part]
    doc[path[-1]] = value


# Edge dates, valid and not (the oracle judges each in place).
EDGE_DATES = [
    "2026-02-30", "2026-13-01", "2026-00-10", "26-11-27", "2026/11/27", "27/11/2026", "",
    "not a date", "2026-11-27T25:00:00+00:00", "2026-11-27T22:61:00+00:00", "2026-11-27T22:41:00",
    "2026-11-27T22:41:00+25:00", "2026-11-27 22:41", "2999-01-01T00:00:00+00:00", "0000-00-00",
    "99999-01-01T00:00:00+00:00", "2026-11-27T22:41:00.123456789Z", "T", "2026-W48-5",
    "1764283260", "2026-11-27T22:41:00+00:00\n", " 2026-11-27", "1990-05-17", "-2026-01-01",
    "9999-12-31", "0001-01-01", "2024-02-29", "2023-02-29", "1900-02-29",
    "2026-11-27t22:41:00z", "2026-11-27T22:41:00-23:59", "2026-11-27T23:41:00+01:00",
    "2026-11-28T00:00:00.5+00:00", "2026-11-27T22:41:00+24:00", "2026-11-27T22:41:60Z",
]  # fmt: skip
# A recorded_at early on 0001-01-01 (UTC) has its own test below (it once crashed intake).
# Fields the contract types as numbers, booleans or dates, and strings that look like them.
LOOKALIKES: dict[tuple[str, ...], list[Any]] = {
    ("person", "age_estimate"): ["25", "25.0", "0x19", " 25", "١٢", 25.0, 25.5, True],
    ("immediate_risk",): ["true", "True", "1", "yes", 1, 0],
    ("person", "interpreter_required"): ["false", "0", 0, 1.0],
    ("person", "safe_to_contact", "sms"): ["false", "no", 0],
    ("recorded_at",): [1764283260, 1764283260.5, "1764283260"],
    ("person", "date_of_birth"): [19900517, "19900517", 642902400],
    ("force_code",): [123, 12.5],
    ("police_reference",): [118734, True],
    ("exploitation_types",): ["labour", ["LABOUR"], ["labour", "labour"], []],
    ("nrm_consent",): [1, "Declined", "DECLINED", True],
}


class Splicer:
    """Raw JSON text dropped into a document where a placeholder string was serialised: for
    what `json.dumps` cannot write (5000-deep nesting, lone surrogates, raw control bytes)."""

    def __init__(self) -> None:
        self.raw: dict[str, bytes] = {}

    def mark(self, text: bytes) -> str:
        placeholder = f"@@splice{len(self.raw)}@@"
        self.raw[placeholder] = text
        return placeholder

    def render(self, doc: Any, ensure_ascii: bool) -> bytes:
        body = json.dumps(doc, ensure_ascii=ensure_ascii).encode()
        for placeholder, text in self.raw.items():
            body = body.replace(json.dumps(placeholder).encode(), text)
        return body


def deep(rng: random.Random, levels: int) -> bytes:
    shape = rng.choice(["array", "object", "mixed"])
    if shape == "array":
        return b"[" * levels + b"]" * levels
    if shape == "object":
        return b'{"a":' * levels + b"1" + b"}" * levels
    opens = [rng.choice([b"[", b'{"b":']) for _ in range(levels)]
    closes = [b"]" if part == b"[" else b"}" for part in reversed(opens)]
    return b"".join(opens) + b"0" + b"".join(closes)


def mutate(gen: Generator, doc: dict[str, Any], splicer: Splicer) -> str:
    """One mutation of the contact, in place; returns its name."""
    rng = gen.rng
    operation = rng.choice(
        ["drop", "retype", "retype", "unknown", "deep", "unicode", "raw_text", "date", "lookalike"]
    )
    every = list(paths(doc))
    if operation == "drop":
        path = rng.choice([p for p in every if isinstance(p[-1], str)])
        del parent(doc, path)[path[-1]]
    elif operation == "retype":
        path = rng.choice(every)
        holder = parent(doc, path)
        holder[path[-1]] = gen.value(exclude=kind_of(holder[path[-1]]))
    elif operation == "unknown":
        holders = [doc] + [parent(doc, (*p, "x")) for p in every]
        holder = rng.choice([h for h in holders if isinstance(h, dict)])
        holder[f"unexpected_{gen.key()}"] = gen.value()
    elif operation == "deep":
        path = rng.choice(every)
        parent(doc, path)[path[-1]] = splicer.mark(deep(rng, rng.randint(4000, 6000)))
    elif operation == "unicode":
        path = rng.choice([p for p in every if isinstance(parent(doc, p)[p[-1]], str)])
        parent(doc, path)[path[-1]] = gen.unicode_text()
    elif operation == "raw_text":
        # What JSON forbids or Python cannot encode: lone surrogates, raw control characters,
        # bytes that are not UTF-8, broken escapes.
        path = rng.choice([p for p in every if isinstance(parent(doc, p)[p[-1]], str)])
        raw = rng.choice(
            [b"\\ud800", b"\\udfff", b"\\ud800\\u0041", b"\x00", b"\x01\x1f", b"\t", b"\n",
             b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\\x41", b"\\u12", b"\\", b"\xf4\x90\x80\x80"]
        )  # fmt: skip
        parent(doc, path)[path[-1]] = splicer.mark(b'"' + gen.canary().encode() + raw + b'Zend"')
    elif operation == "date":
        path = rng.choice([("recorded_at",), ("person", "date_of_birth")])
        place(doc, path, rng.choice(EDGE_DATES))
    else:
        path = rng.choice(list(LOOKALIKES))
        place(doc, path, rng.choice(LOOKALIKES[path]))
    return operation


def judged(kind: str, body: bytes, chunked: bool = False) -> Case:
    """A correctly signed request whose expected status the oracle decides from the body alone:
    413 past the size limit, else 422 for an invalid contact and 202 for a valid (new) one."""
    if len(body) > MAX_BODY:
        return Case(kind, body, signed, frozenset({413}), chunked, "over the size limit")
    problems = contact_problems(body, datetime.now(UTC))
    expect = frozenset({422}) if problems else frozenset({202})
    return Case(kind, body, signed, expect, chunked, "; ".join(problems[:3]))


def mutation_cases(gen: Generator, count: int) -> Iterator[Case]:
    rng = gen.rng
    for _ in range(count):
        doc = gen.contact()
        splicer = Splicer()
        names = [mutate(gen, doc, splicer) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        body = splicer.render(doc, ensure_ascii=rng.random() < 0.5)
        kind = names[0] if len(names) == 1 else f"{len(names)} combined"
        yield judged(f"mutation:{kind}", body)


def valid_cases(gen: Generator, count: int) -> Iterator[Case]:
    for _ in range(count):
        body = json.dumps(gen.contact()).encode()
        yield Case("valid", body, signed, frozenset({202}))
    # The same contact again, under a new request id: an exact replay is answered 200.
    body = json.dumps(gen.contact()).encode()
    yield Case("valid", body, signed, frozenset({202}))
    yield Case("valid:replayed-contact", body, signed, frozenset({200}))


def random_cases(gen: Generator, count: int) -> Iterator[Case]:
    rng = gen.rng
    names = list(gen.example)
    for index in range(count):
        choice = index % 3
        if choice == 0:
            body = rng.randbytes(rng.choice([0, 1, 2, rng.randint(3, 64), rng.randint(65, 4000)]))
            yield judged("random:bytes", body)
        elif choice == 1:
            body = json.dumps(gen.value(), ensure_ascii=rng.random() < 0.5).encode()
            yield judged("random:json", body)
        else:
            # An object with the contract's field names (and some unknown ones), random values.
            doc = {name: gen.value() for name in names if rng.random() < 0.8}
            doc |= {gen.key(): gen.value() for _ in range(rng.randint(0, 2))}
            body = json.dumps(doc).encode()
            yield judged("random:contract-shaped", body)


def content_type_cases(gen: Generator) -> Iterator[Case]:
    refused = [
        None, "", "text/plain", "text/json", "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x", "application/xml", "application/jso", "json",
        "application/octet-stream", "*/*", "application/*",
    ]  # fmt: skip
    # Media types are case-insensitive and may carry parameters (RFC 9110 8.3.1); JSON has no
    # charset parameter, so one is ignored (RFC 8259 11). Leading blanks are not part of a value.
    json_variants = [
        "application/json; charset=utf-8", "application/json;charset=latin-1",
        "Application/JSON", "APPLICATION/JSON", " application/json", "application/json ;x=y",
    ]  # fmt: skip
    # Other media types, however close: a JSON Patch document or "jsonx" is not a contact.
    near_misses = ["application/json-patch+json", "application/jsonx", "application/json5"]
    for content_type in refused:
        for body in (json.dumps(gen.contact()).encode(), gen.rng.randbytes(50)):
            drop = ("content-type",) if content_type is None else ()
            changes = {} if content_type is None else {"content-type": content_type}
            yield Case("content-type:wrong", body, with_headers(changes, drop), frozenset({415}))
            # The content type is checked first: an unsigned request is refused for it too.
            yield Case("content-type:wrong-unsigned", body, fixed(changes), frozenset({415}))
    for content_type in json_variants:
        for _ in range(3):
            body = json.dumps(gen.contact()).encode()
            changes = {"content-type": content_type}
            yield Case("content-type:json-variant", body, with_headers(changes), frozenset({202}))
    for content_type in near_misses:
        for _ in range(3):
            body = json.dumps(gen.contact()).encode()
            changes = {"content-type": content_type}
            yield Case("content-type:near-miss", body, with_headers(changes), frozenset({415}))


def padded(gen: Generator, size: int) -> bytes:
    """A valid contact made exactly `size` bytes long with JSON whitespace."""
    body = json.dumps(gen.contact()).encode()
    room = size - len(body)
    assert room >= 0
    before = gen.rng.randint(0, room)
    return b" " * before + body + b"\n" * (room - before)


def size_cases(gen: Generator) -> Iterator[Case]:
    for chunked in (False, True):
        suffix = ":chunked" if chunked else ""
        for delta in (0, 1, 2, 100, 4096):
            body = padded(gen, MAX_BODY - delta)
            yield Case(f"size:at-or-under{suffix}", body, signed, frozenset({202}), chunked)
        for delta in (1, 2, 100, 4096, 1_000_000):
            body = padded(gen, MAX_BODY + delta)
            yield Case(f"size:over{suffix}", body, signed, frozenset({413}), chunked)
            yield Case(f"size:over-unsigned{suffix}", body, unsigned, frozenset({413}), chunked)
        for _ in range(10):
            body = gen.rng.randbytes(MAX_BODY + gen.rng.choice([-3, -1, 0, 1, 3, 50]))
            yield judged(f"size:random-bytes{suffix}", body, chunked)
    # A declared length over the limit is refused before the body is read.
    for declared in (str(MAX_BODY + 1), "999999999999"):
        body = json.dumps(gen.contact()).encode()
        yield Case(
            "size:declared-over", body, with_headers({"content-length": declared}), frozenset({413})
        )
    # Too long a field in a body within the limit: the contract refuses it, not the size limit.
    doc = gen.contact()
    doc["notes"] = CANARY_NOTES + " " + "y" * 50_000
    yield Case("size:long-notes", json.dumps(doc).encode(), signed, frozenset({422}))


def printable(rng: random.Random, low: int, high: int) -> str:
    alphabet = string.ascii_letters + string.digits + string.punctuation + " "
    return "".join(rng.choices(alphabet, k=rng.randint(low, high))).strip() or "x"


def signature_cases(gen: Generator, rounds: int) -> Iterator[Case]:
    rng = gen.rng
    unauthorised = frozenset({401})
    for _ in range(rounds):
        body = json.dumps(gen.contact()).encode()
        yield Case("signature:unsigned", body, unsigned, unauthorised)
        missing = rng.choice(["x-key-id", "x-request-id", "x-timestamp", "x-signature"])
        yield Case("signature:header-missing", body, with_headers({}, (missing,)), unauthorised)
        empty = rng.choice(["x-key-id", "x-request-id", "x-timestamp", "x-signature"])
        yield Case("signature:header-empty", body, with_headers({empty: ""}), unauthorised)

        def flipped(data: bytes) -> Headers:
            headers = signed(data)
            signature = headers["X-Signature"]
            at = rng.randrange(len(signature))
            swap = "0" if signature[at] != "0" else "1"
            return headers | {"X-Signature": signature[:at] + swap + signature[at + 1 :]}

        yield Case("signature:one-hex-digit-wrong", body, flipped, unauthorised)
        garbage = rng.choice(
            ["0" * 64, printable(rng, 1, 200), rng.randbytes(32).hex(), rng.randbytes(33).hex()]
        )
        yield Case("signature:garbage", body, with_headers({"X-Signature": garbage}), unauthorised)
        other = json.dumps(gen.contact()).encode()
        yield Case("signature:of-another-body", body, signed_as(other), unauthorised)
        yield Case(
            "signature:wrong-secret",
            body,
            signed_with(secret=rng.randbytes(32)),
            unauthorised,
        )
        yield Case(
            "signature:uppercase-hex",
            json.dumps(gen.contact()).encode(),
            uppercase_signature,
            frozenset({202}),
        )
        stale = rng.choice([TOLERANCE + 30, 3600, 86400, 10**9, int(time.time())])
        yield Case("signature:stale", body, signed_with(timestamp_offset=-stale), unauthorised)
        future = rng.choice([TOLERANCE + 30, 3600, 10**6, 10**12])
        yield Case("signature:future", body, signed_with(timestamp_offset=future), unauthorised)
        fresh = rng.choice([0, -60, -(TOLERANCE - 60), TOLERANCE - 60])
        yield Case(
            "signature:within-tolerance",
            json.dumps(gen.contact()).encode(),
            signed_with(timestamp_offset=fresh),
            frozenset({202}),
        )
        not_seconds = rng.choice(
            ["-5", "1.7e9", "+1764283260", " 1764283260", "0x10", "abc", "1764283260.0",
             "1_764_283_260", "NaN", "-0"]  # non-ASCII ones: see the tests at the end
        )  # fmt: skip
        yield Case(
            "signature:timestamp-not-seconds",
            body,
            signed_with(timestamp=not_seconds),
            unauthorised,
        )
        many_digits = "1" + "0" * rng.randint(
            10, 20
        )  # hundreds of digits: see the tests at the end
        yield Case(
            "signature:timestamp-many-digits",
            body,
            signed_with(timestamp=many_digits),
            unauthorised,
        )
        unknown = rng.choice(
            [printable(rng, 1, 60), TEST_POLICE_KEY_ID.upper(), TEST_POLICE_KEY_ID + " ", "dev-1"]
        )
        yield Case("signature:unknown-key-id", body, signed_with(key_id=unknown), unauthorised)
        bad_id = rng.choice(
            ["a" * 7, "a" * 129, "has space1", "../../etc/x", "id;drop-table", "n?code-id-x", printable(rng, 8, 40) + "!"]
        )  # fmt: skip
        yield Case("signature:bad-request-id", body, signed_with(request_id=bad_id), unauthorised)

        # A request id is used once: a second request with it is refused, whatever its body.
        reused = uuid.uuid4().hex
        first, second = json.dumps(gen.contact()).encode(), json.dumps(gen.contact()).encode()
        yield Case("replay:first-use", first, signed_with(request_id=reused), frozenset({202}))
        yield Case("replay:same-body", first, signed_with(request_id=reused), frozenset({403}))
        yield Case("replay:other-body", second, signed_with(request_id=reused), frozenset({403}))
        # A badly signed request does not use up its id.
        kept = uuid.uuid4().hex
        yield Case(
            "replay:after-bad-signature",
            first,
            signed_with(request_id=kept, secret=b"wrong"),
            unauthorised,
        )
        yield Case(
            "replay:id-kept-after-401",
            second,
            signed_with(request_id=kept),
            frozenset({202}),
        )


def all_cases(gen: Generator) -> list[Case]:
    cases = [
        *valid_cases(gen, 60),
        *mutation_cases(gen, 2600),
        *random_cases(gen, 900),
        *content_type_cases(gen),
        *size_cases(gen),
        *signature_cases(gen, 18),
    ]
    return cases


async def test_fuzzed_contacts_never_crash_intake_nor_echo_what_was_sent(
    intake: RunningIntake,
) -> None:
    started = time.monotonic()
    gen = Generator(SEED)
    cases = all_cases(gen)
    assert len(cases) >= 2000
    outcome = Outcome()
    for case in cases:
        outcome.record(case, await send(intake.client, case))

    seconds = time.monotonic() - started
    print(f"\nintake HTTP fuzz: seed {SEED}, {len(cases)} requests in {seconds:.1f} s")
    print("status distribution:", dict(sorted(outcome.statuses.items())))
    for kind in sorted(outcome.by_kind):
        print(f"  {kind:48} {dict(sorted(outcome.by_kind[kind].items()))}")
    judged_bodies = [case for case in cases if case.kind.startswith(("mutation:", "random:"))]
    verdicts = Counter(
        "over the limit" if case.expect == {413} else "invalid" if case.why else "valid"
        for case in judged_bodies
    )
    print(f"oracle on {len(judged_bodies)} generated bodies: {dict(sorted(verdicts.items()))}")

    # Every new or changed contact queued one referral event, and the outbox relay sent it.
    opened = outcome.statuses[202]
    await wait_until(
        lambda: len(intake.referrals) >= opened, within=15, what=f"{opened} referral events"
    )
    print(f"referral events published: {len(intake.referrals)} for {opened} accepted contacts")

    leaked = [line[:300] for line in intake.logs.lines if "canary" in line.lower()]
    errors = [line[:300] for line in intake.logs.lines if '"level": "error"' in line]
    errors += [line[:300] for line in intake.logs.lines if '_failed"' in line]
    in_events = [event[:300] for event in intake.referrals if carries_submitted_text(event)]
    assert not outcome.failures, (
        f"{len(outcome.failures)} bad response(s), first ones:\n" + "\n".join(outcome.failures[:15])
    )
    assert not leaked, f"{len(leaked)} log line(s) echo submitted values: {leaked[:5]}"
    assert not errors, f"{len(errors)} error or failure log line(s): {errors[:5]}"
    assert not in_events, f"referral events carry submitted personal data: {in_events[:3]}"
    assert len(intake.referrals) == opened, "one referral event per accepted contact"
    assert sum(outcome.statuses[status] for status in ACCEPTED) > 100, "few contacts accepted"


def carries_submitted_text(event: bytes) -> bool:
    """`operation` (and `operation_group`, derived from it) is the one free text an event carries
    by design (an operation's name, not a person's data); no other submitted text may reach an
    event."""
    fields = json.loads(event)
    fields.pop("operation", None)
    fields.pop("operation_group", None)
    return "canary" in json.dumps(fields, ensure_ascii=False).lower()


# --- inputs that once crashed intake -----------------------------------------------------------------------------


def raw_headers(body: bytes, **changes: bytes) -> list[tuple[bytes, bytes]]:
    """Correctly signed headers as bytes, with some replaced by bytes no str header can carry."""
    headers = {name.lower(): value.encode() for name, value in signed(body).items()}
    headers |= {name.replace("_", "-"): value for name, value in changes.items()}
    return [(name.encode(), value) for name, value in headers.items()]


async def test_recorded_at_in_year_one_is_refused_not_a_crash(intake: RunningIntake) -> None:
    gen = Generator(SEED)
    doc = gen.contact()
    doc["recorded_at"] = "0001-01-01T00:00:00+00:00"
    body = json.dumps(doc).encode()
    response = await intake.client.post("/v1/contacts", content=body, headers=signed(body))
    assert response.status_code == 422, response.text
    assert "recorded_at is before 1900" in response.text
    assert "canary" not in response.text.lower()


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(
            {"x_timestamp": b"1" + b"0" * 400},
            id="timestamp-400-digits-OverflowError",
        ),
        pytest.param(
            {"x_timestamp": b"9" * 5000},
            id="timestamp-5000-digits-ValueError-int-max-str-digits",
        ),
        pytest.param(
            {"x_timestamp": "²".encode("latin-1")},
            id="timestamp-latin1-superscript-digit-ValueError",
        ),
        pytest.param(
            {"x_signature": "é".encode("latin-1") * 64},
            id="signature-non-ascii-TypeError-compare-digest",
        ),
    ],
)
async def test_malformed_signature_headers_are_a_401_not_a_crash(
    intake: RunningIntake, changes: dict[str, bytes]
) -> None:
    body = EXAMPLE.read_bytes()
    response = await intake.client.post(
        "/v1/contacts", content=body, headers=raw_headers(body, **changes)
    )
    assert response.status_code == 401, response.text


# --- what the oracle found ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "recorded_at",
    [
        pytest.param("1764283260", id="unix-seconds-as-text"),
        pytest.param("2026-11-27T22:41Z", id="no-seconds"),
        pytest.param("2026-11-27T22:41:00+0000", id="offset-without-colon"),
    ],
)
async def test_recorded_at_that_is_not_rfc3339_is_refused(
    intake: RunningIntake, recorded_at: str
) -> None:
    """Found by the fuzz above, judged by the oracle: the contract's recorded_at is an RFC 3339
    date-time with an offset (DOMAIN.md). Intake reads it with pydantic's datetime parser, which
    even in strict mode takes a string of digits as Unix seconds ("1764283260" is opened as a
    case recorded at 2025-11-27T22:41Z) and ISO 8601 forms RFC 3339 does not allow."""
    doc = Generator(SEED).contact()
    doc["recorded_at"] = recorded_at
    body = json.dumps(doc).encode()
    assert contact_problems(body, datetime.now(UTC)) == [".recorded_at: not RFC 3339"]
    response = await intake.client.post("/v1/contacts", content=body, headers=signed(body))
    assert response.status_code == 422, response.text


async def test_the_text_backslash_u0000_in_notes_is_not_a_nul(intake: RunningIntake) -> None:
    """A note may quote the six characters `\\u0000` (a pasted log line, say): JSON-escaped, the
    body then holds `\\\\u0000`, which decodes to a backslash and "u0000", not to U+0000."""
    doc = Generator(SEED).contact()
    doc["notes"] = r"canary notes: the message ended in \u0000"
    body = json.dumps(doc).encode()
    assert b"\\\\u0000" in body
    assert contact_problems(body, datetime.now(UTC)) == []
    response = await intake.client.post("/v1/contacts", content=body, headers=signed(body))
    assert response.status_code == 202, response.text
