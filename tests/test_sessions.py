"""Model runtimes: one per model per checker, sized threads, no spinning."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from facelive.models.manifest import load_manifest
from facelive.models.opencv_net import OpenCVNet
from facelive.models.sessions import OnnxRunner, create_session
from facelive.pipeline.checker import LivenessChecker
from facelive.settings import Settings


@pytest.mark.parametrize("threads", [1, 2])
def test_sessions_use_the_configured_threads_and_never_spin(model_dir: Path, threads: int) -> None:
    session = create_session(model_dir / "minifasnet" / "MiniFASNetV2.onnx", threads)
    options = session.get_session_options()
    assert options.intra_op_num_threads == threads
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    assert session.get_providers() == ["CPUExecutionProvider"]


def test_checker_opens_every_model_once_in_its_runtime_with_the_setting(
    settings: Settings,
) -> None:
    checker = LivenessChecker.from_settings(settings.model_copy(update={"threads": 1}))
    runners = [m.runner for m in checker.models]
    assert len({id(r) for r in runners}) == len(load_manifest().liveness)
    sessions = [checker.detector._session]
    for model in checker.models:
        if model.spec.runtime == "opencv":
            assert isinstance(model.runner, OpenCVNet)
        else:
            assert isinstance(model.runner, OnnxRunner)
            sessions.append(model.runner.session)
    for session in sessions:
        assert session.get_session_options().intra_op_num_threads == 1
    # OpenCV's one pool per process follows the same setting.
    assert cv2.getNumThreads() == 1


def test_the_manifest_runs_the_minifasnets_in_opencv_and_the_rest_in_onnxruntime() -> None:
    manifest = load_manifest()
    runtimes = {m.name: m.runtime for m in manifest.models}
    assert runtimes[manifest.detector.name] == "onnxruntime"
    assert runtimes["facenox_minifas128"] == "onnxruntime"
    minifasnets = [m for m in manifest.models if m.role == "liveness" and m.input.shape[-1] == 80]
    assert len(minifasnets) >= 2
    assert all(m.runtime == "opencv" for m in minifasnets)


def test_auto_threads_is_bounded() -> None:
    assert 1 <= Settings(threads=0).onnx_threads() <= 4
    assert Settings(threads=3).onnx_threads() == 3
