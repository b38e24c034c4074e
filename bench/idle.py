"""`python -m bench.idle`: what the four services cost while nothing happens.

A service that waits still works: its Kafka consumers fetch and send heartbeats, its outbox relay
and timers poll their tables, its metrics sampler reads lags. The steady scenario's "CPU per
contact" counts that work too: at `--steady-rate 5`, each 10 ms a second at rest is up to 2 ms a
contact (up to: under load some of those polls do real work). This starts the broker and the
services as the steady scenario does, after the same warm-up contacts, sends nothing for
`--seconds`, and prints each service's CPU milliseconds a second (user + system, from the
operating system) and its resident memory at the end. With `--restart`, every service is stopped
and started again on its database before the rest, as after a deploy or a crash: what a service
costs when it did not create its schema. With `--profile`, py-spy samples each service meanwhile
and the busiest frames are printed (bench/profile.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import tempfile
import time
from pathlib import Path

import psutil

from bench.clock import ClockPair
from bench.memory import MemoryLedger
from bench.profile import find_py_spy, start_sampler, summarise
from bench.setup import TIMINGS
from bench.system import SystemFailed, SystemRig
from deploy.kafka_broker import start_and_wait


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.idle", description=__doc__)
    parser.add_argument("--seconds", type=int, default=60, help="length of the rest (60)")
    parser.add_argument(
        "--timing", choices=TIMINGS, default="shipped",
        help="the services' poll intervals: as shipped (default) or the tests' shortened ones, "
        "which the bench's steady scenario uses unless given --timing shipped",
    )  # fmt: skip
    parser.add_argument("--settle", type=float, default=10.0, help="rest before measuring (10)")
    parser.add_argument(
        "--restart", action="store_true",
        help="stop and start every service again on its database before the rest",
    )  # fmt: skip
    parser.add_argument("--profile", type=Path, help="folder for py-spy's collapsed stacks")
    parser.add_argument("--top", type=int, default=15, help="functions listed per service")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.settle < 0:
        parser.error("--seconds must be positive and --settle not negative")
    return args


async def measure(args: argparse.Namespace) -> tuple[dict[str, float], dict[str, float]]:
    """CPU milliseconds a second, by service, over `args.seconds` of rest, and each service's
    resident memory (MB) at its end."""
    py_spy = find_py_spy() if args.profile is not None else None
    folder = Path(tempfile.mkdtemp(prefix="bench-idle-kafka-"))
    broker = None
    failed = False
    try:
        broker = await start_and_wait(folder / "kafka")
        async with SystemRig(
            broker.bootstrap_servers, "bench-idle-", "idle", ClockPair(), MemoryLedger(),
            timing=args.timing,
        ) as rig:  # fmt: skip
            await asyncio.sleep(args.settle)  # the warm-up's tail: its commits and outbox flushes
            if args.restart:
                for name, service in rig.processes().items():
                    service.terminate()
                    await rig.live.restart(name)
                await asyncio.sleep(args.settle)
            samplers: list[asyncio.subprocess.Process] = []
            try:
                if py_spy is not None:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    for name, service in rig.processes().items():
                        assert service.process is not None
                        stacks = args.profile / f"{name}.stacks.txt"
                        samplers.append(
                            await start_sampler(py_spy, service.process.pid, args.seconds, stacks)
                        )
                before, started = rig.cpu_seconds(), time.monotonic()
                await asyncio.sleep(args.seconds)
                after, ended = rig.cpu_seconds(), time.monotonic()
                resident = {
                    name: rss_mb(service.process.pid)
                    for name, service in rig.processes().items()
                    if service.process is not None
                }
                for sampler in samplers:
                    await asyncio.wait_for(sampler.wait(), timeout=args.seconds + 60)
            finally:
                for sampler in samplers:
                    if sampler.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            sampler.kill()
                        await sampler.wait()
            # A service that died would show only what it used before dying.
            stopped = [name for name, service in rig.processes().items() if not service.running()]
            if stopped or set(before) != set(after):
                rig.keep_logs()
                raise SystemFailed(f"services not running through the rest: {stopped or 'some'}")
    except BaseException:
        failed = True
        raise
    finally:
        if broker is not None:
            broker.stop()
        if failed:
            print(f"broker data and logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    used = {name: 1000 * (after[name] - before[name]) / (ended - started) for name in after}
    return used, resident


def rss_mb(pid: int) -> float:
    resident: int = psutil.Process(pid).memory_info().rss
    return resident / 2**20


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    used, resident = asyncio.run(measure(args))
    started = "restarted on their databases" if args.restart else "first start"
    print(f"\nAt rest, {args.timing} timing, {started}, over {args.seconds} s:")
    print(f"  {'service':<18} {'CPU ms/s':>8} {'RSS MB':>7}")
    for name, ms in used.items():
        print(f"  {name:<18} {ms:8.1f} {resident.get(name, float('nan')):7.1f}")
    print(f"  {'all':<18} {sum(used.values()):8.1f}")
    if args.profile is not None:
        for name in used:
            stacks = args.profile / f"{name}.stacks.txt"
            print(f"\n{name}")
            if not stacks.exists():
                print("  py-spy wrote no stacks (could it attach? try it on the pid by hand)")
                continue
            print("\n".join(summarise(stacks, args.top, args.seconds)))


if __name__ == "__main__":
    main()
