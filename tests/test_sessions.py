"""ONNX Runtime sessions: one per model per checker, sized threads, no spinning."""

from __future__ import annotations

from pathlib import Path

import pytest

from facelive.models.manifest import load_manifest
from facelive.models.sessions import create_session
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


def test_checker_builds_every_session_once_with_the_setting(settings: Settings) -> None:
    checker = LivenessChecker.from_settings(settings.model_copy(update={"threads": 1}))
    sessions = [checker.detector._session, *(m._session for m in checker.models)]
    assert len({id(s) for s in sessions}) == 1 + len(load_manifest().liveness)
    for session in sessions:
        assert session.get_session_options().intra_op_num_threads == 1


def test_auto_threads_is_bounded() -> None:
    assert 1 <= Settings(threads=0).onnx_threads() <= 4
    assert Settings(threads=3).onnx_threads() == 3
