"""The speed work changes no score: the service's checker against a straightforward path.

The straightforward path is ``bench.reference``: ONNX Runtime sessions with default options,
full-resolution ``cv2.imdecode``, the same detector decoding, crops and models. On every
fas-dev image both must find the same face and fuse scores within 1e-3 of each other. The
opt-in reduced JPEG decoding is not held to this (it moves scores; docs/performance.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.reference import ReferenceChecker
from facelive.errors import NoFaceError
from facelive.pipeline.checker import LivenessChecker
from facelive.settings import Settings

TOLERANCE = 1e-3


@pytest.mark.timeout(1200)  # two full pipelines over 1,438 images on a busy 2-core machine
def test_optimised_checker_matches_the_straightforward_path(
    settings: Settings, checker: LivenessChecker, fas_dev: Path, fas_dev_rows: list[dict[str, str]]
) -> None:
    assert checker.decode_min_side == 0  # reduced decoding is opt-in
    reference = ReferenceChecker(settings)
    worst, compared, no_face = (0.0, ""), 0, 0
    for row in fas_dev_rows:
        data = (fas_dev / row["file"]).read_bytes()
        try:
            ours = checker.check(data).raw_score
        except NoFaceError:
            no_face += 1
            continue
        theirs, _ = reference.check(data)
        worst = max(worst, (abs(ours - theirs), row["file"]))
        compared += 1
    assert compared >= 1400 and no_face <= 20
    assert worst[0] <= TOLERANCE, f"largest difference {worst[0]:.2e} on {worst[1]}"
