"""How many CPU cores this process may really use, which sizes each worker's concurrency.

``os.cpu_count()`` counts the machine's cores. In a container (a Kubernetes pod with
``limits.cpu: 2`` on a 64-core node) that would let one worker run 64 checks at once on two
cores' worth of time, each holding its decoded image: slower, and past the memory limit.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cores(cgroup_root: Path = CGROUP_ROOT) -> int:
    """The cores in this process's CPU affinity, capped by its cgroup's CPU quota (rounded
    up: 1.5 cores of quota runs two checks at once); at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity outside Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def worker_count(configured: int, cores: int) -> int:
    """``configured`` worker processes, or one per core when it is 0 (the default): separate
    processes do not share a GIL, and on two cores two workers answered 28-35% more checks
    per second than one worker running two checks at once (docs/performance.md)."""
    return configured if configured > 0 else max(1, cores)


def checks_per_worker(cores: int, workers: int) -> int:
    """How many checks one worker runs at once: twice its share of the cores, at most all of
    them. Connections spread evenly over the workers (connection_balance), but the busy ones
    need not: a keep-alive client stays with the worker that accepted it, and the extra room
    lets a busy worker use a core that a quiet one leaves idle."""
    return max(1, min(cores, -(-2 * cores // max(1, workers))))


def cgroup_cpu_quota(root: Path) -> float | None:
    """The CPU quota in cores (quota / period), or ``None`` when there is none: cgroup v2's
    ``cpu.max`` (``"200000 100000"``, ``"max 100000"``), else cgroup v1's
    ``cpu/cpu.cfs_quota_us`` (-1: none) over ``cpu.cfs_period_us``."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if not quota.isdigit() or not period.isdigit() or int(period) == 0:
        return None  # "max" or -1: no quota
    return int(quota) / int(period)
