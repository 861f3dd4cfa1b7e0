"""Face crops for MiniFASNet, reproducing Silent-Face-Anti-Spoofing's ``CropImage`` exactly.

The models were trained on crops ``scale`` times the size of a RetinaFace box, shifted back
inside the image rather than clipped, resized to 80x80 with bilinear interpolation.
"""

from __future__ import annotations

import cv2
import numpy as np

from facelive.models.manifest import BoxMapping
from facelive.types import BGRImage, Box, CropWindow


def to_training_box(box: Box, mapping: BoxMapping) -> Box:
    """A detector box re-shaped to the geometry of the boxes the models were trained on."""
    cx, cy = box.center
    cx += mapping.center_dx * box.w
    cy += mapping.center_dy * box.h
    w, h = box.w * mapping.width_scale, box.h * mapping.height_scale
    return Box(cx - w / 2, cy - h / 2, w, h)


def crop_window(width: int, height: int, box: Box, scale: float) -> CropWindow:
    """The window ``scale`` times ``box`` around its centre, shifted (not clipped) inside.

    The scale shrinks when the enlarged box would not fit; inclusive bounds, truncated with
    ``int()`` like upstream. ``width``/``height`` are the image's, in pixels.
    """
    box_w, box_h = max(box.w, 1.0), max(box.h, 1.0)
    s = min(scale, (height - 1) / box_h, (width - 1) / box_w)
    new_w, new_h = box_w * s, box_h * s
    cx, cy = box.x + box_w / 2, box.y + box_h / 2
    x1, y1 = cx - new_w / 2, cy - new_h / 2
    x2, y2 = cx + new_w / 2, cy + new_h / 2
    if x1 < 0:
        x2 -= x1
        x1 = 0
    if y1 < 0:
        y2 -= y1
        y1 = 0
    if x2 > width - 1:
        x1 -= x2 - width + 1
        x2 = width - 1
    if y2 > height - 1:
        y1 -= y2 - height + 1
        y2 = height - 1
    return CropWindow(int(x1), int(y1), int(x2), int(y2))


def crop_patch(image: BGRImage, window: CropWindow, size: int) -> BGRImage:
    """The window's pixels resized to ``size`` x ``size`` (bilinear), still BGR uint8."""
    region = image[window.y1 : window.y2 + 1, window.x1 : window.x2 + 1]
    return np.asarray(cv2.resize(region, (size, size)), dtype=np.uint8)


def square_patch(image: BGRImage, box: Box, scale: float, size: int) -> BGRImage:
    """A square of ``scale`` times the box's longer side around its centre, padded by
    reflection where it leaves the image, resized to ``size`` (area when shrinking, Lanczos
    when enlarging): the crop the facenox model was trained on."""
    side = max(1, round(scale * max(box.w, box.h)))
    cx, cy = box.center
    x1, y1 = round(cx - side / 2), round(cy - side / 2)
    height, width = image.shape[:2]
    pad = max(0, -x1, -y1, x1 + side - width, y1 + side - height)
    region = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT_101) if pad else image
    region = region[y1 + pad : y1 + pad + side, x1 + pad : x1 + pad + side]
    method = cv2.INTER_AREA if side > size else cv2.INTER_LANCZOS4
    return np.asarray(cv2.resize(region, (size, size), interpolation=method), dtype=np.uint8)
