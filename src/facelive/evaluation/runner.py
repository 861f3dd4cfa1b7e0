"""Scoring every image of a labelled manifest, one image in memory at a time.

The manifest is a CSV with at least ``file,label,attack`` (the fas-dev format): ``file`` is
relative to the manifest's folder, ``label`` is ``live`` or ``spoof``, ``attack`` names the
attack type (``none`` for live). Optional ``cropped`` (yes/no) and ``source_repo`` columns are
carried through so results can be split by them.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from facelive.envelope import result_code
from facelive.errors import FaceliveError
from facelive.types import CheckResult


class Checker(Protocol):
    def check(self, data: bytes, thresh: float | None = None) -> CheckResult: ...


@dataclass(frozen=True, slots=True)
class ManifestRow:
    file: str
    path: Path
    live: bool
    attack: str
    cropped: str
    source: str


@dataclass(frozen=True, slots=True)
class ScoredImage:
    """One image's outcome. ``score`` is -inf when no face was found (rejected either way)."""

    row: ManifestRow
    score: float
    code: int
    faces: int
    raw_score: float = -math.inf
    quality: tuple[str, ...] = ()
    face_share: float = math.nan  # Box.share_of: near 1 for a tight face crop


def read_manifest(path: Path) -> Iterator[ManifestRow]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"file", "label", "attack"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path} lacks the column(s) {', '.join(sorted(missing))}")
        for raw in reader:
            label = raw["label"].strip().lower()
            if label not in ("live", "spoof"):
                raise ValueError(f"{path}: label must be live or spoof, got {raw['label']!r}")
            yield ManifestRow(
                file=raw["file"],
                path=path.parent / raw["file"],
                live=label == "live",
                attack="none" if label == "live" else (raw["attack"].strip() or "unknown"),
                cropped=(raw.get("cropped") or "").strip(),
                source=(raw.get("source_repo") or "").strip(),
            )


def score_rows(
    rows: Iterator[ManifestRow] | list[ManifestRow],
    checker: Checker,
    on_done: Callable[[ScoredImage], object] | None = None,
) -> list[ScoredImage]:
    """Scores each row; a missing face is -inf, any other error is reported with its code."""
    out = []
    for row in rows:
        try:
            result = checker.check(row.path.read_bytes())
            code = result_code(result)
            scored = ScoredImage(
                row,
                result.liveness_score,
                code,
                result.face_count,
                result.raw_score,
                result.quality,
                result.face.box.share_of(result.image_width, result.image_height),
            )
        except FaceliveError as exc:  # no face, bad image...: not acquired, rejected
            scored = ScoredImage(row, -math.inf, exc.code, 0)
        out.append(scored)
        if on_done is not None:
            on_done(scored)
    return out


def arrays(
    scored: list[ScoredImage],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.str_]]:
    """(scores float64, live bool, attack types str) for the metric functions."""
    scores = np.array([s.score for s in scored], dtype=np.float64)
    live = np.array([s.row.live for s in scored], dtype=bool)
    attacks = np.array([s.row.attack for s in scored], dtype=str)
    return scores, live, attacks
