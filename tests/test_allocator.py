"""glibc malloc tuning: freed training-sized blocks stay in the process instead of going back to the system."""

import subprocess
import sys

import pytest

from pressft.model.allocator import keep_freed_memory

# Allocate and touch 24 MiB, free it, and report how much of it the process still holds (resident MiB).
PROBE = """
import sys
from pressft.model.allocator import keep_freed_memory
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
tuned = keep_freed_memory() if sys.argv[1] == "tuned" else None
before = rss()
block = bytearray(24 << 20)
del block
print(tuned, rss() - before)
"""


def probe(mode: str) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout
    tuned, kept = out.split()
    return tuned, float(kept)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc only")
def test_freed_blocks_stay_in_the_heap_only_when_tuned():
    assert keep_freed_memory() is True  # glibc accepted every setting
    assert probe("tuned") == ("True", pytest.approx(24, abs=2))
    # Control: untuned, glibc maps a 24 MiB block on its own and unmaps it on free.
    assert probe("default")[1] < 2
