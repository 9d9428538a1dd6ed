"""Another process holding a spool slot, for tests of what a live or dead worker leaves."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

_HOLDER = """
import sys
from pathlib import Path
from gateway.bus.spool_slots import claim_slot, try_slot

path = Path(sys.argv[1])
slot = claim_slot(path) if len(sys.argv) < 3 else try_slot(path, int(sys.argv[2]))
print("busy" if slot is None else f"{slot.number} {slot.path}", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def slot_holder(
    spool_path: Path, number: int | None = None
) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """A process that claims the first free slot (or slot `number`) and holds it until
    killed: yields it, the slot's number and its spool file."""
    wanted = [] if number is None else [str(number)]
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(spool_path), *wanted],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            answer = process.stdout.readline().strip()
            assert answer != "busy", f"slot {number} of {spool_path} is held already"
            held, path = answer.split(" ", 1)
            yield process, int(held), Path(path)
        finally:
            process.kill()
            process.wait(10)
