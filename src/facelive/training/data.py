"""Training data: every labelled image cropped exactly as inference crops it, then cached.

Each image is decoded, its largest face found by the same detector, its box mapped to the
training geometry, and one 80x80 BGR patch cut per liveness model (2.7x and 4.0x). Images
without a face are skipped (and counted). The cache is one ``.npz`` per manifest.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facelive.errors import FaceliveError
from facelive.pipeline.checker import LivenessChecker
from facelive.pipeline.decode import decode_image
from facelive.pipeline.detect import largest_face


@dataclass(frozen=True, slots=True)
class PatchSet:
    """``patches[m]`` is (N, 80, 80, 3) uint8 BGR for liveness model ``m``; ``live`` (N,)."""

    patches: tuple[npt.NDArray[np.uint8], ...]
    live: npt.NDArray[np.bool_]
    source: npt.NDArray[np.str_]
    origin: npt.NDArray[np.str_]
    cropped: npt.NDArray[np.str_]
    files: npt.NDArray[np.str_]

    def subset(self, mask: npt.NDArray[np.bool_]) -> PatchSet:
        return PatchSet(
            tuple(p[mask] for p in self.patches),
            self.live[mask],
            self.source[mask],
            self.origin[mask],
            self.cropped[mask],
            self.files[mask],
        )

    def __len__(self) -> int:
        return int(self.live.size)


def build_patches(
    manifest: Path, checker: LivenessChecker, on_row: Callable[[], object] | None = None
) -> tuple[PatchSet, int]:
    """Patches for every row of ``manifest`` with a face; also the count of skipped rows."""
    per_model: list[list[npt.NDArray[np.uint8]]] = [[] for _ in checker.models]
    live, source, origin, cropped, files = [], [], [], [], []
    skipped = 0
    with manifest.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if on_row is not None:
                on_row()
            try:
                image = decode_image((manifest.parent / row["file"]).read_bytes(), checker.limits)
            except FaceliveError:
                skipped += 1
                continue
            faces = checker.detector.detect(image.pixels)
            if not faces:
                skipped += 1
                continue
            patches = checker.crop_patches(image.pixels, largest_face(faces).box)
            for store, patch in zip(per_model, patches, strict=True):
                store.append(patch)
            live.append(row["label"] == "live")
            source.append(row.get("source_repo", ""))
            origin.append(row.get("origin_dataset", ""))
            cropped.append(row.get("cropped", ""))
            files.append(row["file"])
    stacked = tuple(np.stack(p).astype(np.uint8) for p in per_model)
    return (
        PatchSet(
            stacked,
            np.array(live, bool),
            np.array(source, str),
            np.array(origin, str),
            np.array(cropped, str),
            np.array(files, str),
        ),
        skipped,
    )


def save(patch_set: PatchSet, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {f"patches_{i}": p for i, p in enumerate(patch_set.patches)}
    arrays.update(
        live=patch_set.live,
        source=patch_set.source,
        origin=patch_set.origin,
        cropped=patch_set.cropped,
        files=patch_set.files,
    )
    np.savez(path, **arrays)


def load(path: Path) -> PatchSet:
    with np.load(path) as data:
        count = sum(1 for k in data.files if k.startswith("patches_"))
        return PatchSet(
            tuple(data[f"patches_{i}"] for i in range(count)),
            data["live"],
            data["source"],
            data["origin"],
            data["cropped"],
            data["files"],
        )
