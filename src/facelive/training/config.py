"""A training run described in TOML (``facelive train CONFIG.toml``), as typed values.

Paths in the file are relative to the file itself, so a config under ``training/`` can name
``../../shared/data/...`` and run from anywhere.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class DataSource:
    """One labelled manifest; ``evaluate`` marks the one whose held-out rows CV reports on."""

    manifest: Path
    evaluate: bool = False
    exclude_origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelToTrain:
    """``base``: the manifest model whose weights and crop it starts from; ``name``: the result.

    ``crop_scale`` replaces the base's crop scale: the same network can learn to judge a
    closer view of the face (more skin and print texture per pixel) than it was trained on.
    ``crop`` replaces the base's crop style (``ModelSpec.crop``): "square_reflect" cuts a
    square on the detector box itself, the face alone, where the upstream "shifted" window
    would slide off-centre at the picture's edge.
    """

    base: str
    name: str
    crop_scale: float | None = None
    # "tight": the profile asks this model only about tight crops (``ModelSpec.framing``).
    framing: str = "any"
    # This model's own ``TrainConfig.interpolation`` (None: the run's). A model trained at
    # another crop scale than its base has no base that knew its view to move back towards.
    interpolation: float | None = None
    # "fine_tune": every layer learns (then WiSE-FT); "head": every layer but the last stays
    # as published and only a new final layer is fitted, a linear probe of the embedding
    # (``facelive.training.head``).
    method: str = "fine_tune"
    crop: str | None = None
    # This model's own ``TrainConfig.head_c`` (None: the run's).
    head_c: float | None = None


CROPS = ("shifted", "square_reflect")


@dataclass(frozen=True, slots=True)
class Recipe:
    """How one model learns, with the run's defaults already applied: ``method``, and the
    WiSE-FT fraction (fine-tuning) or the probe's C ("head") it uses."""

    method: str
    interpolation: float
    head_c: float


@dataclass(frozen=True, slots=True)
class TrainConfig:
    epochs: int = 3
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 1e-4
    seed: int = 7
    live_class: int = 1
    # Sampling weight of each (source, label) group grows with sqrt(size), not size, so one
    # large source cannot teach the model what its camera looks like; live and attack are
    # balanced overall.
    source_balance: str = "sqrt"
    # Whole camera frames are rare in the data and common in production.
    whole_frame_boost: float = 3.0
    # How much of the fine-tuning step to keep: 1.0 keeps the fine-tuned weights; 0.5 lands
    # halfway back to the upstream ones (weight-space ensembling, "WiSE-FT"), which keeps
    # more of what the upstream model knew about cameras absent from the training data, at
    # no cost at inference time.
    interpolation: float = 1.0
    # The "head" method's inverse L2 strength (scikit-learn's C, on standardised embeddings,
    # sample weights of mean 1): chosen by grouped cross-validation (docs/training.md).
    head_c: float = 0.03


@dataclass(frozen=True, slots=True)
class RunConfig:
    data: tuple[DataSource, ...]
    models: tuple[ModelToTrain, ...]
    train: TrainConfig
    folds: int
    out_dir: Path
    cache_dir: Path
    # Score with the upstream models and the fine-tuned ones together (their mean): the
    # fine-tuned ones learn the attacks in the data, the upstream ones keep what they knew
    # about cameras the data lacks.
    with_upstream: bool = False

    @property
    def evaluated(self) -> tuple[DataSource, ...]:
        return tuple(d for d in self.data if d.evaluate)

    @property
    def published_rows(self) -> tuple[int, ...]:
        """Models whose upstream base, scored as published, is the baseline: each base once,
        and only where a model keeps the base's crop and judges every face, as the upstream
        profile does (all models when none does)."""
        first: dict[str, int] = {}
        for i, model in enumerate(self.models):
            if model.crop_scale is None and model.crop is None and model.framing == "any":
                first.setdefault(model.base, i)
        return tuple(first.values()) or tuple(range(len(self.models)))

    @property
    def interpolations(self) -> tuple[float, ...]:
        """Each model's WiSE-FT fraction: its own, else the run's."""
        own = (m.interpolation for m in self.models)
        return tuple(self.train.interpolation if f is None else f for f in own)

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(m.method for m in self.models)

    @property
    def head_cs(self) -> tuple[float, ...]:
        """Each model's probe regularisation: its own, else the run's."""
        return tuple(self.train.head_c if m.head_c is None else m.head_c for m in self.models)

    @property
    def recipes(self) -> tuple[Recipe, ...]:
        return tuple(
            Recipe(method, fraction, c)
            for method, fraction, c in zip(
                self.methods, self.interpolations, self.head_cs, strict=True
            )
        )

    @property
    def tight_only(self) -> tuple[int, ...]:
        return tuple(i for i, m in enumerate(self.models) if m.framing == "tight")

    @property
    def upstream_rows(self) -> tuple[int, ...]:
        """The published bases that join the profile (``with_upstream``)."""
        return self.published_rows if self.with_upstream else ()


