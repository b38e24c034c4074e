"""`python -m bench.profile`: where the services spend their time under a steady load.

Starts the broker and the four services (as the benchmarks do), sends contacts at a constant rate,
and samples every service process with py-spy for the whole run (sampling from outside the process:
no code change, no profiler overhead inside it). Writes each service's collapsed stacks to the
output folder (open them with speedscope or flamegraph.pl) and prints, per service, the share of
samples that were busy and the functions most often on top of the stack (self time) and anywhere
on it (inclusive time).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

from deploy.kafka_broker import start_and_wait
from shared.kafka import ensure_topics
from shared.topics import POLICE_CONTACTS
from tests.support.ground_truth import Generator
from tests.support.http_gateway import RunningGateway
from tests.support.live import SERVICES, LiveSystem
from tests.support.smtp import SmtpSink

RATE = 100  # samples a second
# py-spy records only threads it sees on the CPU, but a thread blocked in these frames is waiting
# for work (the event loop's select, aiosqlite's worker on its queue, a pool thread's condition).
IDLE_FRAMES = (
    "select (selectors.py",
    "_run_once (asyncio/base_events.py",
    "_connection_worker_thread (aiosqlite/core.py:59)",
    "Condition.wait (threading.py",
    "_worker (concurrent/futures/thread.py:81)",
)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--rate", type=float, default=10.0, help="contacts a second (10)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the load (30)")
    parser.add_argument("--top", type=int, default=12, help="functions listed per service")
    parser.add_argument(
        "--gil",
        action="store_true",
        help="sample only the thread holding the GIL (py-spy --gil): Python's own CPU, leaving "
        "out a thread that waits on the disk (SQLite's fsync at COMMIT), which py-spy otherwise "
        "counts as busy, and C code that released the GIL",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "profile"
    )
    return parser.parse_args(argv)


def library_of(frame: str) -> str | None:
    """The top-level package of a py-spy frame, `func (path/to/file.py:12)`: `sqlalchemy`,
    `services`, `shared`; None for the standard library, except asyncio, counted as itself so the
    event loop's own work shows. py-spy shortens the paths of namespace packages, so
    OpenTelemetry's frames show as `trace`, `context` and the like (and `trace` is taken for the
    standard library's): the summary is by top-level name, not by distribution."""
    path = frame.rpartition(" (")[2]
    top = path.split(":", 1)[0].split("/", 1)[0].removesuffix(".py")
    if top.startswith("<"):  # <frozen runpy>, <string>: no file, no library
        return None
    if top == "asyncio" or top not in sys.stdlib_module_names:
        return top
    return None


def by_library(stacks_file: Path) -> tuple[int, Counter[str]]:
    """Busy samples and how many each library was the deepest non-standard frame of: a sample in
    `json` under structlog counts for structlog, one in SQLite's C call under the services'
    driver for `shared`."""
    parts: Counter[str] = Counter()
    busy = 0
    for line in stacks_file.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [frame.strip() for frame in stack.split(";") if frame.strip()]
        if not count_text.isdigit() or not frames:
            continue
        if any(marker in frames[-1] for marker in IDLE_FRAMES):
            continue
        busy += int(count_text)
        owner = next(filter(None, map(library_of, reversed(frames))), "(standard library)")
        parts[owner] += int(count_text)
    return busy, parts


def summarise(stacks_file: Path, top: int, seconds: float) -> list[str]:
    """py-spy's raw format: one line a distinct stack, frames separated by ';', then a count."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = idle = 0
    for line in stacks_file.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame.strip() for frame in stack.split(";") if frame.strip()]
        total += count
        if not frames or any(marker in frames[-1] for marker in IDLE_FRAMES):
            idle += count
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            anywhere[frame] += count
    busy = total - idle
    lines = [f"  on-CPU samples {busy}: about {100 * busy / (RATE * seconds):.0f}% of one core"]
    lines.append("  self (top of stack), % of busy samples:")
    lines += [f"    {100 * n / max(busy, 1):5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines.append("  inclusive, % of busy samples (project code and libraries, not the loop):")
    shown = [
        (frame, n)
        for frame, n in anywhere.most_common()
        if not frame.startswith(("<module>", "run ", "Runner.run", "BaseEventLoop", "Context.run"))
        and "cli/main.py" not in frame
        and "typer" not in frame
        and "anyio" not in frame
    ][:top]
    lines += [f"    {100 * n / max(busy, 1):5.1f}%  {frame}" for frame, n in shown]
    lines.append(
        "  by library (the deepest frame outside the standard library), % of busy samples:"
    )
    _, parts = by_library(stacks_file)
    lines += [f"    {100 * n / max(busy, 1):5.1f}%  {name}" for name, n in parts.most_common(top)]
    return lines


def find_py_spy() -> str:
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        raise SystemExit("py-spy is missing: run deploy/bootstrap.sh (it is a dev dependency)")
    return py_spy


async def start_sampler(
    py_spy: str, pid: int, seconds: int, stacks: Path, gil: bool = False
) -> asyncio.subprocess.Process:
    """py-spy recording `pid` for `seconds` into `stacks` (raw collapsed stacks), from outside;
    `gil`: only the thread holding the GIL."""
    return await asyncio.create_subprocess_exec(
        py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(RATE),
        "--format", "raw", "--nonblocking", "--output", str(stacks), *(["--gil"] if gil else []),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def profile(args: argparse.Namespace) -> None:
    py_spy = find_py_spy()
    args.out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    broker = await start_and_wait(folder / "kafka")
    try:
        await ensure_topics(broker.bootstrap_servers, "")
        async with AsyncExitStack() as stack:
            gateway = await stack.enter_async_context(RunningGateway())
            smtp = stack.enter_context(SmtpSink())
            urls = {name: f"sqlite+aiosqlite:///{folder}/{name}.sqlite3" for name in SERVICES}
            live = await stack.enter_async_context(
                LiveSystem(broker.bootstrap_servers, "", urls, folder / "live", gateway, smtp.port)
            )
            duration = int(args.seconds + 10)  # the load, then its tail
            samplers = {}
            for name in SERVICES:
                process = live[name].process
                assert process is not None
                samplers[name] = await start_sampler(
                    py_spy, process.pid, duration, args.out / f"{name}.stacks.txt", args.gil
                )
            await asyncio.sleep(0.5)
            generator = Generator(
                live["intake"].url, broker.bootstrap_servers, POLICE_CONTACTS.full_name(""), "prof"
            )
            started = time.monotonic()
            contacts = await generator.run(int(args.rate * args.seconds), args.rate)
            print(
                f"sent {len(contacts)} contacts at {args.rate:g}/s in "
                f"{time.monotonic() - started:.1f} s; sampling until the tail is done…"
            )
            for sampler in samplers.values():
                await asyncio.wait_for(sampler.wait(), timeout=duration + 60)
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)
    for name in SERVICES:
        print(f"\n{name}")
        print("\n".join(summarise(args.out / f"{name}.stacks.txt", args.top, args.seconds + 10)))
    print(f"\ncollapsed stacks: {args.out}/<service>.stacks.txt")


def main(argv: list[str] | None = None) -> None:
    asyncio.run(profile(parse(argv)))


if __name__ == "__main__":
    main()
