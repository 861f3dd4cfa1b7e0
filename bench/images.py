"""The benchmark's images, made from one fas-dev whole frame so anyone can re-create them.

The source is minivision's own live sample (a 480x640 portrait once its EXIF rotation is
applied); each image letterboxes it into the target size on a grey canvas, so the face fills
about the same share of the frame as in a selfie, and encodes it as a camera would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SOURCE = "fas-dev/images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample/image_T1.jpg"


@dataclass(frozen=True, slots=True)
class BenchImage:
    """``data`` is the encoded file; ``face`` is False for the no-face image (a 4002)."""

    name: str
    data: bytes
    width: int
    height: int
    face: bool = True


def shared_data() -> Path:
    """``FACELIVE_SHARED_DATA``, else ``../shared/data`` beside the repository."""
    value = os.environ.get("FACELIVE_SHARED_DATA")
    path = Path(value) if value else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (path / SOURCE).is_file():
        raise SystemExit(f"bench: {path / SOURCE} not found; set FACELIVE_SHARED_DATA")
    return path


def _letterbox(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    scale = min(width / frame.shape[1], height / frame.shape[0])
    size = (round(frame.shape[1] * scale), round(frame.shape[0] * scale))
    method = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    resized = cv2.resize(frame, size, interpolation=method)
    canvas = np.full((height, width, 3), 118, np.uint8)
    y, x = (height - size[1]) // 2, (width - size[0]) // 2
    canvas[y : y + size[1], x : x + size[0]] = resized
    return canvas


def _encode(pixels: np.ndarray, ext: str) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if ext == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buffer = cv2.imencode(ext, pixels, params)
    if not ok:
        raise RuntimeError(f"cannot encode {ext}")
    return bytes(buffer.tobytes())


def suite_images(data_dir: Path | None = None) -> dict[str, BenchImage]:
    """The six images of the suite, keyed by name, in the order they are reported."""
    frame = cv2.imread(str((data_dir or shared_data()) / SOURCE), cv2.IMREAD_COLOR)
    if frame is None:
        raise RuntimeError(f"cannot read {SOURCE}")
    specs = (
        ("webcam_320x240", 320, 240, ".jpg"),
        ("jpeg_640x480", 640, 480, ".jpg"),
        ("jpeg_1280x720", 1280, 720, ".jpg"),
        ("phone_4032x3024", 4032, 3024, ".jpg"),
        ("png_4000x3000", 4000, 3000, ".png"),
    )
    images = {
        name: BenchImage(name, _encode(_letterbox(frame, w, h), ext), w, h)
        for name, w, h, ext in specs
    }
    # A textured wall with no face: detection runs over the whole frame and finds nothing.
    rng = np.random.default_rng(6)
    wall = cv2.GaussianBlur(rng.integers(60, 200, (480, 640, 3), dtype=np.uint8), (9, 9), 0)
    images["no_face_640x480"] = BenchImage(
        "no_face_640x480", _encode(wall, ".jpg"), 640, 480, False
    )
    return images
