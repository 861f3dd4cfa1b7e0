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


def _decode_with_opencv(data: bytes) -> BGRImage | None:
    buffer = np.frombuffer(data, dtype=np.uint8)
    pixels = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
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


def decode_image(data: bytes, limits: ImageLimits) -> DecodedImage:
    """Decode ``data`` into an upright BGR ``uint8`` image, or raise ``BadImageError``."""
    if not data:
        raise BadImageError("image is empty", "图片为空")
    if len(data) > limits.max_bytes:
        raise BadImageError(
            f"image is {len(data)} bytes, above the limit of {limits.max_bytes} bytes",
            f"图片大小为{len(data)}字节，超过上限{limits.max_bytes}字节",
        )
    header = probe(data, limits)
    check_size(header.width, header.height, limits)
    pixels = _decode_with_alpha(data) if header.has_alpha else _decode_with_opencv(data)
    if pixels is None:
        raise BadImageError(
            f"{header.format} image data is truncated or corrupt",
            f"{header.format}图片数据不完整或已损坏",
        )
    # The header was checked; check the decoded size too, in case the two disagree.
    check_size(int(pixels.shape[1]), int(pixels.shape[0]), limits)
    pixels.flags.writeable = False
    return DecodedImage(pixels=pixels, format=header.format.lower())
