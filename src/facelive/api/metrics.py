"""Prometheus metrics: requests by code, request latency, and time per pipeline stage."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from facelive.types import StageTimes

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """One registry per app, so tests and several apps in one process do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "facelive_requests",
            "Liveness requests by response code.",
            ["code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "facelive_request_seconds",
            "Wall time of liveness requests, from first byte to response.",
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "facelive_stage_seconds",
            "Time spent in each pipeline stage of a liveness check.",
            ["stage"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

    def observe(self, code: int, seconds: float, times: StageTimes | None) -> None:
        self.requests.labels(code=str(code)).inc()
        self.latency.observe(seconds)
        if times is not None:
            for stage in ("decode", "detect", "crop", "models"):
                self.stages.labels(stage=stage).observe(getattr(times, f"{stage}_ms") / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)
