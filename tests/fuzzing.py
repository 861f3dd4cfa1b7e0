"""What the fuzz and hostile-input tests share: a budget, a memory probe, a byte mutator.

Budget: each fuzz test runs a few dozen examples by default so the suite stays fast;
``FACELIVE_FUZZ_EXAMPLES=N`` runs N examples per test instead (docs/reliability.md).

Memory: the probe reads a process's peak resident set (``VmHWM``) after resetting it through
``/proc/<pid>/clear_refs``, so it sees what C libraries (libpng, libjpeg, OpenCV, Pillow)
allocate as well as Python and numpy.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

T = TypeVar("T")
MB = 1 << 20


def fuzz_examples(default: int) -> int:
    """``default``, or ``FACELIVE_FUZZ_EXAMPLES`` when set (the longer mode)."""
    value = os.environ.get("FACELIVE_FUZZ_EXAMPLES", "").strip()
    return int(value) if value else default


def fuzz_settings(default: int) -> settings:
    return settings(
        max_examples=fuzz_examples(default),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class PeakRss:
    """How far a process's peak resident set rose since ``reset`` (``pid``: this process by
    default; another process of the same user, such as a test server, works too)."""

    def __init__(self, pid: int | str = "self") -> None:
        self.proc = Path("/proc") / str(pid)
        self.before = 0

    def _mb(self, field: str) -> int:
        for line in (self.proc / "status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name == field:
                return int(value.split()[0]) // 1024
        raise RuntimeError(f"{field} missing from {self.proc}/status")

    def reset(self) -> None:
        (self.proc / "clear_refs").write_text("5")  # resets VmHWM to the current RSS
        self.before = self._mb("VmRSS")

    @property
    def growth_mb(self) -> int:
        return self._mb("VmHWM") - self.before


@dataclass(frozen=True, slots=True)
class Measured:
    """What one call did: its result (or the exception it raised) and its peak RSS growth."""

    value: object
    peak_growth_mb: int


def measure(call: Callable[[], T]) -> Measured:
    """Run ``call`` and report how far this process's peak RSS rose above the RSS before it."""
    peak = PeakRss()
    peak.reset()
    value: object
    try:
        value = call()
    except Exception as exc:  # noqa: BLE001 - the caller asserts which ones are allowed
        value = exc
    return Measured(value, peak.growth_mb)


OPS = ("flip", "set", "int32", "insert", "delete", "truncate")


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes], ops: tuple[str, ...] = OPS) -> bytes:
    """One of ``seeds`` with a few byte-level edits, half of them near the header, where
    sizes, lengths and offsets live: flipped bits, set bytes, 32-bit integers written over
    fields, inserted or deleted runs, truncation (``ops`` chooses among them)."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        end = len(data) - 1
        pos = draw(st.one_of(st.integers(0, min(end, 256)), st.integers(0, end)))
        op = draw(st.sampled_from(ops))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[pos] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01]))
        elif op == "int32":
            value = draw(st.sampled_from([0, 1, 0x7FFF, 0xFFFF, 100_000, 0x7FFFFFFF, 0xFFFFFFFF]))
            big_endian = draw(st.booleans())
            data[pos : pos + 4] = value.to_bytes(4, "big" if big_endian else "little")
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        else:
            del data[pos:]
    return bytes(data)
