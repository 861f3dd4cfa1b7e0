"""The model manifest (``manifest.json``, shipped in the package) as typed values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from facelive.models.calibration import Calibration


@dataclass(frozen=True, slots=True)
class InputSpec:
    """What a model's input tensor expects; -1 marks a dynamic dimension."""

    name: str
    shape: tuple[int, ...]
    layout: str
    colour: str
    range: str
    pad_multiple: int = 1


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    role: str
    subdir: str
    file: str
    sha256: str
    size: int
    licence: str
    source: str
    url: str
    input: InputSpec
    output: str
    crop_scale: float | None = None
    live_class: int | None = None

    @property
    def relative_path(self) -> str:
        return f"{self.subdir}/{self.file}"


@dataclass(frozen=True, slots=True)
class BoxMapping:
    """Turns a detector box into the box geometry the liveness models were trained on.

    New size is (w * width_scale, h * height_scale); the centre moves by
    (center_dx * w, center_dy * h), both in units of the detector box.
    """

    width_scale: float
    height_scale: float
    center_dx: float
    center_dy: float


@dataclass(frozen=True, slots=True)
class Manifest:
    models: tuple[ModelSpec, ...]
    detector: ModelSpec
    liveness: tuple[ModelSpec, ...]
    box_mapping: BoxMapping
    calibration: Calibration

    def get(self, name: str) -> ModelSpec:
        for spec in self.models:
            if spec.name == name:
                return spec
        raise KeyError(f"no model named {name!r} in the manifest")


def _model_spec(raw: dict[str, Any]) -> ModelSpec:
    fields = dict(raw)
    inp = dict(fields.pop("input"))
    inp["shape"] = tuple(inp["shape"])
    return ModelSpec(input=InputSpec(**inp), **fields)


def parse_manifest(raw: dict[str, Any]) -> Manifest:
    models = tuple(_model_spec(m) for m in raw["models"])
    by_name = {m.name: m for m in models}
    mapping = {k: v for k, v in raw["box_mapping"].items() if k != "about"}
    return Manifest(
        models=models,
        detector=by_name[raw["detector"]],
        liveness=tuple(by_name[name] for name in raw["liveness"]),
        box_mapping=BoxMapping(**mapping),
        calibration=Calibration(
            tuple(raw["calibration"]["raw"]), tuple(raw["calibration"]["calibrated"])
        ),
    )


@cache
def load_manifest() -> Manifest:
    text = resources.files("facelive.models").joinpath("manifest.json").read_text("utf-8")
    return parse_manifest(json.loads(text))
