"""The cores a worker sizes its concurrency by: affinity capped by a container's CPU quota,
read from fake cgroup files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facelive.api.cores import (
    available_cores,
    cgroup_cpu_quota,
    checks_per_worker,
    worker_count,
)


def _v2(root: Path, text: str) -> Path:
    (root / "cpu.max").write_text(text)
    return root


def _v1(root: Path, quota: str, period: str = "100000") -> Path:
    (root / "cpu").mkdir()
    (root / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text(period + "\n")
    return root


@pytest.mark.parametrize(
    ("text", "cores"),
    [("200000 100000\n", 2.0), ("150000 100000", 1.5), ("max 100000\n", None), ("", None)],
)
def test_cgroup_v2_quota(tmp_path: Path, text: str, cores: float | None) -> None:
    assert cgroup_cpu_quota(_v2(tmp_path, text)) == cores


@pytest.mark.parametrize(
    ("quota", "period", "cores"),
    [("400000", "100000", 4.0), ("-1", "100000", None), ("50000", "0", None)],
)
def test_cgroup_v1_quota(tmp_path: Path, quota: str, period: str, cores: float | None) -> None:
    assert cgroup_cpu_quota(_v1(tmp_path, quota, period)) == cores


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(tmp_path) is None
    assert available_cores(tmp_path) == len(os.sched_getaffinity(0))


def test_a_quota_caps_the_cores_rounded_up(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert available_cores(_v2(tmp_path, "50000 100000")) == 1  # half a core: one at a time
    (tmp_path / "cpu.max").write_text("150000 100000")
    assert available_cores(tmp_path) == min(affinity, 2)
    (tmp_path / "cpu.max").write_text(f"{64 * 100000} 100000")
    assert available_cores(tmp_path) == affinity  # a quota above the cores changes nothing


@pytest.mark.parametrize(
    ("configured", "cores", "workers"),
    [(0, 2, 2), (0, 1, 1), (0, 16, 16), (3, 2, 3), (1, 8, 1)],
)
def test_workers_default_to_one_per_core(configured: int, cores: int, workers: int) -> None:
    assert worker_count(configured, cores) == workers


@pytest.mark.parametrize(
    ("cores", "workers", "checks"),
    [
        (2, 2, 2),  # two workers on two cores: each may use both when the other is idle
        (2, 1, 2),  # one worker: all the cores
        (1, 1, 1),
        (8, 8, 2),
        (8, 3, 6),
        (2, 4, 1),  # more workers than cores: one at a time each
    ],
)
def test_a_worker_runs_twice_its_share_of_the_cores_at_most_all(
    cores: int, workers: int, checks: int
) -> None:
    assert checks_per_worker(cores, workers) == checks
