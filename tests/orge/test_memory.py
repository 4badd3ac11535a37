"""orge/memory.py: start-up's freed heap goes back to the kernel, its survivors are frozen.

Run in a fresh interpreter: `gc.freeze()` in the test process would freeze pytest's own
objects for the rest of the session.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

PROBE = """
import ctypes, gc, json
from orge.memory import release_startup_memory

def rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

# 40 MiB in blocks below glibc's mmap threshold, each followed by a small
# block that stays: the freed blocks are holes inside the heap, which free() cannot give
# back (only the heap's top is trimmed by free), as start-up's garbage between the
# modules and objects that live on.
# glibc adjusts its thresholds as a process frees memory; fixed here, as they are in a
# station that has run a while: blocks below 1 MiB come from the heap, and free() never
# trims it (M_MMAP_THRESHOLD = -3, M_TRIM_THRESHOLD = -1 in malloc.h).
libc = ctypes.CDLL(None)
libc.mallopt(-3, 1 << 20)
libc.mallopt(-1, 1 << 30)
blocks, kept = [], []
for _ in range(420):
    blocks.append(b"x" * 100_000)  # written: resident
    kept.append(b"y" * 1000)
del blocks
before = rss_kib()
release_startup_memory()
after = rss_kib()
print(json.dumps({"before": before, "after": after, "frozen": gc.get_freeze_count()}))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_release_gives_freed_heap_back_and_freezes_survivors() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    figures = json.loads(out)
    # 420 blocks of 100 000 bytes freed = 40 MiB; at least 30 MiB of it leaves the
    # resident set (the rest: allocator slack around the blocks still in use)
    assert figures["before"] - figures["after"] > 30 * 1024
    assert figures["frozen"] > 1000  # the interpreter's and orge's own objects
