"""glibc malloc thresholds (server/allocator.py): set at start, seen in where blocks land.

Each case runs in a fresh interpreter, so the thresholds it sets are the only ones: an
8 MiB block allocated after ``tune(16, ...)`` must come from the heap (brk, the
``[heap]`` mapping), after ``tune(4, ...)`` from a mapping of its own.  No model needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from server import allocator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE = r"""
import ctypes, json, sys
from server import allocator
done = allocator.tune(float(sys.argv[1]), 64.0)
buf = bytearray(8 << 20)
addr = ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))
where = "?"
for line in open("/proc/self/maps"):
    parts = line.split()
    lo, hi = (int(v, 16) for v in parts[0].split("-"))
    if lo <= addr < hi:
        where = parts[5] if len(parts) > 5 else "anon"
print(json.dumps({"tuned": done, "where": where}))
"""

glibc_only = pytest.mark.skipif(
    allocator._libc() is None or not sys.platform.startswith("linux"), reason="glibc malloc only"
)


def probe(mmap_mb: float, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(mmap_mb)],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


@glibc_only
def test_blocks_below_the_threshold_come_from_the_heap():
    got = probe(16)
    assert got["tuned"] == {"mmap_threshold": 16 << 20, "trim_threshold": 64 << 20}
    assert got["where"] == "[heap]"


@glibc_only
def test_blocks_above_the_threshold_are_mapped():
    got = probe(4)
    assert got["tuned"]["mmap_threshold"] == 4 << 20
    assert got["where"] == "anon"


@glibc_only
def test_the_operators_glibc_variable_wins():
    got = probe(16, MALLOC_MMAP_THRESHOLD_=str(4 << 20))
    assert got["tuned"] == {"trim_threshold": 64 << 20}  # only what the environment left open
    assert got["where"] == "anon"  # glibc applied the operator's 4 MiB


@glibc_only
def test_threshold_is_capped_at_glibcs_maximum():
    got = probe(1024)
    assert got["tuned"]["mmap_threshold"] == allocator.MMAP_THRESHOLD_MAX


def test_zero_leaves_glibc_alone():
    assert allocator.tune(0, 0) is None
