"""Crop geometry: properties over many boxes, plus the exact upstream arithmetic."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from facelive.models.manifest import load_manifest
from facelive.pipeline.crop import crop_patch, crop_window, square_patch, to_training_box
from facelive.types import Box

sides = st.integers(min_value=15, max_value=8192)
scales = st.sampled_from([1.0, 2.7, 4.0]) | st.floats(min_value=0.5, max_value=6.0)


@st.composite
def image_and_box(draw: st.DrawFn) -> tuple[int, int, Box]:
    width, height = draw(sides), draw(sides)
    w = draw(st.floats(min_value=1.0, max_value=width * 1.5))
    h = draw(st.floats(min_value=1.0, max_value=height * 1.5))
    x = draw(st.floats(min_value=-w, max_value=width))
    y = draw(st.floats(min_value=-h, max_value=height))
    return width, height, Box(x, y, w, h)


@given(image_and_box(), scales)
def test_window_stays_inside_the_image(case: tuple[int, int, Box], scale: float) -> None:
    width, height, box = case
    win = crop_window(width, height, box, scale)
    assert 0 <= win.x1 <= win.x2 <= width - 1
    assert 0 <= win.y1 <= win.y2 <= height - 1


@given(image_and_box(), scales)
def test_window_keeps_the_box_centre_when_it_fits(case: tuple[int, int, Box], scale: float) -> None:
    width, height, box = case
    s = min(scale, (height - 1) / box.h, (width - 1) / box.w)
    cx, cy = box.center
    half_w, half_h = box.w * s / 2, box.h * s / 2
    win = crop_window(width, height, box, scale)
    if cx - half_w >= 0 and cx + half_w <= width - 1:
        assert abs((win.x1 + win.x2) / 2 - cx) <= 1.0
        assert abs((win.x2 - win.x1) - 2 * half_w) <= 1.0
    if cy - half_h >= 0 and cy + half_h <= height - 1:
        assert abs((win.y1 + win.y2) / 2 - cy) <= 1.0


@given(image_and_box(), scales)
def test_window_is_shifted_not_clipped(case: tuple[int, int, Box], scale: float) -> None:
    width, height, box = case
    s = min(scale, (height - 1) / box.h, (width - 1) / box.w)
    win = crop_window(width, height, box, scale)
    # Shifting keeps the full enlarged size (up to int() truncation); clipping would not.
    assert abs((win.x2 - win.x1) - box.w * s) <= 1.0
    assert abs((win.y2 - win.y1) - box.h * s) <= 1.0


def test_upstream_arithmetic_near_an_edge() -> None:
    # Box 100x100 at (10, 20) in a 640x480 image, scale 2.7: the 270 px window would start at
    # x = -75, so it is moved right to 0 and keeps its 270 px width.
    win = crop_window(640, 480, Box(10, 20, 100, 100), 2.7)
    assert (win.x1, win.y1, win.x2, win.y2) == (0, 0, 270, 270)


def test_scale_shrinks_when_the_window_cannot_fit() -> None:
    win = crop_window(200, 100, Box(50, 20, 60, 60), 4.0)
    assert (win.y1, win.y2) == (0, 99)  # scale clamped to 99/60


def test_patch_has_the_model_size() -> None:
    img = np.zeros((100, 200, 3), np.uint8)
    patch = crop_patch(img, crop_window(200, 100, Box(50, 20, 60, 60), 2.7), 80)
    assert patch.shape == (80, 80, 3)
    assert patch.dtype == np.uint8


def test_training_box_mapping_follows_the_manifest() -> None:
    mapping = load_manifest().box_mapping
    mapped = to_training_box(Box(100, 100, 100, 100), mapping)
    assert mapped.w == 100 * mapping.width_scale
    assert mapped.h == 100 * mapping.height_scale
    assert mapped.center == (150 + 100 * mapping.center_dx, 150 + 100 * mapping.center_dy)


def test_square_patch_reflects_outside_the_image() -> None:
    img = np.zeros((100, 100, 3), np.uint8)
    img[:, :50] = 255  # left half white
    # A box at the left edge: the square reaches past x=0 and is filled by reflection.
    patch = square_patch(img, Box(-10, 30, 40, 40), 1.5, 128)
    assert patch.shape == (128, 128, 3) and patch.dtype == np.uint8
    assert int(patch[64, 2, 0]) == 255  # reflected white, not black padding


@settings(deadline=None)
@given(
    st.integers(15, 300),
    st.integers(15, 300),
    st.floats(0.05, 1.5),
    st.floats(-0.5, 1.0),
    st.floats(-0.5, 1.0),
    st.sampled_from([1.0, 1.5, 2.0]),
)
def test_square_patch_always_has_the_model_size(
    width: int, height: int, size: float, fx: float, fy: float, scale: float
) -> None:
    """Boxes as a detector gives them: up to 1.5x the image, anywhere near it."""
    box = Box(fx * width, fy * height, size * width, size * height)
    image = np.zeros((height, width, 3), np.uint8)
    assert square_patch(image, box, scale, 32).shape == (32, 32, 3)
