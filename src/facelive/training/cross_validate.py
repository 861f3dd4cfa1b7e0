"""Grouped cross-validation of training, by source repository (never by image).

Each fold holds out a group of sources of the evaluated manifest(s); every model is
trained on everything else (rows of the held-out sources in the other manifests are
dropped too, since fas-dev and fas-train share source repositories) and scored on the
held-out rows. The out-of-fold scores are what a model would do on sources it never saw.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnx

from facelive.evaluation.metrics import roc_auc
from facelive.training.config import Recipe, TrainConfig
from facelive.training.data import PatchSet
from facelive.training.head import EmbeddingMemo, fit_head
from facelive.training.onnx_module import OnnxModule
from facelive.training.train import fine_tune, live_probability, sample_weights


@dataclass(frozen=True, slots=True)
class Fold:
    held_out: tuple[str, ...]
    rows: npt.NDArray[np.bool_]  # mask over the evaluated rows
    upstream_auc: float
    tuned_auc: float


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """Per-model live probabilities (models, rows) of the upstream and the fine-tuned weights."""

    folds: tuple[Fold, ...]
    upstream: npt.NDArray[np.float64]
    tuned: npt.NDArray[np.float64]

    def published_scores(self, rows: tuple[int, ...] | None = None) -> npt.NDArray[np.float64]:
        """The baseline per row: the mean of the upstream models of ``rows`` (all: ``None``)."""
        chosen = self.upstream if rows is None else self.upstream[list(rows)]
        return np.asarray(chosen.mean(0), np.float64)

    def profile_scores(
        self,
        upstream_rows: tuple[int, ...] = (),
        tight_only: tuple[int, ...] = (),
        tight: npt.NDArray[np.bool_] | None = None,
    ) -> npt.NDArray[np.float64]:
        """The profile's raw score per row: the mean over its models, the fine-tuned ones and
        the upstream bases of ``upstream_rows``, as inference fuses them: the fine-tuned
        models of ``tight_only`` count only on rows that are ``tight`` crops."""
        models = np.concatenate([self.upstream[list(upstream_rows)], self.tuned])
        used = np.ones(models.shape, bool)
        if tight_only:
            rows = np.ones(models.shape[1], bool) if tight is None else tight
            for m in tight_only:
                used[len(upstream_rows) + m] = rows
        return np.asarray((models * used).sum(0) / used.sum(0), np.float64)


def source_folds(sources: npt.NDArray[np.str_], k: int) -> list[set[str]]:
    """K groups of sources with about equal row counts (largest sources placed first)."""
    folds: list[set[str]] = [set() for _ in range(k)]
    sizes = [0] * k
    for source, count in Counter(sources.tolist()).most_common():
        i = sizes.index(min(sizes))
        folds[i].add(source)
        sizes[i] += count
    return [f for f in folds if f]


def fit(
    bases: list[onnx.ModelProto],
    data: PatchSet,
    config: TrainConfig,
    log: Callable[[str], object] | None = None,
    recipes: Sequence[Recipe] | None = None,
    memo: EmbeddingMemo | None = None,
) -> list[OnnxModule]:
    """Trains ``bases[m]`` on ``data.patches[m]`` for every model ``m`` as ``recipes[m]`` says
    (default: fine-tuned, moved back towards the base by ``config.interpolation``): every
    layer fine-tuned and moved back by its fraction, or a new final layer ("head")."""
    weights = sample_weights(data.source, data.live, data.whole_frame, config)
    plans = recipes or [Recipe("fine_tune", config.interpolation, config.head_c)] * len(bases)
    modules = []
    for m, (base, plan) in enumerate(zip(bases, plans, strict=True)):
        if plan.method == "head":
            modules.append(
                fit_head(
                    base, data.patches[m], data.live, weights, plan.head_c, config.live_class, memo
                )
            )
            if log is not None:
                log(f"model {m + 1}: final layer fitted on {len(data)} patches and their mirrors")
            continue
        modules.append(
            fine_tune(
                base,
                data.patches[m],
                data.live,
                dataclasses.replace(config, interpolation=plan.interpolation),
                weights=weights,
                log=log,
            )
        )
    return modules


def cross_validate(
    evaluated: PatchSet,
    extra: PatchSet | None,
    bases: list[onnx.ModelProto],
    config: TrainConfig,
    k: int,
    log: Callable[[str], object] = print,
    recipes: Sequence[Recipe] | None = None,
    memo: EmbeddingMemo | None = None,
) -> CrossValidation:
    upstream = np.zeros((len(bases), len(evaluated)))
    tuned = np.zeros((len(bases), len(evaluated)))
    folds = []
    for n, held in enumerate(source_folds(evaluated.source, k)):
        test = np.isin(evaluated.source, list(held))
        parts = [evaluated.subset(~test)]
        if extra is not None:
            parts.append(extra.subset(~np.isin(extra.source, list(held))))
        log(f"fold {n + 1}/{k}: holding out {sorted(held)} ({int(test.sum())} rows)")
        modules = fit(bases, PatchSet.concat(parts), config, log, recipes, memo)
        for m, (base, module) in enumerate(zip(bases, modules, strict=True)):
            patches = evaluated.patches[m][test]
            upstream[m, test] = live_probability(OnnxModule(base), patches, config.live_class)
            tuned[m, test] = live_probability(module, patches, config.live_class)
        live = evaluated.live[test]
        fold = Fold(
            tuple(sorted(held)),
            test,
            roc_auc(upstream[:, test].mean(0), live),
            roc_auc(tuned[:, test].mean(0), live),
        )
        log(f"fold {n + 1}: upstream AUC {fold.upstream_auc:.4f}, trained {fold.tuned_auc:.4f}")
        folds.append(fold)
    return CrossValidation(tuple(folds), upstream, tuned)
