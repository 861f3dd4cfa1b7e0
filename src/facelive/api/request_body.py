"""Parsing the JSON body of a liveness request, leniently where real clients need it.

Several of the contract's sample clients build JSON by hand: they send ``thresh`` as a string,
base64 with MIME line breaks inside the JSON string, or a ``data:image/...;base64,`` prefix.
All of that is accepted; anything else malformed gets 4006 (or 4001 for the image itself).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import orjson

from facelive.errors import BadImageError, InvalidParameterError, InvalidThresholdError
from facelive.pipeline.verdict import validate_thresh


@dataclass(frozen=True, slots=True)
class LivenessRequest:
    """Exactly one of ``image`` (decoded bytes) and ``image_url`` is set."""

    image: bytes | None
    image_url: str | None
    thresh: float


def max_body_bytes(max_image_bytes: int) -> int:
    """Largest body worth reading: the base64 of the largest image, MIME line breaks
    (2 bytes per 76 characters), and 64 KiB for the rest of the JSON."""
    encoded = 4 * -(-max_image_bytes // 3)
    return encoded + encoded // 38 + 65536


# A real request is an object with a handful of fields; base64 holds none of these bytes. A
# body with many of them is refused before parsing: 28 MB of '{"k1":0,...' would otherwise
# become millions of Python objects (over 300 MB and a second of CPU).
_STRUCTURE_BYTES = (b"{", b"[", b",", b":")
MAX_STRUCTURE_BYTES = 10_000


def load_json(raw: bytes) -> dict[str, Any]:
    structure = sum(raw.count(b) for b in _STRUCTURE_BYTES)
    if structure > MAX_STRUCTURE_BYTES:
        raise InvalidParameterError(
            f"request body has too many JSON fields or values ({structure} of the characters "
            f"{{ [ , : where at most {MAX_STRUCTURE_BYTES} are accepted); send only "
            "image_base64 (or image_url) and thresh",
            "请求体JSON字段或数值过多，请只发送 image_base64（或 image_url）和 thresh",
        )
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = _load_lenient(raw)
    if not isinstance(value, dict):
        raise InvalidParameterError(
            'request body must be a JSON object such as {"image_base64": "..."}',
            '请求体必须是JSON对象，例如 {"image_base64": "..."}',
        )
    return value


def _load_lenient(raw: bytes) -> Any:
    """Second chance for hand-built JSON: raw line breaks inside strings, a UTF-8 BOM."""
    try:
        return json.loads(raw.decode("utf-8-sig"), strict=False)
    except UnicodeDecodeError as exc:
        raise InvalidParameterError(
            "request body is not UTF-8 encoded JSON", "请求体不是UTF-8编码的JSON"
        ) from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidParameterError(
            f"request body is not valid JSON: {str(exc)[:120]}", "请求体不是合法的JSON"
        ) from exc
    except ValueError as exc:  # an integer of more than 4300 digits
        raise InvalidParameterError(
            "request body holds a number with too many digits", "请求体中的数字位数过多"
        ) from exc


def parse_thresh(value: Any, default: float) -> float:
    if value is None:
        return default
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    try:
        return validate_thresh(number)
    except InvalidThresholdError:
        shown = repr(value)[:40]
        raise InvalidThresholdError(
            f"thresh must be a number between 0 and 1, got {shown}",
            f"阈值thresh必须是0到1之间的数字，收到的是{shown}",
        ) from None


def decode_base64_image(text: str, max_bytes: int) -> bytes:
    """Plain or URL-safe base64, with or without a data-URL prefix, padding or line breaks.

    Well-formed plain base64 (what almost every client sends) is decoded in one pass with
    no intermediate copy of the text; only text that fails that is cleaned up and retried.
    """
    if text and len(text) * 3 // 4 <= max_bytes + 2 and not text.startswith("data:"):
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            pass  # line breaks, URL-safe letters or missing padding: the lenient path below
    if text.startswith("data:"):
        text = text.partition(",")[2]
    text = "".join(text.split())
    if not text:
        raise BadImageError("image_base64 is empty", "image_base64为空")
    if len(text) * 3 // 4 > max_bytes + 2:
        raise BadImageError(
            f"image is larger than the limit of {max_bytes} bytes",
            f"图片超过大小上限{max_bytes}字节",
        )
    if "-" in text or "_" in text:
        text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadImageError(
            "image_base64 is not valid base64", "image_base64不是合法的Base64编码"
        ) from exc


def parse_request(raw: bytes, default_thresh: float, max_image_bytes: int) -> LivenessRequest:
    body = load_json(raw)
    thresh = parse_thresh(body.get("thresh"), default_thresh)
    image_b64 = body.get("image_base64")
    image_url = body.get("image_url")
    for name, value in (("image_base64", image_b64), ("image_url", image_url)):
        if value is not None and not isinstance(value, str):
            raise InvalidParameterError(
                f"{name} must be a string, got {type(value).__name__}",
                f"{name}必须是字符串",
            )
    if image_b64:
        return LivenessRequest(decode_base64_image(image_b64, max_image_bytes), None, thresh)
    if image_url and image_url.strip():
        return LivenessRequest(None, image_url.strip(), thresh)
    raise BadImageError(
        "no image: send image_base64 or image_url", "图片为空：请提供image_base64或image_url"
    )
