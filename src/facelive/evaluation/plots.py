"""DET curve and score histograms as PNG (matplotlib, from the optional ``eval`` extra)."""

from __future__ import annotations

from pathlib import Path
from statistics import NormalDist

import numpy as np

from facelive.evaluation.metrics import error_curve
from facelive.evaluation.runner import ScoredImage, arrays

_TICKS = (0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.999)


def _probit(rates: np.ndarray) -> np.ndarray:
    """Normal deviates, the axes of a DET plot; rates are clipped away from 0 and 1."""
    inv = NormalDist().inv_cdf
    return np.array([inv(min(max(float(r), 1e-4), 1 - 1e-4)) for r in rates])


def write_plots(scored: list[ScoredImage], thresh: float, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores, live, _ = arrays(scored)
    _, apcer, bpcer = error_curve(scores, live)
    det_path, hist_path = folder / "det.png", folder / "histogram.png"

    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.plot(_probit(apcer), _probit(bpcer), lw=1.5)
    ticks = _probit(np.array(_TICKS))
    labels = [f"{100 * t:g}%" for t in _TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("APCER (attacks accepted)")
    ax.set_ylabel("BPCER (live people rejected)")
    ax.set_title("DET curve")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(det_path, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4))
    bins = [i / 40 for i in range(41)]
    finite = np.isfinite(scores)
    ax.hist(scores[live & finite], bins=bins, alpha=0.6, label="live", color="tab:green")
    ax.hist(scores[~live & finite], bins=bins, alpha=0.6, label="attack", color="tab:red")
    ax.axvline(thresh, color="black", ls="--", lw=1, label=f"thresh {thresh}")
    ax.set_xlabel("liveness_score")
    ax.set_ylabel("images")
    ax.legend()
    fig.tight_layout()
    fig.savefig(hist_path, dpi=120)
    plt.close(fig)
    return [det_path, hist_path]
