"""The cores a worker sizes its concurrency by: affinity capped by a container's CPU quota,
read from fake cgroup files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facelive.api.cores import available_cores, cgroup_cpu_quota


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
