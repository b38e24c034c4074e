"""shared/startup_heap.py in a process of its own (freezing is once a process, and pytest's heap
is not a service's): garbage already made is collected, not frozen; what is alive is frozen; a
second call freezes nothing more."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import gc, json, weakref
gc.disable()  # so that only the freeze's own collection can free the dropped cycle
from shared.startup_heap import freeze_startup_heap

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a

kept = cycle()
dropped = weakref.ref(cycle())  # unreachable already: a cycle only a collection frees
assert dropped() is not None
first = freeze_startup_heap()
dropped_alive = dropped() is not None
later = cycle()
second = freeze_startup_heap()
print(json.dumps({
    "first": first, "second": second, "dropped_alive": dropped_alive,
    "kept_frozen": not any(o is kept for o in gc.get_objects()),  # the frozen are not listed
    "later_tracked": any(o is later for o in gc.get_objects()),
}))
"""


def test_garbage_is_collected_the_rest_frozen_once() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["first"] > 1000, found  # the interpreter's and the imports' objects
    assert not found["dropped_alive"], "a cycle that was already garbage was frozen, not freed"
    assert found["kept_frozen"], "a live object made before start-up's end is still walked"
    assert found["later_tracked"], "an object made after start-up must stay collectable"
    assert found["second"] == found["first"], "the second call froze more"


def test_a_process_that_keeps_its_heap_unfrozen_freezes_nothing() -> None:
    script = (
        "import gc\nfrom shared.startup_heap import freeze_startup_heap, keep_heap_unfrozen\n"
        "keep_heap_unfrozen()\nprint(freeze_startup_heap())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "0"
