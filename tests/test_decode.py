"""Known-answer decoding tests: every input either decodes to the right pixels or is a 4001."""

from __future__ import annotations

import io
import struct
import time
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from facelive.errors import BadImageError
from facelive.pipeline.decode import ImageLimits, decode_image, probe

LIMITS = ImageLimits()


def quadrants(width: int = 64, height: int = 48) -> np.ndarray:
    """BGR test card: top-left red, top-right green, bottom-left blue, bottom-right white."""
    img = np.zeros((height, width, 3), np.uint8)
    h2, w2 = height // 2, width // 2
    img[:h2, :w2] = (0, 0, 255)
    img[:h2, w2:] = (0, 255, 0)
    img[h2:, :w2] = (255, 0, 0)
    img[h2:, w2:] = (255, 255, 255)
    return img


def encode(pil: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    pil.save(out, fmt, **params)
    return out.getvalue()


def rgb(img: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(img[:, :, ::-1]))


def close(a: np.ndarray, b: tuple[int, int, int], tol: int = 12) -> bool:
    return bool(np.all(np.abs(a.astype(int) - np.array(b)) <= tol))


def bad(data: bytes) -> BadImageError:
    with pytest.raises(BadImageError) as info:
        decode_image(data, LIMITS)
    assert info.value.code == 4001
    assert info.value.msg and info.value.msg_cn
    return info.value


@pytest.mark.parametrize(
    ("fmt", "lossless"),
    [("PNG", True), ("JPEG", False), ("WEBP", False), ("BMP", True), ("TIFF", True)],
)
def test_common_formats_decode_to_bgr(fmt: str, lossless: bool) -> None:
    card = quadrants()
    params = {"quality": 95} if not lossless else {}
    image = decode_image(encode(rgb(card), fmt, **params), LIMITS)
    assert image.pixels.shape == (48, 64, 3)
    assert image.pixels.dtype == np.uint8
    assert image.format == fmt.lower()
    if lossless:
        assert np.array_equal(image.pixels, card)
    assert close(image.pixels[5, 5], (0, 0, 255), 20)
    assert close(image.pixels[40, 60], (255, 255, 255), 20)


def test_exif_orientation_is_applied() -> None:
    # Stored landscape; orientation 6 means "rotate 90° clockwise to display".
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(rgb(quadrants()), "JPEG", quality=95, exif=exif.tobytes())
    assert probe(data, LIMITS).width == 64
    image = decode_image(data, LIMITS)
    assert image.pixels.shape == (64, 48, 3)
    # After a clockwise turn the old bottom-left (blue) is at the top-left.
    assert close(image.pixels[5, 5], (255, 0, 0), 20)
    assert close(image.pixels[5, 42], (0, 0, 255), 20)


def test_rgba_is_composited_on_white() -> None:
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[:, :16] = (0, 0, 0, 0)  # fully transparent black
    rgba[:, 16:] = (10, 200, 30, 255)  # opaque green (RGBA order)
    image = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"), LIMITS)
    assert image.pixels.shape == (32, 32, 3)
    assert close(image.pixels[3, 3], (255, 255, 255), 0)
    assert close(image.pixels[3, 20], (30, 200, 10), 0)


def test_palette_with_transparency() -> None:
    pal = Image.new("P", (20, 20), 0)
    pal.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    pal.paste(1, (10, 0, 20, 20))
    data = encode(pal, "PNG", transparency=0)
    image = decode_image(data, LIMITS)
    assert close(image.pixels[2, 2], (255, 255, 255), 0)
    assert close(image.pixels[2, 15], (10, 10, 200), 0)


def test_greyscale_becomes_three_equal_channels() -> None:
    grey = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (20, 1))
    image = decode_image(encode(Image.fromarray(grey, "L"), "PNG"), LIMITS)
    assert image.pixels.shape == (20, 32, 3)
    assert np.array_equal(image.pixels[:, :, 0], grey)
    assert np.array_equal(image.pixels[:, :, 1], image.pixels[:, :, 2])


def test_sixteen_bit_png_is_scaled_to_eight_bits() -> None:
    deep = np.full((20, 20, 3), 40000, np.uint16)
    ok, buf = cv2.imencode(".png", deep)
    assert ok
    image = decode_image(buf.tobytes(), LIMITS)
    assert image.pixels.dtype == np.uint8
    assert int(image.pixels[0, 0, 0]) == 40000 // 256


def test_cmyk_jpeg_keeps_its_colours() -> None:
    red = Image.new("RGB", (32, 32), (200, 30, 30)).convert("CMYK")
    image = decode_image(encode(red, "JPEG", quality=95), LIMITS)
    assert close(image.pixels[16, 16], (30, 30, 200), 15)


