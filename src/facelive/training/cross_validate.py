"""Grouped cross-validation of fine-tuning, by source repository (never by image).

    python -m facelive.training.cross_validate DEV.npz TRAIN.npz [--exclude-origin NAME]
        [--epochs N] [--lr X] [--folds K]

The ``.npz`` files come from ``facelive.training.data`` (``build_patches`` + ``save``) for
fas-dev and fas-train. Each fold holds out a group of fas-dev sources; both MiniFASNets are
fine-tuned on everything else (fas-train rows from held-out sources are dropped too) and the
fused score is compared with the upstream weights on the held-out fas-dev rows. This is how
the figures in docs/training.md were made.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx

from facelive.evaluation.metrics import roc_auc
from facelive.models.manifest import load_manifest
from facelive.models.store import ModelStore
from facelive.settings import Settings
from facelive.training.data import PatchSet, load
from facelive.training.onnx_module import OnnxModule
from facelive.training.train import TrainConfig, fine_tune, live_probability


def source_folds(sources: npt.NDArray[np.str_], k: int) -> list[set[str]]:
    """K groups of sources with about equal row counts (largest sources placed first)."""
    folds: list[set[str]] = [set() for _ in range(k)]
    sizes = [0] * k
    for source, count in Counter(sources.tolist()).most_common():
        i = sizes.index(min(sizes))
        folds[i].add(source)
        sizes[i] += count
    return [f for f in folds if f]


def cross_validate(
    dev: PatchSet, train: PatchSet, models: list[onnx.ModelProto], config: TrainConfig, k: int
) -> dict[str, float]:
    base = np.zeros(len(dev))
    tuned = np.zeros(len(dev))
    for n, held in enumerate(source_folds(dev.source, k)):
        test = np.isin(dev.source, list(held))
        fit_dev = dev.subset(~test)
        fit_train = train.subset(~np.isin(train.source, list(held)))
        base_scores, tuned_scores = [], []
        for m, model in enumerate(models):
            x = np.concatenate([fit_dev.patches[m], fit_train.patches[m]])
            y = np.concatenate([fit_dev.live, fit_train.live])
            weights = np.where(y, 0.5 / max(1, y.sum()), 0.5 / max(1, (~y).sum()))
            module = fine_tune(model, x, y, config, weights=weights, log=print)
            tuned_scores.append(live_probability(module, dev.patches[m][test]))
            base_scores.append(live_probability(OnnxModule(model), dev.patches[m][test]))
        base[test], tuned[test] = np.mean(base_scores, 0), np.mean(tuned_scores, 0)
        live = dev.live[test]
        before, after = roc_auc(base[test], live), roc_auc(tuned[test], live)
        print(
            f"fold {n}: {sorted(held)} n={int(test.sum())} "
            f"upstream AUC {before:.4f} fine-tuned {after:.4f}",
            flush=True,
        )
    whole = dev.cropped == "no"
    figures = {
        "upstream_auc": roc_auc(base, dev.live),
        "tuned_auc": roc_auc(tuned, dev.live),
        "upstream_whole_auc": roc_auc(base[whole], dev.live[whole]),
        "tuned_whole_auc": roc_auc(tuned[whole], dev.live[whole]),
    }
    print(" ".join(f"{k} {v:.4f}" for k, v in figures.items()))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dev", type=Path)
    parser.add_argument("train", type=Path)
    parser.add_argument("--exclude-origin", action="append", default=[])
    parser.add_argument("--no-train-set", action="store_true", help="fine-tune on fas-dev only")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(Settings().onnx_threads())
    dev, train = load(args.dev), load(args.train)
    keep = ~np.isin(train.origin, args.exclude_origin)
    if args.no_train_set:
        keep[:] = False
    store = ModelStore.from_settings(Settings())
    models = [onnx.load(store.path_for(spec)) for spec in load_manifest().liveness]
    config = TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed)
    cross_validate(dev, train.subset(keep), models, config, args.folds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
