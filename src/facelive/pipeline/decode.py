"""Bytes to a BGR image, refusing anything too big *before* its pixels are decoded.

Pillow reads only the header (format, width, height, mode), so an image bomb whose header
claims 100000 x 100000 pixels costs a few microseconds. The pixels are then decoded by
OpenCV, which applies EXIF orientation and turns grey, palette, 16-bit and CMYK images into
8-bit BGR exactly as ``cv2.imread`` does (the reference scores were computed that way).
Images with transparency go through Pillow instead and are composited onto white, because
OpenCV would drop the alpha channel and expose whatever colour the transparent pixels hold.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps

from facelive.errors import BadImageError
from facelive.types import BGRImage, DecodedImage

# Formats whose headers Pillow parses and whose pixels OpenCV (or Pillow) decodes.
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF", "TIFF"})

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """Accepted sizes: each side in [min_side, max_side] pixels, encoded size <= max_bytes."""

    min_side: int = 15
    max_side: int = 8192
    max_bytes: int = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What the header says, before orientation: stored width and height in pixels."""

    format: str
    width: int
    height: int
    has_alpha: bool


def probe(data: bytes, limits: ImageLimits) -> ImageHeader:
    """Read the format and size from the header only; never decodes pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                fmt = im.format or ""
                width, height = im.size
                has_alpha = im.mode in _ALPHA_MODES or (
                    im.mode == "P" and "transparency" in im.info
                )
    except Image.DecompressionBombError as exc:
        # Pillow refuses headers claiming hundreds of megapixels before we see the size.
        raise BadImageError(
            f"image is too large: width and height must each be at most {limits.max_side} px",
            f"图片尺寸过大：宽和高均不能超过{limits.max_side}像素",
        ) from exc
    # Pillow raises many exception types on hostile headers; every one of them means
    # "not an image we can read" and is reported as such, never swallowed.
    except Exception as exc:
        raise BadImageError(
            "image data is not a recognised image format (JPEG, PNG, WebP, BMP, GIF, TIFF)",
            "图片格式错误，无法识别（支持JPEG、PNG、WebP、BMP、GIF、TIFF）",
        ) from exc
    if fmt not in SUPPORTED_FORMATS:
        raise BadImageError(
            f"image format {fmt or 'unknown'} is not supported; "
            "use JPEG, PNG, WebP, BMP, GIF or TIFF",
            f"不支持的图片格式{fmt or '未知'}，请使用JPEG、PNG、WebP、BMP、GIF或TIFF",
        )
    return ImageHeader(fmt, int(width), int(height), has_alpha)


def check_size(width: int, height: int, limits: ImageLimits) -> None:
    for side, value, side_cn in (("width", width, "宽度"), ("height", height, "高度")):
        if value < limits.min_side:
            raise BadImageError(
                f"image {side} is {value} px, below the minimum of {limits.min_side} px",
                f"图片{side_cn}为{value}像素，小于最小值{limits.min_side}像素",
            )
        if value > limits.max_side:
            raise BadImageError(
                f"image {side} is {value} px, above the maximum of {limits.max_side} px",
                f"图片{side_cn}为{value}像素，超过最大值{limits.max_side}像素",
            )


# cv2.imdecode flags for JPEG DCT scaling: libjpeg decodes straight to 1/2, 1/4 or 1/8 size
# (each output pixel the average of a 2x2, 4x4 or 8x8 block), skipping most of the work.
_REDUCED_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def jpeg_reduction(header: ImageHeader, min_long_side: int, max_reduction: int = 8) -> int:
    """The largest DCT scaling factor (1, 2, 4 or 8, at most ``max_reduction``) that keeps the
    longer side at least ``min_long_side`` px; always 1 for anything but plain JPEG, and when
    ``min_long_side`` is 0 (reduced decoding off)."""
    if header.format != "JPEG" or header.has_alpha or min_long_side <= 0:
        return 1
    long_side = max(header.width, header.height)
    best = 1
    for factor in (2, 4, 8):
        if factor <= max_reduction and -(-long_side // factor) >= min_long_side:
            best = factor
    return best


def _decode_with_opencv(data: bytes, reduction: int = 1) -> BGRImage | None:
    buffer = np.frombuffer(data, dtype=np.uint8)
    pixels = cv2.imdecode(buffer, _REDUCED_FLAGS[reduction])
    if pixels is None or pixels.ndim != 3 or pixels.shape[2] != 3:
        return None
    return np.asarray(pixels, dtype=np.uint8)


def _decode_with_alpha(data: bytes) -> BGRImage | None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            upright = ImageOps.exif_transpose(im).convert("RGBA")
    except (OSError, ValueError, SyntaxError, EOFError):
        return None
    white = Image.new("RGBA", upright.size, (255, 255, 255, 255))
    rgb = np.asarray(Image.alpha_composite(white, upright).convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _full_size(header: ImageHeader, pixels: BGRImage, reduction: int) -> tuple[int, int]:
    """The upright full size (width, height) of an image decoded at 1/``reduction``: the
    header's stored size, swapped when OpenCV applied an EXIF rotation of 90 or 270 degrees."""
    rows, cols = int(pixels.shape[0]), int(pixels.shape[1])
    if reduction == 1:
        return cols, rows
    stored = (-(-header.width // reduction), -(-header.height // reduction))
    return (
        (header.width, header.height) if stored == (cols, rows) else (header.height, header.width)
    )


def decode_image(
    data: bytes, limits: ImageLimits, min_long_side: int = 0, max_reduction: int = 8
) -> DecodedImage:
    """Decode ``data`` into an upright BGR ``uint8`` image, or raise ``BadImageError``.

    With ``min_long_side`` > 0 a JPEG is decoded at the smallest DCT-scaled size (1/2, 1/4 or
    1/8, no smaller than 1/``max_reduction``) whose longer side is still at least that many
    pixels; ``DecodedImage.reduction`` says which. 0 decodes every pixel.
    """
    if not data:
        raise BadImageError("image is empty", "图片为空")
    if len(data) > limits.max_bytes:
        raise BadImageError(
            f"image is {len(data)} bytes, above the limit of {limits.max_bytes} bytes",
            f"图片大小为{len(data)}字节，超过上限{limits.max_bytes}字节",
        )
    header = probe(data, limits)
    check_size(header.width, header.height, limits)
    reduction = jpeg_reduction(header, min_long_side, max_reduction)
    pixels = _decode_with_alpha(data) if header.has_alpha else _decode_with_opencv(data, reduction)
    if pixels is None:
        raise BadImageError(
            f"{header.format} image data is truncated or corrupt",
            f"{header.format}图片数据不完整或已损坏",
        )
    full_width, full_height = _full_size(header, pixels, reduction)
    # The header was checked; check the decoded size too, in case the two disagree.
    check_size(full_width, full_height, limits)
    pixels.flags.writeable = False
    return DecodedImage(
        pixels=pixels,
        format=header.format.lower(),
        reduction=reduction,
        full_size=(full_width, full_height) if reduction > 1 else None,
    )