def _path(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def parse_config(raw: dict[str, Any], base: Path) -> RunConfig:
    data = tuple(
        DataSource(
            _path(base, d["manifest"]),
            bool(d.get("evaluate", False)),
            tuple(d.get("exclude_origins", ())),
        )
        for d in raw["data"]
    )
    if not any(d.evaluate for d in data):
        raise ValueError("no [[data]] entry has evaluate = true: nothing to cross-validate on")
    models = tuple(
        ModelToTrain(
            m["base"],
            m["name"],
            float(m["crop_scale"]) if "crop_scale" in m else None,
            str(m.get("framing", "any")),
            float(m["interpolation"]) if "interpolation" in m else None,
            str(m.get("method", "fine_tune")),
            str(m["crop"]) if "crop" in m else None,
            float(m["head_c"]) if "head_c" in m else None,
        )
        for m in raw["models"]
    )
    for model in models:
        if model.method not in ("fine_tune", "head"):
            raise ValueError(f"models.method must be 'fine_tune' or 'head', not {model.method!r}")
        if model.method == "head" and model.interpolation is not None:
            raise ValueError("models.interpolation applies to fine-tuning, not to method 'head'")
        if model.head_c is not None and (model.method != "head" or model.head_c <= 0.0):
            raise ValueError("models.head_c must be positive, and only for method 'head'")
        if model.crop is not None and model.crop not in CROPS:
            raise ValueError(f"models.crop must be one of {CROPS}, not {model.crop!r}")
        if model.framing not in ("any", "tight"):
            raise ValueError(f"models.framing must be 'any' or 'tight', not {model.framing!r}")
        if model.interpolation is not None and not 0.0 < model.interpolation <= 1.0:
            raise ValueError("models.interpolation must be in (0, 1]")
    if not models:
        raise ValueError("no [[models]] to train")
    train = TrainConfig(**raw.get("train", {}), seed=int(raw.get("seed", 7)))
    if not 0.0 < train.interpolation <= 1.0:
        raise ValueError("train.interpolation must be in (0, 1]")
    if train.head_c <= 0.0:
        raise ValueError("train.head_c must be positive")
    if train.source_balance not in ("sqrt", "none"):
        raise ValueError(f"source_balance must be 'sqrt' or 'none', not {train.source_balance!r}")
    folds = int(raw.get("cv", {}).get("folds", 3))
    with_upstream = bool(raw.get("profile", {}).get("with_upstream", False))
    if folds < 2:
        raise ValueError("cv.folds must be at least 2")
    if all(m.framing == "tight" for m in models) and not with_upstream:
        raise ValueError("every model has framing 'tight': none would judge camera frames")
    return RunConfig(
        data=data,
        models=models,
        train=train,
        folds=folds,
        out_dir=_path(base, raw.get("out_dir", "runs/latest")),
        cache_dir=_path(base, raw.get("cache_dir", "cache")),
        with_upstream=with_upstream,
    )


def load_config(path: Path) -> RunConfig:
    with path.open("rb") as f:
        return parse_config(tomllib.load(f), path.resolve().parent)
