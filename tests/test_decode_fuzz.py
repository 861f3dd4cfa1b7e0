"""Fuzzing the decoder and the checker: whatever the bytes, the answer is a decoded image or
a typed facelive error, and memory stays bounded by the size limits, never by what a header
claims. Known answers live in test_decode.py; the budget is in fuzzing.py."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from PIL import Image, ImageOps

from facelive.envelope import result_code
from facelive.errors import BadImageError, FaceliveError, InvalidThresholdError, NoFaceError
from facelive.pipeline.checker import LivenessChecker
from facelive.pipeline.decode import ImageLimits, decode_image
from facelive.types import CheckResult, DecodedImage
from fuzzing import MB, Measured, fuzz_settings, measure, mutated

SAMPLE = "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample/image_T1.jpg"
# Fuzzed images may be at most 2048 px a side, so the memory bound below is tight: decoding
# peaks near twice the decoded BGR size, and never depends on what a header claims.
LIMITS = ImageLimits(max_side=2048)
BOUND_MB = 3 * LIMITS.max_side**2 * 3 // MB + 64


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def crafted_png(width: int, height: int, depth: int, colour: int, extra: bytes = b"") -> bytes:
    """A PNG with any IHDR; its IDAT holds all-zero rows for the size claimed when that is
    within the fuzz limits, else 4 KB of zeros."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    row = 1 + -(-width * 4 * min(depth, 16) // 8)
    fits = max(width, height) <= LIMITS.max_side
    idat = zlib.compress(b"\0" * (row * height if fits else 4096), 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + extra
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def face(fas_dev: Path) -> Image.Image:
    with Image.open(fas_dev / SAMPLE) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


@pytest.fixture(scope="module")
def seeds(face: Image.Image) -> list[bytes]:
    """Real encodings of a fas-dev frame (small, so mutations stay fast), in every supported
    format and the awkward variants: progressive, CMYK, 16-bit, animated, alpha, big ICC/EXIF."""
    small = face.resize((120, 160))
    deep = Image.fromarray(np.asarray(small.convert("L"), np.uint16) * 256)
    frames = [small, small.rotate(90)]
    exif = Image.Exif()
    exif[0x0112] = 6
    return [
        encode(small, "JPEG", quality=90),
        encode(small, "JPEG", quality=90, progressive=True),
        encode(small.convert("CMYK"), "JPEG"),
        encode(small, "JPEG", icc_profile=b"\0" * 200_000, exif=exif.tobytes()),
        encode(small, "PNG"),
        encode(small.convert("RGBA"), "PNG"),
        encode(deep, "PNG"),
        encode(small, "WEBP", quality=80),
        encode(small, "WEBP", save_all=True, append_images=frames[1:]),
        encode(small, "GIF", save_all=True, append_images=frames[1:]),
        encode(small, "BMP"),
        encode(small.convert("CMYK"), "TIFF"),
        encode(deep, "TIFF"),
    ]


@pytest.fixture(scope="module")
def face_seeds(face: Image.Image) -> list[bytes]:
    """The full frame, whose face the detector finds, so mutations reach every stage."""
    return [
        encode(face, "JPEG", quality=90),
        encode(face, "JPEG", quality=85, progressive=True),
        encode(face, "PNG"),
        encode(face, "WEBP", quality=85),
    ]


def assert_decoded_or_refused(measured: Measured) -> None:
    """The only two outcomes: an upright BGR image within the limits, or a 4001 in words."""
    value = measured.value
    event(f"outcome: {type(value).__name__}")
    if isinstance(value, DecodedImage):
        assert value.pixels.dtype == np.uint8
        assert value.pixels.ndim == 3 and value.pixels.shape[2] == 3
        assert LIMITS.min_side <= value.width <= LIMITS.max_side
        assert LIMITS.min_side <= value.height <= LIMITS.max_side
    else:
        assert isinstance(value, BadImageError), repr(value)
        assert value.code == 4001
        assert value.msg and value.msg_cn
    assert measured.peak_growth_mb <= BOUND_MB, measured


@fuzz_settings(60)
@given(data=st.one_of(st.binary(max_size=4096), st.binary(min_size=1, max_size=64)))
def test_arbitrary_bytes(data: bytes) -> None:
    assert_decoded_or_refused(measure(lambda: decode_image(data, LIMITS)))


MAGICS = [
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"RIFF\0\0\0\0WEBPVP8 ",
    b"GIF89a",
    b"BM",
    b"II*\0",
]


@fuzz_settings(60)
@given(magic=st.sampled_from(MAGICS), rest=st.binary(max_size=2048))
def test_bytes_after_a_format_magic(magic: bytes, rest: bytes) -> None:
    assert_decoded_or_refused(measure(lambda: decode_image(magic + rest, LIMITS)))


@fuzz_settings(80)
@given(data=st.data())
def test_mutated_real_files(seeds: list[bytes], data: st.DataObject) -> None:
    image = data.draw(mutated(seeds))
    assert_decoded_or_refused(measure(lambda: decode_image(image, LIMITS)))


SIDES = st.one_of(st.integers(0, 70_000), st.sampled_from([0, 1, 14, 15, 2048, 2049, 2**31 - 1]))


@fuzz_settings(60)
@given(
    width=SIDES,
    height=SIDES,
    depth=st.sampled_from([1, 2, 4, 8, 16, 3, 0, 255]),
    colour=st.sampled_from([0, 2, 3, 4, 6, 1, 7]),
)
def test_crafted_png_headers(width: int, height: int, depth: int, colour: int) -> None:
    """Any IHDR, even one claiming 70000 x 70000: refused from the header, or decoded within
    the bound (a tiny IDAT never fills a huge claimed image)."""
    image = crafted_png(width, height, depth, colour)
    measured = measure(lambda: decode_image(image, LIMITS))
    assert_decoded_or_refused(measured)
    if max(width, height) > LIMITS.max_side:
        assert isinstance(measured.value, BadImageError)
        assert measured.peak_growth_mb < 16  # refused before a single row was allocated


def _patch(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


@fuzz_settings(60)
@given(data=st.data(), width=SIDES, height=SIDES)
def test_crafted_size_fields(
    seeds: list[bytes], data: st.DataObject, width: int, height: int
) -> None:
    """The size fields of JPEG (SOF0), GIF (screen and frame), BMP (signed: negative means
    top-down) and WebP (VP8X canvas) set to anything."""
    jpeg, gif, bmp, webp = seeds[0], seeds[9], seeds[10], seeds[8]
    sof = jpeg.index(b"\xff\xc0")
    frame = gif.index(b"\x2c", 13)
    w16, h16 = width & 0xFFFF, height & 0xFFFF
    w24, h24 = max(0, width - 1) & 0xFFFFFF, max(0, height - 1) & 0xFFFFFF
    crafted = data.draw(
        st.sampled_from(
            [
                _patch(jpeg, sof + 5, ">HH", h16, w16),
                _patch(gif, 6, "<HH", w16, h16),
                _patch(gif, frame + 5, "<HH", w16, h16),
                _patch(bmp, 18, "<ii", min(width, 2**31 - 1), -min(height, 2**31 - 1)),
                _patch(webp, 24, "<HBHB", w24 & 0xFFFF, w24 >> 16, h24 & 0xFFFF, h24 >> 16),
            ]
        )
    )
    assert_decoded_or_refused(measure(lambda: decode_image(crafted, LIMITS)))


def png_chunk_offsets(png: bytes) -> list[int]:
    offsets, pos = [], 8
    while pos + 8 <= len(png):
        offsets.append(pos)
        pos += 12 + int.from_bytes(png[pos : pos + 4], "big")
    return offsets


@fuzz_settings(60)
@given(data=st.data(), length=st.integers(0, 2**32 - 1))
def test_crafted_png_chunk_lengths(seeds: list[bytes], data: st.DataObject, length: int) -> None:
    """Any length in any chunk of a real PNG. OpenCV allocates what an IDAT length claims
    before reading it (2 GB for 0x7FFFFFFF): such lengths are refused first."""
    png = seeds[4]
    offset = data.draw(st.sampled_from(png_chunk_offsets(png)))
    crafted = _patch(png, offset, ">I", length)
    measured = measure(lambda: decode_image(crafted, LIMITS))
    assert_decoded_or_refused(measured)
    if length > len(png) - offset - 12:
        assert isinstance(measured.value, BadImageError)
        assert measured.peak_growth_mb < 16


@pytest.mark.parametrize("kind", [b"iCCP", b"zTXt"])
def test_decompression_bombs_in_ancillary_png_chunks_are_refused(kind: bytes) -> None:
    """iCCP and zTXt chunks that inflate to 50 MB: Pillow's text-chunk limit refuses them."""
    bomb = crafted_png(64, 64, 8, 2, png_chunk(kind, b"k\0\0" + zlib.compress(b"a" * 50_000_000)))
    measured = measure(lambda: decode_image(bomb, LIMITS))
    assert isinstance(measured.value, BadImageError)
    assert measured.peak_growth_mb < 16


def test_large_uniform_gif_decodes() -> None:
    """OpenCV 5 refuses valid GIFs with large areas of one colour; Pillow decodes them."""
    uniform = Image.new("P", (600, 600), 1)
    uniform.putpalette([0, 0, 0, 200, 30, 10] + [0] * 762)
    image = decode_image(encode(uniform, "GIF"), LIMITS)
    assert image.pixels.shape == (600, 600, 3)
    assert image.pixels[300, 300].tolist() == [10, 30, 200]


def test_large_transparent_png_stays_within_twice_its_size() -> None:
    """RGBA is composited onto white in bands: no second full-size copy (the peak was 7 times
    the decoded size before; Pillow's RGBA frame and the BGR result make 2.3 times)."""
    side = 4096
    data = encode(Image.new("RGBA", (side, side), (10, 20, 30, 0)), "PNG")
    limits = ImageLimits()
    measured = measure(lambda: decode_image(data, limits))
    assert isinstance(measured.value, DecodedImage)
    assert int(measured.value.pixels[7, 7, 0]) == 255  # transparent: white
    decoded_mb = side * side * 3 // MB
    assert measured.peak_growth_mb <= 3 * decoded_mb + 32, measured.peak_growth_mb


@pytest.fixture(scope="module")
def fuzz_checker(checker: LivenessChecker, face_seeds: list[bytes]) -> LivenessChecker:
    """The session's models behind the fuzz limits, warmed up on the seeds, so that ONNX
    Runtime's first allocations are not counted against an example."""
    fuzzed = LivenessChecker(
        checker.detector,
        checker.models,
        checker.box_mapping,
        LIMITS,
        calibration=checker.calibration,
    )
    for image in face_seeds:
        fuzzed.check(image)
    return fuzzed


# One threshold in ten is any float or integer at all; the rest are valid, so that most
# examples reach the models.
THRESHOLDS = st.tuples(st.integers(0, 9), st.floats(0.0, 1.0), st.floats() | st.integers()).map(
    lambda t: t[2] if t[0] == 0 else t[1]
)


@fuzz_settings(30)
@given(data=st.data(), thresh=THRESHOLDS)
def test_checker_ends_in_a_defined_outcome(
    fuzz_checker: LivenessChecker, face_seeds: list[bytes], data: st.DataObject, thresh: float
) -> None:
    """Mutated face photos through every stage: a scored face (200 / 4004 / 4005), 4001,
    4002 or, for a bad ``thresh``, 4006; never an internal error or another exception."""
    image = data.draw(
        st.one_of(
            st.sampled_from(face_seeds),
            mutated(face_seeds, ops=("flip", "set")),  # mostly still decodable: a face, noisy
            mutated(face_seeds),
        )
    )
    measured = measure(lambda: fuzz_checker.check(image, thresh))
    value = measured.value
    event(f"code {result_code(value) if isinstance(value, CheckResult) else value}")
    if isinstance(value, CheckResult):
        assert result_code(value) in (200, 4004, 4005)
        assert 0.0 <= value.liveness_score <= 1.0
        assert value.is_live == (value.liveness_score > thresh)
    else:
        assert isinstance(value, BadImageError | NoFaceError | InvalidThresholdError), repr(value)
        assert isinstance(value, FaceliveError) and value.code in (4001, 4002, 4006)
    assert measured.peak_growth_mb <= BOUND_MB, measured
