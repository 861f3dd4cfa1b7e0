"""``python -m bench.soak [--duration S] [--load F] ...``: a long run at a fraction of capacity.

Starts ``facelive serve`` on loopback, measures its capacity (a short unpaced closed loop),
then drives it at ``--load`` times that rate (0.8 by default) for ``--warmup`` plus
``--duration`` seconds with the load generator in its own process, while reading each
worker's resident memory (``VmRSS``) from ``/proc`` every ``--sample`` seconds. It passes
with zero errors and every worker's RSS at the end under 1.1 times its RSS just after the
warm-up (medians of the samples in a short window at each end, so one request's buffers do
not decide it). Exit status 0 when it passes, 1 when not. ``tests/test_faults.py`` runs the
same ``soak`` for a few seconds. Figures: docs/reliability.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.images import suite_images
from bench.server import LoadRun, Server, loadgen_command, status_kb

# Largest accepted RSS growth after warm-up, as a fraction of the RSS just after it.
MAX_GROWTH = 0.10


def measure_capacity(port: int, appcode: str, body: Path, concurrency: int = 4) -> float:
    """Requests per second the server sustains in a closed loop (a few seconds)."""
    command = loadgen_command(
        port, body, concurrency=concurrency, duration=4.0, warmup=1.0, appcode=appcode
    )
    result = LoadRun.start(command).result(timeout=120)
    if result["errors"]:
        raise RuntimeError(f"errors while measuring capacity: {result['codes']}")
    return float(result["throughput_rps"])


@dataclass
class SoakResult:
    """The load generator's JSON (``load``) and ``rss``: (seconds since start, {pid: MiB})."""

    rate: float
    warmup_s: float
    load: dict[str, Any]
    rss: list[tuple[float, dict[int, float]]] = field(default_factory=list)

    def _median_rss(self, start: float, end: float) -> dict[int, float]:
        window = [mb for t, mb in self.rss if start <= t <= end]
        pids = set.intersection(*(set(mb) for mb in window)) if window else set()
        return {pid: statistics.median(mb[pid] for mb in window) for pid in sorted(pids)}

    def window_s(self) -> float:
        return max(1.0, min(5.0, float(self.load["duration_s"]) / 4))

    def rss_after_warmup(self) -> dict[int, float]:
        return self._median_rss(self.warmup_s, self.warmup_s + self.window_s())

    def rss_at_end(self) -> dict[int, float]:
        end = self.warmup_s + float(self.load["duration_s"])
        return self._median_rss(end - self.window_s(), end)

    def growth(self) -> dict[int, float]:
        """Per worker present at both ends: RSS growth after warm-up, as a fraction."""
        start, end = self.rss_after_warmup(), self.rss_at_end()
        return {pid: end[pid] / start[pid] - 1 for pid in start if pid in end}

    def passed(self) -> bool:
        growth = self.growth()
        return (
            self.load["errors"] == 0
            and bool(growth)
            and all(value < MAX_GROWTH for value in growth.values())
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "warmup_s": self.warmup_s,
            "load": self.load,
            "rss_after_warmup_mb": self.rss_after_warmup(),
            "rss_at_end_mb": self.rss_at_end(),
            "growth": self.growth(),
            "passed": self.passed(),
            "rss_samples": self.rss,
        }


def soak(
    port: int,
    appcode: str,
    body: Path,
    pids: Callable[[], list[int]],
    *,
    rate: float,
    duration: float,
    warmup: float,
    concurrency: int = 8,
    sample_s: float = 1.0,
) -> SoakResult:
    """Drives the server at ``rate`` requests/s and samples the RSS of ``pids()`` meanwhile."""
    command = loadgen_command(
        port, body, concurrency=concurrency, duration=duration, warmup=warmup,
        appcode=appcode, rate=rate, timeout=30.0,
    )  # fmt: skip
    samples: list[tuple[float, dict[int, float]]] = []
    done = threading.Event()
    started = time.perf_counter()

    def sample() -> None:
        while not done.wait(sample_s):
            reading = {}
            for pid in pids():
                try:
                    reading[pid] = round(status_kb(pid, "VmRSS") / 1024, 1)
                except OSError:
                    continue  # a worker that has just exited
            samples.append((round(time.perf_counter() - started, 2), reading))

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        load = LoadRun.start(command).result(timeout=warmup + duration + 120)
    finally:
        done.set()
        sampler.join()
    return SoakResult(rate, warmup, load, samples)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds counted")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before counting")
    parser.add_argument("--load", type=float, default=0.8, help="fraction of measured capacity")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8, help="connections")
    parser.add_argument("--image", default="jpeg_640x480", help="one of bench/images.py")
    parser.add_argument("--sample", type=float, default=1.0, help="seconds between RSS reads")
    parser.add_argument("--out", type=Path, default=Path("out/soak/report.json"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    image = suite_images()[args.image]
    env = {"FACELIVE_LOG_LEVEL": "warning", "FACELIVE_RATE_LIMIT_RPS": "0"}
    with tempfile.TemporaryDirectory(prefix="facelive-soak-") as tmp:
        body = Path(tmp) / "body.json"
        body.write_bytes(b'{"image_base64":"' + base64.b64encode(image.data) + b'"}')
        server = Server(Path(tmp) / "server", env, workers=args.workers).start()
        try:
            appcode = server.credentials["APPCODE"]
            capacity = measure_capacity(server.port, appcode, body, args.concurrency)
            rate = args.load * capacity
            print(f"capacity {capacity:.1f} req/s; soaking at {rate:.1f} req/s", flush=True)
            result = soak(
                server.port, appcode, body, server.worker_pids, rate=rate,
                duration=args.duration, warmup=args.warmup,
                concurrency=args.concurrency, sample_s=args.sample,
            )  # fmt: skip
        finally:
            server.stop()
    report: dict[str, Any] = {
        "command": "python -m bench.soak " + " ".join(argv or sys.argv[1:]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "image": args.image,
        "workers": args.workers,
        "capacity_rps": capacity,
        **result.to_json(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    load = result.load
    print(
        f"{load['requests']} requests in {load['duration_s']:g} s ({load['throughput_rps']:.1f}"
        f" req/s), errors {load['errors']}, p50 {load['p50_ms']:.1f} ms, "
        f"p99 {load['p99_ms']:.1f} ms"
    )
    start, end = result.rss_after_warmup(), result.rss_at_end()
    for pid, growth in result.growth().items():
        print(f"worker {pid}: RSS {start[pid]:.1f} -> {end[pid]:.1f} MiB ({growth:+.1%})")
    print(f"{'passed' if result.passed() else 'FAILED'}; report: {args.out}")
    return 0 if result.passed() else 1


if __name__ == "__main__":
    sys.exit(main())
