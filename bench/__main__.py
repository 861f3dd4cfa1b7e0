"""``python -m bench [--quick] [--out FILE]``: every benchmark, tables on stdout, one JSON report.

Reads the models from ``FACELIVE_MODEL_DIR`` (else the usual store) and the source image
from ``FACELIVE_SHARED_DATA`` (else ``../shared/data``). Run it from the repository root.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.images import BenchImage, suite_images
from bench.inprocess import STAGES, StageRow, run_inprocess
from bench.report import print_http, print_stages, print_targets, targets
from bench.server import Server
from facelive.api.memory import return_freed_memory
from facelive.settings import Settings

HTTP_IMAGES = ("jpeg_640x480", "phone_4032x3024")
CONCURRENCY = (1, 4, 8, 32)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--out", type=Path, default=Path("out/bench/report.json"))
    parser.add_argument("--runs", type=int, default=60, help="in-process checks per image")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per HTTP run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before counting")
    parser.add_argument("--workers", type=int, default=None, help="default: serve's default")
    parser.add_argument("--profiles", default="default,upstream", help="comma-separated")
    parser.add_argument("--no-http", action="store_true", help="in-process figures only")
    return parser


def _inprocess(
    settings: Settings, args: argparse.Namespace, images: dict[str, BenchImage]
) -> list[StageRow]:
    rows: list[StageRow] = []
    for profile in args.profiles.split(","):
        rows += run_inprocess(settings, profile, images, args.runs)
    # The large JPEGs again with every pixel decoded (FACELIVE_REDUCED_DECODE=0), as the
    # reference decodes them: what reduced decoding saves, and the scores that must agree.
    first = args.profiles.split(",")[0]
    large = {k: v for k, v in images.items() if k in ("jpeg_1280x720", "phone_4032x3024")}
    full = settings.model_copy(update={"reduced_decode": False})
    reference = {(r.profile, r.image): r for r in rows}
    for row in run_inprocess(full, first, large, args.runs, reference=False):
        ref = reference[(first, row.image)]
        rows.append(
            dataclasses.replace(
                row,
                profile=first + "+full_decode",
                reference_median_ms=ref.reference_median_ms,
                reference_score=ref.reference_score,
            )
        )
    return rows


def _http(args: argparse.Namespace, images: dict[str, BenchImage], work: Path) -> dict[str, Any]:
    """One ``facelive serve`` per model profile (the first only with ``--quick``)."""
    servers: list[dict[str, Any]] = []
    runs: list[dict[str, object]] = []
    profiles = args.profiles.split(",")
    for profile in profiles[:1] if args.quick else profiles:
        server, profile_runs = _http_profile(args, images, work, profile)
        servers.append(server)
        runs += profile_runs
    return {"servers": servers, "runs": runs}


def _http_profile(
    args: argparse.Namespace, images: dict[str, BenchImage], work: Path, profile: str
) -> tuple[dict[str, Any], list[dict[str, object]]]:
    env = {
        "FACELIVE_LOG_LEVEL": "warning",
        "FACELIVE_RATE_LIMIT_RPS": "0",
        "FACELIVE_MODEL_PROFILE": profile,
    }
    server = Server(work / f"server-{profile}", env, workers=args.workers).start()
    runs: list[dict[str, object]] = []
    peak_after: dict[str, list[float]] = {}
    try:
        stamp = 0
        names = HTTP_IMAGES[:1] if args.quick else HTTP_IMAGES
        levels = (4,) if args.quick else CONCURRENCY
        for name in names:
            body = work / f"{name}.json"
            encoded = __import__("base64").b64encode(images[name].data)
            body.write_bytes(b'{"image_base64":"' + encoded + b'"}')
            for signed in (False, True):
                for concurrency in levels:
                    result = server.load(
                        body, concurrency, args.duration, args.warmup, signed, stamp
                    )
                    stamp = int(result["last_stamp"] or stamp)  # type: ignore[call-overload]
                    runs.append({"profile": profile, "image": name, **result})
            if name == HTTP_IMAGES[0]:
                # A new connection per request, as the contract's simple clients open one.
                concurrency = levels[-1] if args.quick else 8
                result = server.load(
                    body, concurrency, args.duration, args.warmup, False, new_connections=True
                )
                runs.append({"profile": profile, "image": name, **result})
            # Peak resident memory so far: after the small image's runs, then after all.
            peak_after[name] = server.peak_rss_mb()
        workers = len(server.worker_pids())
    finally:
        server.stop()
    summary = {
        "profile": profile,
        "workers": workers,
        "ready_s": server.ready_s,
        "peak_rss_mb": peak_after[names[-1]],
        "peak_rss_after_mb": peak_after,
    }
    return summary, runs


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.runs, args.duration, args.warmup = 3, 1.5, 0.5
        args.profiles = args.profiles.split(",")[0]
    # The in-process checks run with the malloc settings every worker runs with.
    return_freed_memory()
    settings = Settings()
    images = suite_images()
    report: dict[str, Any] = {
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "images": {
            k: {"bytes": len(v.data), "width": v.width, "height": v.height}
            for k, v in images.items()
        },
        "stages": list(STAGES),
    }
    rows = _inprocess(settings, args, images)
    report["inprocess"] = [row.to_json() for row in rows]
    print_stages(rows)
    if not args.no_http:
        with tempfile.TemporaryDirectory(prefix="facelive-bench-") as tmp:
            report["http"] = _http(args, images, Path(tmp))
        print_http(report["http"])
    report["targets"] = targets(report)
    print_targets(report["targets"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"\nreport: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
