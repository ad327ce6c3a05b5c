"""glibc malloc thresholds for training loops on CPU.

Every training step frees its activations (tens of MiB each). glibc's malloc serves blocks that large with
mmap and returns them to the system on free, so the next step faults the same pages in again, as system time. Keeping freed memory in the heap
instead raises training throughput with identical losses (measured by scripts/benchmark_training.py; the
numbers are in docs/performance.md). This is the in-process form of MALLOC_MMAP_THRESHOLD_ /
MALLOC_TRIM_THRESHOLD_ / MALLOC_TOP_PAD_.
"""

import ctypes
import ctypes.util

# mallopt() parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 2**31 - 1, M_TOP_PAD: 512 << 20}


def keep_freed_memory() -> bool:
    """Apply SETTINGS with mallopt(); False (and nothing changed) where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.gnu_get_libc_version  # noqa: B018 -- only glibc has it; other C libraries' mallopt differs
        mallopt = libc.mallopt
    except (OSError, TypeError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in SETTINGS.items())
