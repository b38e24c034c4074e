"""JSON log lines through orjson (shared/logging.py): the same fields and values as json.dumps wrote,
no line lost to what orjson refuses, and the redaction still in front of the renderer."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from shared.logging import configure_logging, get_logger, json_renderer, render_json


@dataclass
class Recipient:
    person_id: str
    phone: str = field(repr=False)


def both(event: dict[str, Any]) -> tuple[str, str]:
    old = structlog.processors.JSONRenderer()(None, "info", dict(event))
    new = structlog.processors.JSONRenderer(serializer=render_json)(None, "info", dict(event))
    assert isinstance(old, str)
    assert isinstance(new, str)
    return old, new


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(
            {"event": "sent", "count": 3, "ok": True, "none": None, "ms": 1.25}, id="plain"
        ),
        pytest.param(
            {"event": "e", "nested": {"a": [1, {"b": "c"}]}, "tags": ("x", "y")}, id="nested"
        ),
        pytest.param({"event": "e", 3: "int key", None: "none key", 1.5: "float key"}, id="keys"),
        pytest.param({"event": "e", "secret": SecretStr("hunter2")}, id="secret"),
        pytest.param({"event": "e", "at": datetime(2026, 3, 2, 10, 15, tzinfo=UTC)}, id="datetime"),
        pytest.param({"event": "e", "to": Recipient("advisor-a", "+447700900417")}, id="dataclass"),
        pytest.param({"event": "e", "text": "Zoë \x00 tab\t \u202e"}, id="unicode"),
        pytest.param({"event": "e", "big": 2**70}, id="past_64_bits"),
        pytest.param({"event": "e", "bad": "a \ud800 b"}, id="lone_surrogate"),
    ],
)
def test_same_values_as_json_dumps(event: dict[str, Any]) -> None:
    old, new = both(event)
    assert json.loads(new) == json.loads(old)
    assert list(json.loads(new)) == list(json.loads(old))  # the same fields, in the same order


def test_repr_hidden_fields_and_secrets_stay_hidden() -> None:
    _, new = both({"event": "e", "to": Recipient("advisor-a", "+447700900417"),
                   "key": SecretStr("hunter2")})  # fmt: skip
    assert "7700900417" not in new
    assert "hunter2" not in new
    assert "advisor-a" in new


def test_orjson_is_what_renders_and_json_dumps_only_what_it_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Any] = []
    real = json.dumps

    def spy(obj: Any, **kw: Any) -> str:
        calls.append(obj)
        return real(obj, **kw)

    monkeypatch.setattr(json, "dumps", spy)
    plain = render_json({"event": "e", "n": 1}, default=repr)
    assert plain == '{"event":"e","n":1}'  # orjson's compact form, not json.dumps's
    assert calls == []
    assert json.loads(render_json({"event": "e", "x": "\ud800"}, default=repr))["event"] == "e"
    assert len(calls) == 1


def test_nan_is_still_a_line() -> None:
    line = render_json({"event": "e", "ratio": math.nan}, default=repr)
    assert json.loads(line)["event"] == "e"


@pytest.mark.parametrize(("encoding", "fast"), [("utf-8", True), ("UTF8", True), ("latin-1", False),
                                                ("ascii", False)])  # fmt: skip
def test_orjson_only_on_a_utf8_stream(encoding: str, fast: bool) -> None:
    renderer = json_renderer(io.TextIOWrapper(io.BytesIO(), encoding=encoding))
    assert (renderer._dumps is render_json) is fast
    line = renderer(None, "info", {"event": "e", "text": "Zoë"})
    assert isinstance(line, str)
    line.encode(encoding)  # writable to that stream
    assert json.loads(line)["text"] == "Zoë"


def test_a_service_line_is_orjson_and_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("intake")
    get_logger("svc").info("contact_received", case_reference="MS-2026-7KQ2M4", name="Canary W",
                           detail={"phone": "+447700900417", "ok": 1})  # fmt: skip
    out = capsys.readouterr().out.strip()
    assert '"event":"contact_received"' in out  # orjson wrote it (json.dumps puts a space)
    line = json.loads(out)
    assert line["name"] == "[redacted]"
    assert line["detail"] == {"phone": "[redacted]", "ok": 1}
    assert line["service"] == "intake"
    assert {"level", "timestamp", "case_reference"} <= set(line)
    assert "Canary" not in out
    assert "7700900417" not in out
