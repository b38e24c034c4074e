"""`python -m bench.log_render`: CPU per log line, json.dumps against orjson (shared/logging.py).

Two measures, each way in interleaved blocks so both see the same machine, CPU time of this
process: the renderer alone on a typical event (after the shared processors), and a whole line as a
service writes one (structlog's bound logger, the stdlib handler, the shared processors with the
redaction, the renderer, a UTF-8 stream to /dev/null), for a structlog event and a uvicorn access
line routed through the same formatter.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import structlog

from shared.logging import configure_logging, get_logger, render_json, route_library_loggers

EVENT: dict[str, Any] = {
    "event": "contact_received",
    "service": "intake",
    "correlation_id": "6f1c2a9e-3b7d-4e21-9a55-0c8d7e6b1f42",
    "case_reference": "MS-2026-7KQ2M4",
    "urgency": "immediate",
    "topic": "safeguarding.police-contacts.v1",
    "partition": 3,
    "offset": 184467,
    "duplicate": False,
    "indicators": "[redacted]",
    "timings": {"vault_ms": 1.84, "outbox_ms": 0.52},
    "level": "info",
    "timestamp": "2026-03-02T10:15:04.123456Z",
}


def _cpu(block: Callable[[], object], repeats: int) -> float:
    started = time.process_time()
    for _ in range(repeats):
        block()
    return time.process_time() - started


def render_only(lines: int, block: int) -> dict[str, float]:
    ways = {
        "json.dumps": structlog.processors.JSONRenderer(),
        "orjson": structlog.processors.JSONRenderer(serializer=render_json),
    }
    spent = dict.fromkeys(ways, 0.0)
    for render in ways.values():  # warm up
        for _ in range(1000):
            render(None, "info", dict(EVENT))
    for _ in range(lines // block):
        for way, render in ways.items():
            spent[way] += _cpu(partial(render, None, "info", dict(EVENT)), block)
    return {way: 1e6 * cpu / lines for way, cpu in spent.items()}


def whole_line(lines: int, block: int) -> dict[str, float]:
    """Microseconds per line through the service's own configure_logging, the renderer swapped."""
    saved = sys.stdout
    sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        sys.stdout = sink
        configure_logging("intake")
    finally:
        sys.stdout = saved
    route_library_loggers()
    handler = logging.getLogger().handlers[0]
    formatter = handler.formatter
    assert isinstance(formatter, structlog.stdlib.ProcessorFormatter)
    processors = formatter.processors
    assert isinstance(processors, list)  # configure_logging's own list, changed in place below
    renderers = {
        "json.dumps": structlog.processors.JSONRenderer(),
        "orjson": processors[-1],  # configure_logging's own, on a UTF-8 stream
    }
    assert isinstance(renderers["orjson"], structlog.processors.JSONRenderer)
    assert renderers["orjson"]._dumps is render_json
    log = get_logger("bench")
    access = logging.getLogger("uvicorn.access")
    access.setLevel(logging.INFO)
    access.disabled = False

    def event() -> None:
        log.info(
            "contact_received",
            correlation_id=EVENT["correlation_id"],
            case_reference=EVENT["case_reference"],
            urgency="immediate",
            topic=EVENT["topic"],
            partition=3,
            offset=184467,
            name="Canary W",
        )

    def access_line() -> None:
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "POST", "/v1/contacts", "1.1", 202)

    results: dict[str, float] = {}
    try:
        for kind, emit in {"event": event, "access": access_line}.items():
            spent = dict.fromkeys(renderers, 0.0)
            for renderer in renderers.values():  # warm up
                processors[-1] = renderer
                for _ in range(500):
                    emit()
            for _ in range(lines // block):
                for way, renderer in renderers.items():
                    processors[-1] = renderer
                    spent[way] += _cpu(emit, block)
            for way, cpu in spent.items():
                results[f"{kind} {way}"] = 1e6 * cpu / lines
    finally:
        processors[-1] = renderers["orjson"]
        sink.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=100_000, help="per way and measure")
    parser.add_argument("--block", type=int, default=2_000, help="lines per interleaved block")
    args = parser.parse_args()
    render = render_only(args.lines, args.block)
    whole = whole_line(args.lines // 4, args.block // 4)
    print(f"CPU µs per log line (this process), {args.lines} renders, {args.lines // 4} lines")
    print(f"{'measure':<22} {'json.dumps':>10} {'orjson':>8} {'saving':>7}")
    rows = {
        "renderer alone": (render["json.dumps"], render["orjson"]),
        "whole line: event": (whole["event json.dumps"], whole["event orjson"]),
        "whole line: access": (whole["access json.dumps"], whole["access orjson"]),
    }
    for name, (old, new) in rows.items():
        print(f"{name:<22} {old:>10.2f} {new:>8.2f} {1 - new / old:>7.0%}")


if __name__ == "__main__":
    main()
