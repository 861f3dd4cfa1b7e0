"""The model store: lookup order, verification, atomic download, and clear failures.

Downloads are served by a throw-away HTTP server on loopback; nothing leaves the machine.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from facelive.errors import ModelIntegrityError, ModelUnavailableError
from facelive.models.manifest import ModelSpec, load_manifest
from facelive.models.store import FileState, ModelStore, packaged_path, sha256_of

SPEC = load_manifest().detector


@pytest.fixture
def file_server(model_dir: Path) -> Iterator[str]:
    """Serves the shared model folder over HTTP on 127.0.0.1; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(model_dir))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def local(spec: ModelSpec, base: str) -> ModelSpec:
    return dataclasses.replace(spec, url=f"{base}/{spec.relative_path}")


def unreachable(spec: ModelSpec) -> ModelSpec:
    # Port 9 on loopback: connection refused at once, like a machine with no network.
    return dataclasses.replace(spec, url=f"https://127.0.0.1:9/{spec.relative_path}")


def test_manifest_matches_the_shared_and_shipped_files(model_dir: Path) -> None:
    manifest = load_manifest()
    assert manifest.detector.name == "yunet_s"
    upstream = manifest.liveness_for("upstream")
    assert [m.name for m in upstream] == ["minifasnet_v2", "minifasnet_v1se"]
    # The upstream profile is for operators who need permissively licensed weights only.
    assert all(m.licence == "Apache-2.0" and m.commercial_use for m in upstream)
    for spec in manifest.models:
        if spec.packaged:
            path = packaged_path(spec)
            assert spec.url == "" and spec.size <= 4 * 1024 * 1024
        else:
            path = model_dir / spec.subdir / spec.file
            assert spec.url.startswith("https://")
        assert path.stat().st_size == spec.size
        assert sha256_of(path) == spec.sha256
        # Weights not cleared for commercial use are opt-in, or facelive's own with a model
        # card saying what their training data allows.
        card = path.parent / "MODEL_CARD.md"
        assert spec.commercial_use or spec.optional or (spec.packaged and card.is_file())
    assert all(not m.optional for m in manifest.in_use())
    optional = manifest.optional_models("facenox_minifas128")
    assert [m.live_class for m in optional] == [0] and not optional[0].commercial_use
    for profile in manifest.profiles:
        chosen = manifest.liveness_for(profile)
        assert manifest.calibration_for(tuple(m.name for m in chosen)) is not None
        for spec in chosen:
            # Camera frames get the published crops; closer views judge tight crops only.
            assert (spec.crop, spec.crop_scale) in (("shifted", 2.7), ("shifted", 4.0)) or (
                spec.framing == "tight" and spec.crop_scale in (0.7, 1.0, 1.3, 1.5)
            )
            assert spec.live_class == 1
            # MiniFASNets at 80 px; facenox's rewritten graph (tight crops) at its own 128.
            size = 128 if spec.framing == "tight" and "facenox" in spec.name else 80
            assert spec.input.shape == (1, 3, size, size)
            assert spec.input.colour == "BGR" and spec.input.divisor == 1.0
    assert manifest.liveness_for("default") == manifest.liveness


def test_an_unknown_profile_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="upstream"):
        load_manifest().liveness_for("bogus")


def test_a_damaged_packaged_model_is_refused_not_downloaded(tmp_path: Path) -> None:
    spec = dataclasses.replace(
        load_manifest().get("minifasnet_v2"), packaged=True, subdir="weights", file="none.onnx"
    )
    store = ModelStore(tmp_path, tmp_path, allow_download=True)
    assert store.candidates(spec) == [packaged_path(spec)]
    with pytest.raises(ModelIntegrityError, match="reinstall"):
        store.path_for(spec)


def test_model_dir_is_searched_first(model_dir: Path, tmp_path: Path) -> None:
    store = ModelStore(model_dir, tmp_path, allow_download=False)
    assert store.path_for(SPEC) == model_dir / SPEC.subdir / SPEC.file


