"""Augmentations imitating what breaks liveness models in the field, on 80x80 BGR patches.

Low-resolution webcams (down- then up-scaling), JPEG recompression, blur, sensor noise,
brightness/contrast/gamma and colour shifts, small rotations, shifts and zooms (tighter and
looser face boxes), and horizontal flips. Every choice comes from the given generator, so a
fixed seed gives the same training run.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt


def augment_patch(patch: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    size = patch.shape[0]
    out: np.ndarray[Any, Any] = patch
    if rng.random() < 0.5:
        out = out[:, ::-1]
    if rng.random() < 0.6:  # rotation, zoom (box tighter or looser) and shift
        angle = rng.uniform(-12, 12)
        zoom = rng.uniform(0.85, 1.2)
        m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, zoom)
        m[:, 2] += rng.uniform(-0.06, 0.06, 2) * size
        out = cv2.warpAffine(
            np.ascontiguousarray(out), m, (size, size), borderMode=cv2.BORDER_REFLECT_101
        )
    if rng.random() < 0.3:  # a low-resolution camera
        small = int(rng.integers(24, 56))
        out = cv2.resize(
            cv2.resize(np.ascontiguousarray(out), (small, small), interpolation=cv2.INTER_AREA),
            (size, size),
        )
    if rng.random() < 0.2:
        out = cv2.GaussianBlur(np.ascontiguousarray(out), (0, 0), rng.uniform(0.4, 1.3))
    work: np.ndarray[Any, Any] = np.ascontiguousarray(out).astype(np.float32)
    if rng.random() < 0.8:  # brightness, contrast, per-channel colour shift, gamma
        work = work * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
        work = work * rng.uniform(0.92, 1.08, 3)[None, None, :]
        work = np.clip(work, 0, 255)
        work = 255.0 * (work / 255.0) ** rng.uniform(0.75, 1.35)
    if rng.random() < 0.25:
        work = work + rng.normal(0, rng.uniform(2, 8), work.shape)
    out = np.clip(work, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:  # recompression
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 95))])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            out = np.asarray(decoded)
    return np.asarray(out, np.uint8)
