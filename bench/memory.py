"""Peak resident memory of each service process, two ways: psutil sampling every 0.2 s of the
process and all its children (what the machine had to hold), and the kernel's exact high-water
mark of the process itself (VmHWM in /proc/<pid>/status, read before the process is stopped)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

MB = 1024 * 1024


def tree_rss(process: Any) -> int:
    """RSS of a process plus all its descendants, in bytes (shared pages are counted per process,
    so this can only overstate, never understate, the memory the tree needs)."""
    total = int(process.memory_info().rss)
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += int(child.memory_info().rss)
    return total


def vm_hwm(pid: int) -> int | None:
    """The kernel's peak RSS of `pid` in bytes, or None if it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # the kernel reports kB
    return None


class RssSampler:
    """`start()` samples in the background until `stop()`; `peaks` maps name → bytes."""

    def __init__(self, pids: dict[str, int], interval: float = 0.2) -> None:
        self.pids, self.interval = pids, interval
        self.peaks: dict[str, int] = dict.fromkeys(pids, 0)
        self._processes: dict[str, Any] = {}
        for name, pid in pids.items():
            with contextlib.suppress(psutil.Error):
                self._processes[name] = psutil.Process(pid)
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        for name, process in self._processes.items():
            with contextlib.suppress(psutil.Error):
                self.peaks[name] = max(self.peaks[name], tree_rss(process))

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="rss-sampler")

    async def stop(self) -> dict[str, int | None]:
        """Stop sampling; returns each process's VmHWM (call while the processes still run)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()
        return {name: vm_hwm(pid) for name, pid in self.pids.items()}


@dataclass
class MemoryLedger:
    """Peaks per service across every system scenario of the run."""

    scenarios: dict[str, dict[str, dict[str, int | None]]] = field(default_factory=dict)

    def record(self, scenario: str, sampled: dict[str, int], hwm: dict[str, int | None]) -> None:
        self.scenarios[scenario] = {
            name: {"sampled_tree_rss": sampled.get(name), "vm_hwm": hwm.get(name)}
            for name in sorted(set(sampled) | set(hwm))
        }

    def peak(self, name: str) -> int | None:
        """The larger of the sampled and the kernel peak over all scenarios; for a service that
        ran as several instances (`intake.1`, `intake.2`), the largest of any of them."""
        values = [
            value
            for services in self.scenarios.values()
            for instance, peaks in services.items()
            if instance == name or instance.split(".", 1)[0] == name
            for value in peaks.values()
            if value is not None
        ]
        return max(values) if values else None

    def services(self) -> list[str]:
        return sorted({name for services in self.scenarios.values() for name in services})

    def to_json(self) -> dict[str, Any]:
        def mb(value: int | None) -> float | None:
            return None if value is None else round(value / MB, 1)

        return {
            name: {
                "peak_rss_mb": mb(self.peak(name)),
                "per_scenario": {
                    scenario: {
                        "sampled_tree_rss_mb": mb(services.get(name, {}).get("sampled_tree_rss")),
                        "vm_hwm_mb": mb(services.get(name, {}).get("vm_hwm")),
                    }
                    for scenario, services in self.scenarios.items()
                    if name in services
                },
            }
            for name in self.services()
        }