def test_cache_is_used_when_model_dir_lacks_the_file(
    model_dir: Path, tmp_path: Path, file_server: str
) -> None:
    store = ModelStore(tmp_path / "empty", tmp_path / "cache")
    path = store.download(local(SPEC, file_server))
    assert path == tmp_path / "cache" / SPEC.subdir / SPEC.file
    assert store.path_for(SPEC) == path  # found in the cache now, no download needed
    assert store.status(SPEC).state is FileState.OK


def test_corrupted_cache_file_is_replaced(tmp_path: Path, file_server: str) -> None:
    cached = tmp_path / SPEC.subdir / SPEC.file
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"\0" * SPEC.size)  # right size, wrong content
    store = ModelStore(None, tmp_path)
    assert store.status(SPEC).state is FileState.CORRUPT
    path = store.path_for(local(SPEC, file_server))
    assert path == cached
    assert sha256_of(cached) == SPEC.sha256


def test_corrupted_cache_file_is_refused_when_downloads_are_off(tmp_path: Path) -> None:
    cached = tmp_path / SPEC.subdir / SPEC.file
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"tampered")
    store = ModelStore(None, tmp_path, allow_download=False)
    with pytest.raises(ModelIntegrityError, match="does not match its sha256"):
        store.path_for(SPEC)


def test_corrupted_file_in_model_dir_is_refused_never_overwritten(tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    bad = model_dir / SPEC.subdir / SPEC.file
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"tampered")
    store = ModelStore(model_dir, tmp_path / "cache")
    with pytest.raises(ModelIntegrityError) as info:
        store.path_for(SPEC)
    assert info.value.code == 5000
    assert str(bad) in info.value.msg
    assert bad.read_bytes() == b"tampered"


def test_missing_file_without_network_names_the_file_and_the_variable(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "none", tmp_path / "cache", timeout_s=5)
    with pytest.raises(ModelUnavailableError) as info:
        store.path_for(unreachable(SPEC))
    assert "yunet/yunet_s_dynamic.onnx" in info.value.msg
    assert "FACELIVE_MODEL_DIR" in info.value.msg
    assert "FACELIVE_MODEL_DIR" in info.value.msg_cn
    assert not list((tmp_path / "cache").rglob("*.onnx"))


def test_downloads_can_be_switched_off(tmp_path: Path) -> None:
    store = ModelStore(None, tmp_path, allow_download=False)
    with pytest.raises(ModelUnavailableError, match="FACELIVE_ALLOW_DOWNLOAD"):
        store.path_for(SPEC)


def test_download_with_wrong_hash_leaves_nothing_behind(tmp_path: Path, file_server: str) -> None:
    # Serve the V2 model under the detector's name: right transport, wrong bytes.
    v2 = load_manifest().get("minifasnet_v2")
    lying = dataclasses.replace(SPEC, size=v2.size, url=f"{file_server}/{v2.relative_path}")
    store = ModelStore(None, tmp_path)
    with pytest.raises(ModelIntegrityError, match="refusing it"):
        store.download(lying)
    assert list(tmp_path.rglob("*")) == [tmp_path / SPEC.subdir]


def test_download_larger_than_expected_is_cut_off(tmp_path: Path, file_server: str) -> None:
    v2 = load_manifest().get("minifasnet_v2")
    small = dataclasses.replace(SPEC, url=f"{file_server}/{v2.relative_path}")
    with pytest.raises(ModelIntegrityError, match="larger than the expected"):
        ModelStore(None, tmp_path).download(small)
    assert not (tmp_path / SPEC.subdir / SPEC.file).exists()


def test_sha256_of_streams_the_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    (tmp_path / "f").write_bytes(data)
    assert sha256_of(tmp_path / "f") == hashlib.sha256(data).hexdigest()


def test_only_http_urls_are_fetched(tmp_path: Path, model_dir: Path) -> None:
    local_file = dataclasses.replace(SPEC, url=(model_dir / SPEC.relative_path).as_uri())
    with pytest.raises(ModelUnavailableError, match=r"is not http\(s\)"):
        ModelStore(None, tmp_path).download(local_file)
