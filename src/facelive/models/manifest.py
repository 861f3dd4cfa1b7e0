"""The model manifest (``manifest.json``, shipped in the package) as typed values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from facelive.models.calibration import Calibration

RUNTIMES = ("onnxruntime", "opencv")


@dataclass(frozen=True, slots=True)
class InputSpec:
    """What a model's input tensor expects; -1 marks a dynamic dimension."""

    name: str
    shape: tuple[int, ...]
    layout: str
    colour: str
    range: str
    pad_multiple: int = 1
    divisor: float = 1.0  # pixel values are divided by this before the model sees them


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
    # "shifted": upstream Silent-Face window on the training-geometry box (MiniFASNet);
    # "square_reflect": a square of crop_scale * the detector box's longer side, padded by
    # reflection (facenox).
    crop: str = "shifted"
    # Optional models are off unless FACELIVE_EXTRA_MODELS names them.
    optional: bool = False
    # False when the weights' training data forbids commercial use.
    commercial_use: bool = True
    # Shipped inside the package (models/weights/), trained by facelive itself: never downloaded.
    packaged: bool = False
    # "tight": the model judges only tight crops (the face fills the picture), where there is
    # no context to see and a close view of the face does better; "any": every face.
    framing: str = "any"
    # What runs the model: "onnxruntime", or "opencv" (OpenCV's DNN engine) where it was
    # measured faster with the same outputs (facelive.models.opencv_net).
    runtime: str = "onnxruntime"

    def __post_init__(self) -> None:
        if self.framing not in ("any", "tight"):
            raise ValueError(f"{self.name}: framing must be 'any' or 'tight', not {self.framing!r}")
        if self.runtime not in RUNTIMES:
            raise ValueError(
                f"{self.name}: runtime must be one of {RUNTIMES}, not {self.runtime!r}"
            )

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
    profiles: dict[str, tuple[ModelSpec, ...]]
    default_profile: str
    box_mapping: BoxMapping
    calibrations: dict[str, Calibration]
    # A face is a tight crop when its box covers at least this share of the picture's width
    # or height; it then gets the tight-crop calibration.
    tight_face_share: float = 0.8

    @property
    def liveness(self) -> tuple[ModelSpec, ...]:
        """The liveness models of the default profile."""
        return self.profiles[self.default_profile]

    def liveness_for(self, profile: str = "default", extra: str = "") -> tuple[ModelSpec, ...]:
        """The liveness models a pipeline runs: ``profile``'s, then the opt-in ``extra`` ones.

        ValueError names the known profiles when ``profile`` is not one of them.
        """
        name = self.default_profile if profile in ("", "default") else profile
        if name not in self.profiles:
            known = ", ".join(["default", *self.profiles])
            raise ValueError(f"unknown model profile {profile!r} (known: {known})")
        return self.profiles[name] + self.optional_models(extra)

    def calibration_for(self, names: tuple[str, ...]) -> Calibration | None:
        """The calibration fitted for exactly this set of liveness models, if any."""
        return self.calibrations.get(calibration_key(names))

    @property
    def calibration(self) -> Calibration:
        """The calibration of the default liveness models (always present)."""
        found = self.calibration_for(tuple(m.name for m in self.liveness))
        if found is None:
            raise KeyError("the manifest has no calibration for its default models")
        return found

    def optional_models(self, names: str) -> tuple[ModelSpec, ...]:
        """The opt-in models named in ``names`` (comma-separated); ValueError for others."""
        chosen: list[ModelSpec] = []
        for name in (n.strip() for n in names.split(",") if n.strip()):
            spec = self.get(name)
            if not spec.optional:
                raise ValueError(f"{name} is not an optional model")
            chosen.append(spec)
        return tuple(chosen)

    def in_use(self, profile: str = "default", extra: str = "") -> tuple[ModelSpec, ...]:
        """The files a pipeline needs: the detector and ``liveness_for(profile, extra)``."""
        return (self.detector, *self.liveness_for(profile, extra))

    def get(self, name: str) -> ModelSpec:
        for spec in self.models:
            if spec.name == name:
                return spec
        raise ValueError(f"no model named {name!r} in the manifest")


def calibration_key(names: tuple[str, ...]) -> str:
    return "+".join(names)


def _model_spec(raw: dict[str, Any]) -> ModelSpec:
    fields = dict(raw)
    inp = dict(fields.pop("input"))
    inp["shape"] = tuple(inp["shape"])
    return ModelSpec(input=InputSpec(**inp), **fields)


def _calibration(raw: dict[str, Any]) -> Calibration:
    tight = raw.get("tight")
    return Calibration(
        tuple(raw["raw"]),
        tuple(raw["calibrated"]),
        None if tight is None else Calibration(tuple(tight["raw"]), tuple(tight["calibrated"])),
    )


def parse_manifest(raw: dict[str, Any]) -> Manifest:
    models = tuple(_model_spec(m) for m in raw["models"])
    by_name = {m.name: m for m in models}
    mapping = {k: v for k, v in raw["box_mapping"].items() if k != "about"}
    profiles = {
        key: tuple(by_name[name] for name in names)
        for key, names in raw["profiles"].items()
        if key not in ("about", "default")
    }
    return Manifest(
        models=models,
        detector=by_name[raw["detector"]],
        profiles=profiles,
        default_profile=raw["profiles"]["default"],
        box_mapping=BoxMapping(**mapping),
        calibrations={
            key: _calibration(value) for key, value in raw["calibrations"].items() if key != "about"
        },
        tight_face_share=float(raw["tight_face_share"]["min_share"]),
    )


@cache
def load_manifest() -> Manifest:
    text = resources.files("facelive.models").joinpath("manifest.json").read_text("utf-8")
    return parse_manifest(json.loads(text))