def test_animated_gif_uses_its_first_frame() -> None:
    frames = [Image.new("RGB", (30, 30), c) for c in [(255, 0, 0), (0, 0, 255)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    image = decode_image(data, LIMITS)
    assert close(image.pixels[15, 15], (0, 0, 255), 10)


def test_progressive_jpeg() -> None:
    data = encode(rgb(quadrants()), "JPEG", quality=90, progressive=True)
    assert close(decode_image(data, LIMITS).pixels[5, 5], (0, 0, 255), 20)


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9, 0.99])
def test_truncated_jpeg_is_a_bad_image(fraction: float) -> None:
    noisy = np.random.default_rng(1).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    data = encode(rgb(noisy), "JPEG", quality=90)
    err = bad(data[: int(len(data) * fraction)])
    assert "truncated or corrupt" in err.msg


def test_truncated_png_is_a_bad_image() -> None:
    noisy = np.random.default_rng(2).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    data = encode(rgb(noisy), "PNG")
    bad(data[: len(data) // 2])


@pytest.mark.parametrize(("width", "height"), [(14, 40), (40, 14), (8193, 16), (16, 8193)])
def test_sides_outside_15_to_8192_are_refused(width: int, height: int) -> None:
    data = encode(Image.new("L", (width, height)), "PNG")
    err = bad(data)
    side = "width" if width in (14, 8193) else "height"
    limit = "minimum of 15" if 14 in (width, height) else "maximum of 8192"
    assert side in err.msg
    assert limit in err.msg


@pytest.mark.parametrize(("width", "height"), [(15, 15), (8192, 15), (15, 8192)])
def test_sides_at_the_limits_are_accepted(width: int, height: int) -> None:
    image = decode_image(encode(Image.new("L", (width, height), 128), "PNG"), LIMITS)
    assert (image.width, image.height) == (width, height)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_bomb_header_is_refused_before_decoding() -> None:
    data = _png_header_only(100_000, 100_000)
    start = time.perf_counter()
    err = bad(data)
    assert "at most 8192 px" in err.msg
    assert time.perf_counter() - start < 1.0  # ten gigapixels were never allocated


def test_header_just_over_the_limit_names_the_side() -> None:
    err = bad(_png_header_only(8193, 8000))
    assert "width is 8193 px, above the maximum of 8192 px" in err.msg


def test_one_pixel_gif_is_too_small() -> None:
    err = bad(encode(Image.new("P", (1, 1)), "GIF"))
    assert "minimum of 15" in err.msg


@pytest.mark.parametrize(
    "data",
    [
        b"",
        np.random.default_rng(3).bytes(4096),
        b"<!DOCTYPE html><html><head><title>x</title></head><body>hi</body></html>",
        b"\xff\xd8\xff\xe0garbage",
        b"GIF89a",
    ],
    ids=["empty", "random", "html", "jpeg-magic-only", "gif-magic-only"],
)
def test_non_images_are_bad_images(data: bytes) -> None:
    bad(data)


def test_unsupported_format_is_named() -> None:
    err = bad(encode(Image.new("RGB", (32, 32)), "PPM"))
    assert "PPM" in err.msg


def test_oversized_bytes_are_refused() -> None:
    limits = ImageLimits(max_bytes=1000)
    noisy = np.random.default_rng(4).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    with pytest.raises(BadImageError, match="above the limit of 1000 bytes"):
        decode_image(encode(rgb(noisy), "PNG"), limits)


def test_decoded_pixels_are_read_only() -> None:
    image = decode_image(encode(rgb(quadrants()), "PNG"), LIMITS)
    with pytest.raises(ValueError, match="read-only"):
        image.pixels[0, 0, 0] = 1


def _rotated_jpeg(width: int, height: int) -> bytes:
    """A JPEG stored ``width`` x ``height`` whose EXIF says: rotate 90 degrees to view."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(rgb(quadrants(width, height)), "JPEG", quality=95, exif=exif.tobytes())


def test_large_jpeg_decodes_reduced_on_request_and_reports_its_full_size() -> None:
    data = _rotated_jpeg(2600, 1600)
    full = decode_image(data, LIMITS)
    reduced = decode_image(data, LIMITS, min_long_side=640)
    assert (full.reduction, full.width, full.height) == (1, 1600, 2600)
    # 2600 / 4 = 650 >= 640 but 2600 / 8 < 640: a quarter, rotated like the full decode.
    assert reduced.reduction == 4
    assert reduced.pixels.shape == (650, 400, 3)
    assert (reduced.width, reduced.height) == (1600, 2600)
    assert reduced.scale == (4.0, 4.0)
    assert close(reduced.pixels[10, 390], full.pixels[40, 1560].tolist())  # same corner
    assert decode_image(data, LIMITS, min_long_side=640, max_reduction=2).reduction == 2


def test_only_large_plain_jpegs_are_reduced() -> None:
    png = encode(rgb(quadrants(2600, 1600)), "PNG")
    assert decode_image(png, LIMITS, min_long_side=640).reduction == 1
    small = encode(rgb(quadrants(1200, 900)), "JPEG", quality=95)
    assert decode_image(small, LIMITS, min_long_side=640).reduction == 1
    assert decode_image(_rotated_jpeg(2600, 1600), LIMITS, min_long_side=0).reduction == 1
