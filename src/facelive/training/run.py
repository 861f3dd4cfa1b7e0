"""``facelive train CONFIG.toml``: prepare, cross-validate, fit, calibrate, export, report.

Every stage logs its figures to ``OUT_DIR/train.log`` as well as the terminal, and the run
ends with ``OUT_DIR/report.json``: the config, each fold, the pooled out-of-fold figures
(what the models do on sources they never saw), the calibration fitted on those out-of-fold
scores, and each exported file with its sha256.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import torch
from tqdm import tqdm

from facelive.evaluation.calibrate import as_json
from facelive.evaluation.calibrate import fit as fit_calibration
from facelive.evaluation.metrics import operating_point, threshold_free
from facelive.models.calibration import Calibration
from facelive.models.manifest import Manifest, ModelSpec, calibration_key, load_manifest
from facelive.models.store import ModelStore
from facelive.pipeline.checker import LivenessChecker
from facelive.pipeline.verdict import DEFAULT_THRESH
from facelive.settings import Settings
from facelive.training.base_graph import in_training_conventions
from facelive.training.config import ModelToTrain, RunConfig
from facelive.training.cross_validate import CrossValidation, cross_validate, fit
from facelive.training.data import PatchSet, cached_patches
from facelive.training.export import ExportedModel, export
from facelive.training.head import EmbeddingMemo


class RunLog:
    """Prints a line and appends it, time-stamped, to the run's log file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._start = time.perf_counter()

    def __call__(self, line: str) -> None:
        stamped = f"[{time.perf_counter() - self._start:7.1f}s] {line}"
        print(stamped, file=sys.stderr, flush=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(stamped + "\n")


def prepare(
    config: RunConfig, checker: LivenessChecker, log: Callable[[str], object]
) -> tuple[PatchSet, PatchSet | None]:
    """Patches of the evaluated manifests, and of the others (``None`` when there are none)."""
    evaluated: list[PatchSet] = []
    extra: list[PatchSet] = []
    for source in config.data:
        name = source.manifest.parent.name
        with tqdm(desc=f"patches {name}", unit="img", file=sys.stderr, disable=None) as bar:
            patches, path = cached_patches(source.manifest, checker, config.cache_dir, bar.update)
        kept = patches.subset(~np.isin(patches.origin, list(source.exclude_origins)))
        log(
            f"{name}: {len(kept)} patches ({int(kept.live.sum())} live, "
            f"{int(kept.whole_frame.sum())} whole frames; {len(patches) - len(kept)} excluded "
            f"by origin) from {path}"
        )
        (evaluated if source.evaluate else extra).append(kept)
    return PatchSet.concat(evaluated), PatchSet.concat(extra) if extra else None


def figures(
    scores: npt.NDArray[np.float64],
    data: PatchSet,
    calibration: Calibration,
    tight_share: float,
) -> dict[str, Any]:
    """Threshold-free figures, and ISO/IEC 30107-3 rates at the default threshold."""
    tight = data.face_share >= tight_share
    calibrated = np.array(
        [calibration(float(s), bool(t)) for s, t in zip(scores, tight, strict=True)]
    )
    out: dict[str, Any] = {}
    for part, mask in (
        ("all", np.ones(len(data), bool)),
        ("whole_frames", data.whole_frame),
        ("crops", ~data.whole_frame),
    ):
        live = data.live[mask]
        if live.all() or not live.any():
            continue
        free = threshold_free(scores[mask], live)
        point = operating_point(calibrated[mask], live, data.attack[mask], DEFAULT_THRESH)
        out[part] = {
            "rows": int(mask.sum()),
            "auc": _rounded(free.auc),
            "eer": _rounded(free.eer),
            "bpcer": _rounded(point.bpcer),
            "apcer": _rounded(point.apcer),
            # None when no attack type has enough samples for ISO/IEC 30107-3's worst case.
            "worst_apcer": _rounded(point.worst_apcer),
            "acer": _rounded(point.acer),
        }
    return out


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def _summary(label: str, found: dict[str, Any]) -> str:
    return f"{label}: " + "; ".join(
        f"{part} n={f['rows']} AUC {f['auc']} BPCER {f['bpcer']} APCER {f['apcer']} "
        f"ACER {f['acer']}"
        for part, f in found.items()
    )


def report_cv(
    cv: CrossValidation,
    data: PatchSet,
    profile: npt.NDArray[np.float64],
    upstream: npt.NDArray[np.float64],
    upstream_calibration: Calibration,
    log: Callable[[str], object],
    tight_share: float = 0.8,
) -> tuple[Calibration, dict[str, Any]]:
    """Calibration fitted on the out-of-fold ``profile`` scores, and every fold's figures with
    it beside those of the ``upstream`` models as published (both one score per row)."""
    calibration = fit_calibration(
        profile, data.live, data.whole_frame, data.face_share >= tight_share
    )
    folds = []
    for n, fold in enumerate(cv.folds):
        part = data.subset(fold.rows)
        before = figures(upstream[fold.rows], part, upstream_calibration, tight_share)
        after = figures(profile[fold.rows], part, calibration, tight_share)
        log(_summary(f"fold {n + 1} upstream", before))
        log(_summary(f"fold {n + 1} tuned", after))
        folds.append({"held_out": list(fold.held_out), "upstream": before, "tuned": after})
    pooled = {
        "upstream": figures(upstream, data, upstream_calibration, tight_share),
        "tuned": figures(profile, data, calibration, tight_share),
    }
    log(_summary("pooled upstream", pooled["upstream"]))
    log(_summary("pooled tuned", pooled["tuned"]))
    return calibration, {"folds": folds, "pooled": pooled}


def write_out_of_fold(
    path: Path,
    data: PatchSet,
    profile: npt.NDArray[np.float64],
    upstream: npt.NDArray[np.float64],
) -> None:
    """Per-row out-of-fold scores, in the columns ``facelive.evaluation.calibrate`` reads."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "file",
                "label",
                "attack",
                "cropped",
                "source_repo",
                "raw_score",
                "face_share",
                "upstream_raw_score",
            ]
        )
        for i in range(len(data)):
            writer.writerow(
                [
                    data.files[i],
                    "live" if data.live[i] else "spoof",
                    data.attack[i],
                    data.cropped[i],
                    data.source[i],
                    f"{profile[i]:.6f}",
                    f"{data.face_share[i]:.4f}",
                    f"{upstream[i]:.6f}",
                ]
            )


def _base_spec(manifest: Manifest, model: ModelToTrain) -> ModelSpec:
    """The base model's spec, cut at the model's own crop scale and style when it names them,
    and asked about the faces it will judge (its framing): patches are then decoded and cut
    exactly as inference will for it."""
    spec = manifest.get(model.base)
    scale = spec.crop_scale if model.crop_scale is None else model.crop_scale
    crop = spec.crop if model.crop is None else model.crop
    if (scale, crop, model.framing) == (spec.crop_scale, spec.crop, spec.framing):
        return spec
    return dataclasses.replace(
        spec, name=model.name, crop_scale=scale, crop=crop, framing=model.framing
    )


def run(config: RunConfig, settings: Settings | None = None, *, cv: bool = True) -> dict[str, Any]:
    settings = settings or Settings()
    log = RunLog(config.out_dir / "train.log")
    torch.manual_seed(config.train.seed)
    torch.set_num_threads(settings.onnx_threads())
    started = time.perf_counter()
    manifest = load_manifest()
    bases_specs = tuple(_base_spec(manifest, m) for m in config.models)
    # Patches are cut with the geometry of the models being trained, and nothing else.
    # A model set with no fitted calibration (a new crop scale) only cuts patches here.
    names = calibration_key(tuple(s.name for s in bases_specs))
    crop_manifest: Manifest = dataclasses.replace(
        manifest,
        profiles={"training": bases_specs},
        default_profile="training",
        calibrations={names: Calibration.identity(), **manifest.calibrations},
    )
    checker = LivenessChecker.from_settings(
        settings.model_copy(update={"model_profile": "default", "extra_models": ""}),
        crop_manifest,
    )
    store = ModelStore.from_settings(settings)
    # Every base reads BGR 0..255 with live at class 1 from here on, as MiniFASNet does.
    bases = [in_training_conventions(onnx.load(store.path_for(s)), s) for s in bases_specs]
    evaluated, extra = prepare(config, checker, log)
    report: dict[str, Any] = {"config": _jsonable(dataclasses.asdict(config))}
    memo = EmbeddingMemo()  # the frozen bases' embeddings, shared by every fold and the final fit
    if cv:
        published = tuple(config.models[i].base for i in config.published_rows)
        upstream_calibration = manifest.calibration_for(published)
        result = cross_validate(
            evaluated,
            extra,
            bases,
            config.train,
            config.folds,
            log,
            config.recipes,
            memo,
        )
        tight = evaluated.face_share >= manifest.tight_face_share
        profile = result.profile_scores(config.upstream_rows, config.tight_only, tight)
        upstream = result.published_scores(config.published_rows)
        calibration, report["cross_validation"] = report_cv(
            result,
            evaluated,
            profile,
            upstream,
            upstream_calibration or Calibration.identity(),
            log,
            manifest.tight_face_share,
        )
        report["calibration"] = as_json(calibration)
        write_out_of_fold(config.out_dir / "oof_scores.csv", evaluated, profile, upstream)
        # Every model's own out-of-fold live probability, so other fusions of the same run
        # (a model left out, another weighting) can be compared without training again.
        np.savez_compressed(
            config.out_dir / "oof_models.npz",
            files=np.asarray(evaluated.files),
            upstream=result.upstream,
            tuned=result.tuned,
            names=np.asarray([m.name for m in config.models]),
        )
        log(f"calibration from out-of-fold scores: {report['calibration']}")
    everything = PatchSet.concat([evaluated, *([extra] if extra is not None else [])])
    log(f"final fit on {len(everything)} patches")
    modules = fit(bases, everything, config.train, log, config.recipes, memo)
    exported: list[ExportedModel] = []
    for m, target in enumerate(config.models):
        check = evaluated.patches[m][:: max(1, len(evaluated) // 64)]
        exported.append(export(modules[m], bases[m], config.out_dir / f"{target.name}.onnx", check))
        log(
            f"exported {target.name}: {exported[-1].path} sha256 {exported[-1].sha256} "
            f"{exported[-1].size} bytes, ONNX Runtime vs PyTorch {exported[-1].parity:.1e}"
        )
    report["models"] = [
        {
            "name": t.name,
            "base": t.base,
            "crop_scale": s.crop_scale,
            "crop": s.crop,
            "framing": t.framing,
            "method": r.method,
            **({"head_c": r.head_c} if r.method == "head" else {}),
            "file": e.path.name,
            "sha256": e.sha256,
            "size": e.size,
            "parity": e.parity,
        }
        for t, s, e, r in zip(config.models, bases_specs, exported, config.recipes, strict=True)
    ]
    members = [config.models[i].base for i in config.upstream_rows]
    report["profile"] = members + [t.name for t in config.models]
    report["minutes"] = round((time.perf_counter() - started) / 60, 1)
    log(f"done in {report['minutes']} min")
    (config.out_dir / "report.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return report


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
