"""Bytes to a BGR image, refusing anything too big *before* its pixels are decoded.

Pillow reads only the header (format, width, height, mode), so an image bomb whose header
claims 100000 x 100000 pixels costs a few microseconds. The pixels are then decoded by
OpenCV, which applies EXIF orientation and turns grey, palette, 16-bit and CMYK images into
8-bit BGR exactly as ``cv2.imread`` does (the reference scores were computed that way).
Images with transparency go through Pillow instead and are composited onto white, because
OpenCV would drop the alpha channel and expose whatever colour the transparent pixels hold;
so do GIFs that OpenCV cannot read.

Memory: decoding an image of W x H pixels peaks at two to two and a half times its decoded
size (W x H x 3 bytes): 400 to 500 MB for 8192 x 8192. The limits are checked first.
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


def _png_chunks_fit(data: bytes) -> bool:
    """Whether each PNG chunk's declared length fits in the bytes after it. OpenCV's PNG reader
    allocates what a length field declares before reading the chunk: one IDAT length of
    0x7FFFFFFF in a 200-byte file cost 2 GB. Running out of bytes before ``IEND`` is left to
    the decoder to judge."""
    pos = 8  # after the signature; each chunk: length (4), type (4), data, CRC (4)
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        if length > len(data) - pos - 12:
            return False
        if data[pos + 4 : pos + 8] == b"IEND":
            return True
        pos += 12 + length
    return True


def _decode_with_opencv(data: bytes, reduction: int = 1) -> BGRImage | None:
    buffer = np.frombuffer(data, dtype=np.uint8)
    pixels = cv2.imdecode(buffer, _REDUCED_FLAGS[reduction])
    if pixels is None or pixels.ndim != 3 or pixels.shape[2] != 3:
        return None
    return np.asarray(pixels, dtype=np.uint8)


def _to_bgr(frame: Image.Image) -> BGRImage:
    """An RGB or RGBA ``frame`` as BGR, transparent pixels composited onto white exactly as
    Pillow's ``alpha_composite`` rounds (round(x / 255)). Converted in bands of about a
    million pixels, so no second full-size copy is made: one 8192 x 8192 RGBA frame is 268 MB."""
    width, height = frame.size
    out = np.empty((height, width, 3), np.uint8)
    rows = max(1, (1 << 20) // max(1, width))
    for top in range(0, height, rows):
        band = np.asarray(frame.crop((0, top, width, min(height, top + rows))), dtype=np.uint8)
        if frame.mode == "RGBA":
            alpha = band[:, :, 3:4].astype(np.uint16)
            mixed = band[:, :, 2::-1] * alpha + 255 * (255 - alpha) + 128  # <= 65153: uint16
            out[top : top + rows] = (mixed + (mixed >> 8)) >> 8
        else:
            out[top : top + rows] = band[:, :, 2::-1]
    return out


def _decode_with_pillow(data: bytes, has_alpha: bool) -> BGRImage | None:
    """The first frame, upright, as BGR (transparent pixels onto white)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            ImageOps.exif_transpose(im, in_place=True)
            mode = "RGBA" if has_alpha else "RGB"
            return _to_bgr(im if im.mode == mode else im.convert(mode))
    except (OSError, ValueError, SyntaxError, EOFError):
        return None


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
    pixels: BGRImage | None
    if header.has_alpha:
        pixels = _decode_with_pillow(data, has_alpha=True)
    elif header.format == "PNG" and not _png_chunks_fit(data):
        pixels = None
    else:
        pixels = _decode_with_opencv(data, reduction)
        if pixels is None and header.format == "GIF":
            # OpenCV 5's GIF decoder refuses some valid files (large areas of one colour).
            pixels = _decode_with_pillow(data, has_alpha=False)
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
