"""In-process timings: each stage of ``LivenessChecker.check`` on each image, and the same
images through the reference implementation for the speed-up."""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import asdict, dataclass
from time import perf_counter

from bench.images import BenchImage
from bench.reference import ReferenceChecker
from facelive.errors import NoFaceError
from facelive.pipeline.checker import LivenessChecker
from facelive.pipeline.decode import jpeg_reduction, probe
from facelive.settings import Settings
from facelive.types import CheckResult

STAGES = ("decode_ms", "detect_ms", "crop_ms", "models_ms", "total_ms")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of a non-empty list."""
    ordered = sorted(values)
    rank = math.ceil(len(ordered) * q / 100)
    return ordered[min(len(ordered), max(1, rank)) - 1]


@dataclass(frozen=True, slots=True)
class StageRow:
    """Medians and 90th percentiles in milliseconds over ``runs`` checks of one image.
    Stages are absent (None) for the no-face image, which ends in NoFaceError after detect."""

    profile: str
    image: str
    runs: int
    score: float | None
    median: dict[str, float | None]
    p90: dict[str, float | None]
    reference_median_ms: float | None = None
    reference_score: float | None = None
    # Whether facelive decoded every pixel, as the reference always does; only then must the
    # two scores agree within 1e-3 (a reduced JPEG decode changes the pixels the models see).
    full_decode: bool = True

    @property
    def speedup(self) -> float | None:
        total = self.median["total_ms"]
        if self.reference_median_ms is None or not total:
            return None
        return self.reference_median_ms / total

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "speedup": self.speedup}


def time_checker(
    checker: LivenessChecker, profile: str, image: BenchImage, runs: int, warmup: int = 2
) -> StageRow:
    for _ in range(warmup):
        _check(checker, image)
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    score = None
    for _ in range(runs):
        start = perf_counter()
        result = _check(checker, image)
        wall = (perf_counter() - start) * 1000.0
        if result is None:
            samples["total_ms"].append(wall)
            continue
        score = result.raw_score
        for stage in STAGES:
            samples[stage].append(getattr(result.times, stage))
    median = {s: statistics.median(v) if v else None for s, v in samples.items()}
    p90 = {s: percentile(v, 90) if v else None for s, v in samples.items()}
    return StageRow(
        profile, image.name, runs, score, median, p90, full_decode=_decodes_fully(checker, image)
    )


def _decodes_fully(checker: LivenessChecker, image: BenchImage) -> bool:
    header = probe(image.data, checker.limits)
    return jpeg_reduction(header, checker.decode_min_side) == 1


def _check(checker: LivenessChecker, image: BenchImage) -> CheckResult | None:
    try:
        return checker.check(image.data)
    except NoFaceError:
        if image.face:
            raise
        return None


def time_reference(
    reference: ReferenceChecker, row: StageRow, image: BenchImage, runs: int, warmup: int = 2
) -> StageRow:
    """``row`` with the reference's median total and score for the same image."""
    if not image.face:
        return row
    for _ in range(warmup):
        reference.check(image.data)
    totals, score = [], 0.0
    for _ in range(runs):
        score, ms = reference.check(image.data)
        totals.append(ms)
    return dataclasses.replace(
        row,
        reference_median_ms=statistics.median(totals),
        reference_score=score,
    )


def run_inprocess(
    settings: Settings,
    profile: str,
    images: dict[str, BenchImage],
    runs: int,
    reference: bool = True,
) -> list[StageRow]:
    """One checker for ``profile`` on one thread, ONNX Runtime's and OpenCV's (the figure the
    targets are stated for), every image ``runs`` times, then the reference on the same images."""
    profile_settings = settings.model_copy(update={"model_profile": profile, "threads": 1})
    checker = LivenessChecker.from_settings(profile_settings)
    rows = [time_checker(checker, profile, image, runs) for image in images.values()]
    if reference:
        ref = ReferenceChecker(profile_settings)
        rows = [
            time_reference(ref, row, image, runs)
            for row, image in zip(rows, images.values(), strict=True)
        ]
    return rows
