"""Shared fixtures. The models and fas-dev images are read from ``../shared`` (never copied).

``FACELIVE_MODEL_DIR`` must point at the shared models (``.ci/run`` and ``scripts/test`` set
it); ``FACELIVE_SHARED_DATA`` may point at the shared ``data`` folder, else ``../shared/data``
beside the repository is used. A missing folder is an error, never a skip.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from facelive.pipeline.checker import LivenessChecker
from facelive.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def _shared_models() -> Path:
    value = os.environ.get("FACELIVE_MODEL_DIR")
    path = Path(value) if value else REPO.parent / "shared" / "models"
    if not (path / "yunet").is_dir():
        raise RuntimeError(f"model folder {path} not found: set FACELIVE_MODEL_DIR")
    return path


def _shared_data() -> Path:
    value = os.environ.get("FACELIVE_SHARED_DATA")
    path = Path(value) if value else REPO.parent / "shared" / "data"
    if not (path / "fas-dev" / "manifest.csv").is_file():
        raise RuntimeError(f"fas-dev not found under {path}: set FACELIVE_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return _shared_models()


@pytest.fixture(scope="session")
def fas_dev() -> Path:
    return _shared_data() / "fas-dev"


@pytest.fixture(scope="session")
def fas_dev_rows(fas_dev: Path) -> list[dict[str, str]]:
    with (fas_dev / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def settings(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    cache = tmp_path_factory.mktemp("cache")
    return Settings(model_dir=model_dir, cache_dir=cache, allow_download=False)


@pytest.fixture(scope="session")
def checker(settings: Settings) -> LivenessChecker:
    return LivenessChecker.from_settings(settings)


@pytest.fixture(scope="session")
def live_jpeg(fas_dev: Path) -> bytes:
    """A whole camera frame of a live person (minivision's own sample)."""
    path = fas_dev / "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample/image_T1.jpg"
    return path.read_bytes()


@pytest.fixture(scope="session")
def spoof_jpeg(fas_dev: Path) -> bytes:
    """A whole frame of a screen replay attack (minivision's sample F2)."""
    path = fas_dev / "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample/image_F2.jpg"
    return path.read_bytes()
