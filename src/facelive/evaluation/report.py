"""Turning scored images into the figures of ``facelive eval``: JSON, CSV and text tables."""

from __future__ import annotations

import csv
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from facelive.evaluation.metrics import OperatingPoint, operating_point, threshold_free
from facelive.evaluation.runner import ScoredImage, arrays

SWEEP = (0.5, 0.6, 0.7, 0.8, 0.9)
SCORE_COLUMNS = (
    "file",
    "label",
    "attack",
    "cropped",
    "source_repo",
    "score",
    "raw_score",
    "face_share",
    "code",
    "faces",
    "quality",
)


def _clean(value: Any) -> Any:
    """NaN and infinities become None, so the JSON is strict."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def figures(scored: list[ScoredImage], thresh: float) -> dict[str, Any]:
    """Every figure of the report for one subset of images."""
    scores, live, attacks = arrays(scored)
    not_acquired = ~np.isfinite(scores)
    point = operating_point(scores, live, attacks, thresh)
    cleaned: dict[str, Any] = _clean(
        {
            "images": len(scored),
            "live": int(live.sum()),
            "attacks": int((~live).sum()),
            "failure_to_acquire": {
                "rate": float(not_acquired.mean()) if scored else math.nan,
                "live": int((not_acquired & live).sum()),
                "attacks": int((not_acquired & ~live).sum()),
            },
            "at_thresh": asdict(point),
            "threshold_free": asdict(threshold_free(scores, live)),
            "sweep": [
                {"thresh": t, **_brief(operating_point(scores, live, attacks, t))} for t in SWEEP
            ],
        }
    )
    return cleaned


def _brief(point: OperatingPoint) -> dict[str, float]:
    return {"bpcer": point.bpcer, "apcer": point.apcer, "acer": point.acer}


def report(scored: list[ScoredImage], thresh: float) -> dict[str, Any]:
    """All images, then whole frames and crops apart when the manifest says which is which."""
    out: dict[str, Any] = {"thresh": thresh, "all": figures(scored, thresh)}
    for name, flag in (("whole_frames", "no"), ("crops", "yes")):
        subset = [s for s in scored if s.row.cropped == flag]
        if subset:
            out[name] = figures(subset, thresh)
    return out


def write_scores_csv(scored: list[ScoredImage], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(SCORE_COLUMNS)
        for s in scored:
            writer.writerow(
                [
                    s.row.file,
                    "live" if s.row.live else "spoof",
                    s.row.attack,
                    s.row.cropped,
                    s.row.source,
                    f"{s.score:.6f}" if math.isfinite(s.score) else "",
                    f"{s.raw_score:.6f}" if math.isfinite(s.raw_score) else "",
                    f"{s.face_share:.4f}" if math.isfinite(s.face_share) else "",
                    s.code,
                    s.faces,
                    ",".join(s.quality),
                ]
            )


def _pct(value: float | None) -> str:
    return "   -  " if value is None else f"{100 * value:5.1f}%"


def render_text(rep: dict[str, Any]) -> str:
    """The human-readable tables printed by ``facelive eval``."""
    lines: list[str] = []
    for name in ("all", "whole_frames", "crops"):
        if name not in rep:
            continue
        fig = rep[name]
        point, free, fta = fig["at_thresh"], fig["threshold_free"], fig["failure_to_acquire"]
        lines += [
            f"== {name.replace('_', ' ')}: {fig['images']} images "
            f"({fig['live']} live, {fig['attacks']} attacks), thresh {rep['thresh']}",
            f"  BPCER {_pct(point['bpcer'])}   APCER (all attacks) {_pct(point['apcer'])}   "
            f"worst APCER {_pct(point['worst_apcer'])} ({point['worst_attack'] or '-'})   "
            f"ACER {_pct(point['acer'])}",
        ]
        for r in point["attack_rates"]:
            lines.append(f"    APCER {r['attack']:<10} {_pct(r['apcer'])}  (n={r['count']})")
        for r in point["rare_attack_rates"]:
            lines.append(
                f"    APCER {r['attack']:<10} {_pct(r['apcer'])}  (n={r['count']}, too few)"
            )
        lines += [
            f"  AUC {free['auc'] if free['auc'] is not None else float('nan'):.4f}   "
            f"EER {_pct(free['eer'])}   BPCER@APCER=5% {_pct(free['bpcer_at_apcer_5'])}   "
            f"APCER@BPCER=5% {_pct(free['apcer_at_bpcer_5'])}",
            f"  failure to acquire (no face or unreadable) {_pct(fta['rate'])}: "
            f"{fta['live']} live, {fta['attacks']} attacks (counted as rejected)",
            "  thresh   BPCER   APCER   ACER",
        ]
        for row in fig["sweep"]:
            rates = " ".join(_pct(row[k]) for k in ("bpcer", "apcer", "acer"))
            lines.append(f"  {row['thresh']:<6} {rates}")
        lines.append("")
    return "\n".join(lines)
