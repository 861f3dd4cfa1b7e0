"""Tables for the terminal and the target check for the JSON report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.inprocess import STAGES, StageRow


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _table(headers: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for r in [headers, *rows]:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )


def print_stages(rows: list[StageRow]) -> None:
    print("\nIn-process, one thread (ONNX Runtime and OpenCV): median (p90) ms per stage")
    headers = (
        "profile/image",
        *(s.removesuffix("_ms") for s in STAGES),
        "ref",
        "speed-up",
        "score",
        "ref score",
    )
    table = []
    for row in rows:
        cells = [f"{_ms(row.median[s])} ({_ms(row.p90[s])})" for s in STAGES]
        ref = _ms(row.reference_median_ms)
        speedup = "-" if row.speedup is None else f"{row.speedup:.2f}x"
        score = "-" if row.score is None else f"{row.score:.4f}"
        ref_score = "-" if row.reference_score is None else f"{row.reference_score:.4f}"
        table.append((f"{row.profile}/{row.image}", *cells, ref, speedup, score, ref_score))
    _table(headers, table)


def print_http(http: dict[str, Any]) -> None:
    for server in http["servers"]:
        profile = server["profile"]
        after = ", ".join(f"{mb} after {name}" for name, mb in server["peak_rss_after_mb"].items())
        print(
            f"\nHTTP on loopback, profile {profile}, {server['workers']} worker(s), ready in "
            f"{server['ready_s']:.2f} s, peak RSS per worker (MiB): {after}"
        )
        headers = (
            "image", "auth", "connections", "conc", "req/s", "p50 ms", "p90 ms", "p99 ms",
            "requests", "errors",
        )  # fmt: skip
        table = [
            (
                r["image"], r["auth"], "new each" if r.get("new_connections") else "keep-alive",
                str(r["concurrency"]), f"{r['throughput_rps']:.1f}",
                _ms(r["p50_ms"]), _ms(r["p90_ms"]), _ms(r["p99_ms"]),
                str(r["requests"]), str(r["errors"]),
            )
            for r in http["runs"]
            if r["profile"] == profile
        ]  # fmt: skip
        _table(headers, table)


def _stage(report: dict[str, Any], profile: str, image: str) -> float | None:
    for row in report["inprocess"]:
        if row["profile"] == profile and row["image"] == image:
            value = row["median"]["total_ms"]
            return None if value is None else float(value)
    return None


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 6 with the measured figure and whether it is met (None: not run)."""
    found: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float, most: bool = True) -> None:
        met = None if value is None else (value <= limit if most else value >= limit)
        found.append({"target": name, "limit": limit, "measured": value, "met": met})

    for profile in ("upstream", "default"):
        add(
            f"in-process 640x480 JPEG total ms, {profile}",
            _stage(report, profile, "jpeg_640x480"),
            8,
        )
    for profile in ("default", "upstream", "default+full_decode"):
        add(
            f"in-process 12 MP JPEG total ms, {profile}",
            _stage(report, profile, "phone_4032x3024"),
            40,
        )
    http = report.get("http")
    if http:
        runs = http["runs"]
        for server in http["servers"]:
            profile = server["profile"]

            def pick(image: str, key: str, worst: Any, profile: str = profile) -> float | None:
                values = [
                    float(r[key])
                    for r in runs
                    if r["profile"] == profile
                    and r["image"] == image
                    and r["concurrency"] == 8
                    and not r.get("new_connections")
                    and r[key] is not None
                ]
                return worst(values) if values else None

            add(
                f"HTTP 640x480 req/s at concurrency 8 (worse auth), {profile}",
                pick("jpeg_640x480", "throughput_rps", min),
                150,
                most=False,
            )
            add(
                f"HTTP 640x480 p99 ms at concurrency 8 (worse auth), {profile}",
                pick("jpeg_640x480", "p99_ms", max),
                100,
            )
            add(
                f"HTTP 12 MP req/s at concurrency 8 (worse auth), {profile}",
                pick("phone_4032x3024", "throughput_rps", min),
                15,
                most=False,
            )
            for image, peak in server["peak_rss_after_mb"].items():
                add(f"peak RSS per worker MiB after the {image} runs, {profile}", max(peak), 300)
            add(f"start-up to /readyz s, {profile}", server["ready_s"], 3)
        add("HTTP errors, all runs", float(sum(int(r["errors"]) for r in runs)), 0)
    return found


def print_targets(found: list[dict[str, Any]]) -> None:
    print("\nTargets")
    table = []
    for t in found:
        measured = "-" if t["measured"] is None else f"{t['measured']:.1f}"
        met = {True: "met", False: "NOT met", None: "not run"}[t["met"]]
        table.append((t["target"], f"{t['limit']:g}", measured, met))
    _table(("target", "limit", "measured", ""), table)
