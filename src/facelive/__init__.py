"""facelive: face liveness (presentation-attack detection) for one photo, on CPU.

The public surface is small and pinned by a test: build a checker once per process,
then call ``checker.check(image_bytes, thresh)`` as often as needed.
"""

from facelive.errors import (
    BadImageError,
    FaceliveError,
    InternalError,
    InvalidThresholdError,
    ModelUnavailableError,
    NoFaceError,
)
from facelive.types import CheckResult

__all__ = [
    "BadImageError",
    "CheckResult",
    "FaceliveError",
    "InternalError",
    "InvalidThresholdError",
    "ModelUnavailableError",
    "NoFaceError",
    "__version__",
]

__version__ = "0.1.0"
