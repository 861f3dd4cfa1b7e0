"""The training building blocks: the ONNX graph in PyTorch, augmentations, patches."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from facelive.models.manifest import load_manifest
from facelive.pipeline.checker import LivenessChecker
from facelive.training.augment import augment_patch
from facelive.training.base_graph import in_training_conventions
from facelive.training.config import Recipe, TrainConfig
from facelive.training.data import build_patches, load, save
from facelive.training.head import final_layer
from facelive.training.onnx_module import OnnxModule
from facelive.training.train import fine_tune, live_probability

MODELS = ("MiniFASNetV2", "MiniFASNetV1SE")


def batch(n: int = 4) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, (n, 3, 80, 80)).astype(np.float32)


def ort_logits(model: bytes | str, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"input": x[i : i + 1]})[0] for i in range(len(x))])


@pytest.mark.parametrize("name", MODELS)
def test_graph_in_torch_matches_onnx_runtime(model_dir: Path, name: str) -> None:
    path = model_dir / "minifasnet" / f"{name}.onnx"
    module = OnnxModule(onnx.load(path)).eval()
    x = batch()
    with torch.no_grad():
        ours = module(torch.from_numpy(x)).numpy()
    assert np.abs(ours - ort_logits(str(path), x)).max() < 1e-4


@pytest.mark.parametrize("name", MODELS)
def test_trained_weights_go_back_into_the_same_graph(model_dir: Path, name: str) -> None:
    model = onnx.load(model_dir / "minifasnet" / f"{name}.onnx")
    module = OnnxModule(model)
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(1.01)
    x = batch(2)
    with torch.no_grad():
        ours = module.eval()(torch.from_numpy(x)).numpy()
    written = module.write_back(model)
    assert [n.op_type for n in written.graph.node] == [n.op_type for n in model.graph.node]
    assert np.abs(ort_logits(written.SerializeToString(), x) - ours).max() < 1e-3


def test_unsupported_operators_are_refused() -> None:
    node = onnx.helper.make_node("Softmax", ["x"], ["y"])
    graph = onnx.helper.make_graph(
        [node],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3])],
    )
    with pytest.raises(ValueError, match="Softmax"):
        OnnxModule(onnx.helper.make_model(graph))


def test_a_base_of_other_conventions_is_rewritten_without_changing_its_scores(
    model_dir: Path,
) -> None:
    """facenox reads RGB / 255 with live at class 0; rewritten, it reads BGR 0..255 with live
    at class 1 like MiniFASNet, and judges every patch as before, in PyTorch too."""
    manifest = load_manifest()
    spec = manifest.get("facenox_minifas128")
    published = onnx.load(model_dir / spec.relative_path)
    rewritten = in_training_conventions(published, spec)
    assert rewritten.opset_import[0].version >= 17
    final_layer(rewritten)  # ends in BatchNormalization -> MatMul, so a probe can go in
    bgr = np.random.default_rng(1).integers(0, 256, (6, 128, 128, 3)).astype(np.uint8)
    rgb = (bgr[..., ::-1].transpose(0, 3, 1, 2) / 255.0).astype(np.float32)
    before = torch.softmax(torch.from_numpy(ort_logits(published.SerializeToString(), rgb)), 1)
    after = live_probability(OnnxModule(rewritten), bgr)
    assert np.abs(before[:, 0].numpy() - after).max() < 1e-5
    raw = np.ascontiguousarray(bgr.transpose(0, 3, 1, 2)).astype(np.float32)
    in_ort = torch.softmax(torch.from_numpy(ort_logits(rewritten.SerializeToString(), raw)), 1)
    assert np.abs(in_ort[:, 1].numpy() - after).max() < 1e-5
    # MiniFASNet already follows the conventions: it is used as published.
    v2 = manifest.get("minifasnet_v2")
    graph = onnx.load(model_dir / v2.relative_path)
    assert in_training_conventions(graph, v2) is graph


def test_augmentation_is_seeded_and_keeps_the_patch_shape() -> None:
    patch = np.random.default_rng(1).integers(0, 255, (80, 80, 3), dtype=np.uint8)
    one = [augment_patch(patch, np.random.default_rng(5)) for _ in range(2)]
    assert np.array_equal(one[0], one[1])
    outs = [augment_patch(patch, np.random.default_rng(s)) for s in range(20)]
    assert all(o.shape == (80, 80, 3) and o.dtype == np.uint8 for o in outs)
    assert len({o.tobytes() for o in outs}) > 15


def test_patches_are_cut_exactly_as_inference_cuts_them(
    checker: LivenessChecker, fas_dev: Path, fas_dev_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    frames = [r for r in fas_dev_rows if r["cropped"] == "no"]
    # Two small frames and a JPEG large enough to be decoded at reduced size by a check.
    large = next(r for r in frames if max(int(r["width"]), int(r["height"])) >= 1280)
    rows = [*frames[:2], large]
    manifest = tmp_path / "m.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow({**r, "file": str(fas_dev / r["file"])})
    patches, skipped = build_patches(manifest, checker)
    assert skipped == 0 and len(patches) == 3
    # Each model that judged the image in a real check scores its training patch the same.
    names = [m.name for m in checker.models]
    for i, row in enumerate(rows):
        result = checker.check((fas_dev / row["file"]).read_bytes())
        assert result.model_scores
        for score in result.model_scores:
            model = checker.models[names.index(score.model)]
            patch = patches.patches[names.index(score.model)][i]
            assert model.predict(patch).live == score.live
    save(patches, tmp_path / "p.npz")
    again = load(tmp_path / "p.npz")
    assert np.array_equal(again.patches[1], patches.patches[1])
    assert list(again.live) == [r["label"] == "live" for r in rows]


def test_fine_tuning_moves_scores_towards_the_labels(model_dir: Path) -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(3)
    # A toy task: bright patches are "live", dark ones "attacks".
    bright = rng.integers(150, 255, (32, 80, 80, 3), dtype=np.uint8)
    dark = rng.integers(0, 90, (32, 80, 80, 3), dtype=np.uint8)
    patches = np.concatenate([bright, dark])
    live = np.array([True] * 32 + [False] * 32)
    model = onnx.load(model_dir / "minifasnet" / "MiniFASNetV2.onnx")
    before = live_probability(OnnxModule(model), patches)
    tuned = fine_tune(model, patches, live, TrainConfig(epochs=2, batch_size=16, lr=1e-3))
    after = live_probability(tuned, patches)
    gap_before = before[live].mean() - before[~live].mean()
    gap_after = after[live].mean() - after[~live].mean()
    assert gap_after > gap_before + 0.1


def test_source_folds_are_balanced_and_disjoint() -> None:
    from facelive.training.cross_validate import source_folds

    sources = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20 + ["d"] * 10 + ["e"] * 5)
    folds = source_folds(sources, 3)
    assert set().union(*folds) == {"a", "b", "c", "d", "e"}
    assert sum(len(f) for f in folds) == 5
    assert {"a"} in folds  # the largest source is a fold of its own


def test_cross_validation_scores_every_row_out_of_fold(model_dir: Path) -> None:
    from facelive.training.cross_validate import cross_validate
    from facelive.training.data import PatchSet

    torch.set_num_threads(1)
    rng = np.random.default_rng(4)

    def patch_set(n: int, sources: list[str]) -> PatchSet:
        live = np.arange(n) % 2 == 0
        patches = rng.integers(0, 255, (n, 80, 80, 3), dtype=np.uint8)
        patches[live] //= 2  # something to learn
        src = np.array([sources[(i // 2) % len(sources)] for i in range(n)])
        text = np.array([""] * n)
        attack = np.where(live, "none", "print")
        return PatchSet(
            (patches, patches.copy()),
            live,
            attack,
            src,
            text,
            np.array(["no"] * n),
            text,
            np.full(n, 0.5),
        )

    models = [onnx.load(model_dir / "minifasnet" / f"{m}.onnx") for m in MODELS]
    evaluated = patch_set(24, ["s1", "s2"])
    result = cross_validate(
        evaluated, patch_set(16, ["s1", "t"]), models, TrainConfig(epochs=1, batch_size=8), 2
    )
    assert [f.held_out for f in result.folds] == [("s1",), ("s2",)]
    # Every row is held out exactly once.
    assert (np.sum([f.rows for f in result.folds], axis=0) == 1).all()
    assert result.tuned.shape == result.upstream.shape == (2, 24)
    assert ((result.tuned > 0) & (result.tuned < 1)).all()
    assert not np.allclose(result.tuned, result.upstream)
    assert all(0.0 <= f.tuned_auc <= 1.0 for f in result.folds)


def test_sampling_balances_classes_and_damps_large_sources() -> None:
    from facelive.training.train import sample_weights

    source = np.array(["big"] * 90 + ["small"] * 10 + ["big"] * 20)
    live = np.array([False] * 100 + [True] * 20)
    whole = np.zeros(120, bool)
    w = sample_weights(source, live, whole, TrainConfig())
    assert w.sum() == pytest.approx(1.0)
    assert w[live].sum() == pytest.approx(0.5)
    # sqrt weighting: the 90-row source gets 3x the 10-row one's share, not 9x.
    assert w[:90].sum() / w[90:100].sum() == pytest.approx(3.0)
    plain = sample_weights(source, live, whole, TrainConfig(source_balance="none"))
    assert plain[:90].sum() / plain[90:100].sum() == pytest.approx(9.0)
    boosted = sample_weights(source, live, np.arange(120) == 0, TrainConfig(whole_frame_boost=3))
    assert boosted[0] == pytest.approx(3 * boosted[1])


def test_interpolation_lands_between_the_upstream_and_the_fine_tuned_weights(
    model_dir: Path,
) -> None:
    from facelive.training.train import interpolate

    model = onnx.load(model_dir / "minifasnet" / "MiniFASNetV2.onnx")
    tuned = OnnxModule(model)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(1.0)
    half = interpolate(OnnxModule(model), tuned, 0.5)
    base = OnnxModule(model)
    for name, param in half.params.items():
        expected = base.params[name] + 0.5 * (tuned.params[name] - base.params[name])
        assert torch.allclose(param, expected)


def test_fit_moves_each_model_back_by_its_own_fraction(model_dir: Path) -> None:
    """Same seed, same data: a model at fraction 0.5 is exactly halfway between its base and
    the same fine-tuning kept whole (fraction 1.0)."""
    from facelive.training.cross_validate import fit
    from facelive.training.data import PatchSet

    rng = np.random.default_rng(1)
    n = 16
    patches = rng.integers(0, 256, (n, 80, 80, 3), dtype=np.uint8)
    text = np.array(["x"] * n)
    data = PatchSet(
        (patches,),
        np.arange(n) % 2 == 0,
        np.array(["none", "print"] * (n // 2)),
        np.array(["s1"] * n),
        text,
        np.array(["no"] * n),
        text,
        np.full(n, 0.5),
    )
    model = onnx.load(model_dir / "minifasnet" / "MiniFASNetV2.onnx")
    config = TrainConfig(epochs=1, batch_size=8, interpolation=0.5)
    (whole,) = fit([model], data, config, recipes=[Recipe("fine_tune", 1.0, config.head_c)])
    (half,) = fit([model], data, config)  # the run's own fraction
    base = OnnxModule(model)
    changed = 0
    for name, param in half.params.items():
        expected = base.params[name] + 0.5 * (whole.params[name] - base.params[name])
        assert torch.allclose(param, expected, atol=1e-6)
        changed += int(not torch.equal(whole.params[name], base.params[name]))
    assert changed > 0
