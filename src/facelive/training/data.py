"""Training data: every labelled image cropped exactly as inference crops it, then cached.

Each image is decoded, its largest face found by the same detector, its box mapped to the
training geometry, and one 80x80 BGR patch cut per liveness model (2.7x and 4.0x). Images
without a face are skipped (and counted). The cache is one ``.npz`` per manifest.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facelive.errors import FaceliveError
from facelive.pipeline.checker import LivenessChecker

CACHE_VERSION = 5  # bump when build_patches changes what it stores


@dataclass(frozen=True, slots=True)
class PatchSet:
    """``patches[m]`` is (N, 80, 80, 3) uint8 BGR for liveness model ``m``; ``live`` (N,)."""

    patches: tuple[npt.NDArray[np.uint8], ...]
    live: npt.NDArray[np.bool_]
    attack: npt.NDArray[np.str_]
    source: npt.NDArray[np.str_]
    origin: npt.NDArray[np.str_]
    cropped: npt.NDArray[np.str_]
    files: npt.NDArray[np.str_]
    face_share: npt.NDArray[np.float64]  # Box.share_of: near 1 when the face fills the picture

    def subset(self, mask: npt.NDArray[np.bool_]) -> PatchSet:
        return PatchSet(
            tuple(p[mask] for p in self.patches),
            self.live[mask],
            self.attack[mask],
            self.source[mask],
            self.origin[mask],
            self.cropped[mask],
            self.files[mask],
            self.face_share[mask],
        )

    def __len__(self) -> int:
        return int(self.live.size)

    @property
    def whole_frame(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.cropped == "no")

    @staticmethod
    def concat(sets: list[PatchSet]) -> PatchSet:
        return PatchSet(
            tuple(np.concatenate(p) for p in zip(*(s.patches for s in sets), strict=True)),
            np.concatenate([s.live for s in sets]),
            np.concatenate([s.attack for s in sets]),
            np.concatenate([s.source for s in sets]),
            np.concatenate([s.origin for s in sets]),
            np.concatenate([s.cropped for s in sets]),
            np.concatenate([s.files for s in sets]),
            np.concatenate([s.face_share for s in sets]),
        )


def build_patches(
    manifest: Path, checker: LivenessChecker, on_row: Callable[[], object] | None = None
) -> tuple[PatchSet, int]:
    """Patches for every row of ``manifest`` with a face; also the count of skipped rows."""
    per_model: list[list[npt.NDArray[np.uint8]]] = [[] for _ in checker.models]
    live, attack, source, origin, cropped, files = [], [], [], [], [], []
    share: list[float] = []
    skipped = 0
    with manifest.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if on_row is not None:
                on_row()
            try:  # decoded, found and cropped exactly as a check does
                found = checker.find_face((manifest.parent / row["file"]).read_bytes())
            except FaceliveError:
                skipped += 1
                continue
            pixels, box = found.image.pixels, found.face.box
            patches = checker.crop_patches(pixels, box)
            share.append(box.share_of(pixels.shape[1], pixels.shape[0]))
            for store, patch in zip(per_model, patches, strict=True):
                store.append(patch)
            live.append(row["label"] == "live")
            attack.append(row.get("attack", ""))
            source.append(row.get("source_repo", ""))
            origin.append(row.get("origin_dataset", ""))
            cropped.append(row.get("cropped", ""))
            files.append(row["file"])
    stacked = tuple(np.stack(p).astype(np.uint8) for p in per_model)
    return (
        PatchSet(
            stacked,
            np.array(live, bool),
            np.array(attack, str),
            np.array(source, str),
            np.array(origin, str),
            np.array(cropped, str),
            np.array(files, str),
            np.array(share, np.float64),
        ),
        skipped,
    )


def save(patch_set: PatchSet, path: Path) -> None:
    """Written to a temporary file and moved into place, so a crash leaves no broken cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {f"patches_{i}": p for i, p in enumerate(patch_set.patches)}
    arrays.update(
        live=patch_set.live,
        attack=patch_set.attack,
        source=patch_set.source,
        origin=patch_set.origin,
        cropped=patch_set.cropped,
        files=patch_set.files,
        face_share=patch_set.face_share,
    )
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def load(path: Path) -> PatchSet:
    with np.load(path) as data:
        count = sum(1 for k in data.files if k.startswith("patches_"))
        return PatchSet(
            tuple(data[f"patches_{i}"] for i in range(count)),
            data["live"],
            data["attack"],
            data["source"],
            data["origin"],
            data["cropped"],
            data["files"],
            data["face_share"],
        )


def cache_key(manifest: Path, checker: LivenessChecker) -> str:
    """Changes when the labelled rows or the way patches are cut change, and only then."""
    digest = hashlib.sha256(manifest.read_bytes())
    # A model's framing decides which models' windows a reduced JPEG decode must keep large.
    crops = [
        (m.name, m.crop_scale, m.spec.crop, m.spec.framing, m.input_size) for m in checker.models
    ]
    detector = checker.detector.config
    decode = checker.decode_min_side
    digest.update(repr((CACHE_VERSION, checker.box_mapping, crops, detector, decode)).encode())
    return digest.hexdigest()[:16]


def cached_patches(
    manifest: Path,
    checker: LivenessChecker,
    cache_dir: Path,
    on_row: Callable[[], object] | None = None,
) -> tuple[PatchSet, Path]:
    """``build_patches`` once per manifest content and crop geometry, then read from disk."""
    path = cache_dir / f"{manifest.parent.name}-{cache_key(manifest, checker)}.npz"
    if path.is_file():
        return load(path), path
    patch_set, _ = build_patches(manifest, checker, on_row)
    save(patch_set, path)
    return patch_set, path
