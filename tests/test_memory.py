"""A worker gives freed image-sized buffers back to the OS, and keeps the heap a check
reuses (facelive.api.memory)."""

from __future__ import annotations

import subprocess
import sys

from facelive.api.memory import return_freed_memory

# Eight threads each hold two 24 MB buffers at a time, as decoded photos do, then free them.
CHURN = """
import sys, threading
from facelive.api.memory import return_freed_memory
if sys.argv[1] == "on":
    assert return_freed_memory()
def rss_mib():
    with open("/proc/self/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS")).split()[1]) // 1024
def churn():
    for size in (24, 23, 22, 21, 20, 19, 18, 17):
        a = bytearray(size << 20); b = bytearray(size << 20)
        a[::4096] = b"x" * len(a[::4096]); b[::4096] = b"y" * len(b[::4096])
        del a, b
        small = [bytearray(1024) for _ in range(2000)]  # live small blocks above the big ones
        del small[::2]
before = rss_mib()
threads = [threading.Thread(target=churn) for _ in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
print(before, rss_mib())
"""


def _resident_before_after(mode: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), int(out[1])


def test_mallopt_is_accepted_on_this_platform() -> None:
    assert return_freed_memory() is True


def test_freed_photo_buffers_leave_the_process() -> None:
    before, after = _resident_before_after("on")
    assert after - before < 25, f"{after - before} MiB still resident after the buffers were freed"


# A buffer just under the mmap threshold (a 640x480 check's decoded image and detector input
# are), freed with a small block allocated after it: minor page faults over 500 rounds.
REUSE = """
import resource, sys
from facelive.api.memory import return_freed_memory
assert return_freed_memory()
keep = [bytearray(64) for _ in range(1000)]
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(500):
    buffer = bytearray(900 << 10)
    keep.append(bytearray(64))
    del buffer
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_the_heap_a_check_reuses_is_not_handed_back_after_each_check() -> None:
    out = subprocess.run([sys.executable, "-c", REUSE], capture_output=True, text=True, check=True)
    faults = int(out.stdout)
    # With glibc's 128 KiB trim threshold the heap top was returned and faulted in again
    # every round (about 96,000 faults, 225 pages a round); kept, the pages fault once.
    assert faults < 5_000, faults
