"""Fine-tuning one MiniFASNet on patches, and scoring patches with it (PyTorch, CPU)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import onnx
import torch

from facelive.training.augment import augment_patch
from facelive.training.config import TrainConfig
from facelive.training.onnx_module import OnnxModule


def sample_weights(
    source: npt.NDArray[np.str_],
    live: npt.NDArray[np.bool_],
    whole_frame: npt.NDArray[np.bool_],
    config: TrainConfig,
) -> npt.NDArray[np.float64]:
    """Sampling probabilities: live and attack half each; see ``TrainConfig`` for the rest."""
    groups = np.char.add(np.char.add(source.astype(str), "|"), live.astype(str))
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    sqrt = config.source_balance == "sqrt"
    per_group = np.sqrt(counts) / counts if sqrt else np.ones(len(counts))
    weights = per_group[inverse] * np.where(whole_frame, config.whole_frame_boost, 1.0)
    for cls in (True, False):
        chosen = live == cls
        if chosen.any():
            weights[chosen] *= 0.5 / weights[chosen].sum()
    return np.asarray(weights / weights.sum(), np.float64)


def _tensor(patches: npt.NDArray[np.uint8]) -> torch.Tensor:
    """(N, 80, 80, 3) uint8 BGR -> (N, 3, 80, 80) float32, raw 0..255 as the models expect."""
    return torch.from_numpy(np.ascontiguousarray(patches.transpose(0, 3, 1, 2)).astype(np.float32))


def outputs(
    module: OnnxModule, patches: npt.NDArray[np.uint8], name: str | None = None
) -> list[torch.Tensor]:
    """The graph's output (or its inner tensor ``name``) for ``patches``, 256 at a time, in
    evaluation mode and without gradients."""
    module.eval()
    with torch.no_grad():
        return [
            module(_tensor(patches[start : start + 256]), name)
            for start in range(0, len(patches), 256)
        ]


def live_probability(
    module: OnnxModule, patches: npt.NDArray[np.uint8], live_class: int = 1
) -> npt.NDArray[np.float64]:
    out = [
        torch.softmax(logits, dim=1)[:, live_class].double().numpy()
        for logits in outputs(module, patches)
    ]
    return np.concatenate(out) if out else np.zeros(0)


def fine_tune(
    model: onnx.ModelProto,
    patches: npt.NDArray[np.uint8],
    live: npt.NDArray[np.bool_],
    config: TrainConfig,
    weights: npt.NDArray[np.float64] | None = None,
    log: Callable[[str], object] | None = None,
) -> OnnxModule:
    """Fine-tunes on live-vs-attack with a binary loss on the live class's probability."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    module = OnnxModule(model)
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    steps = config.epochs * max(1, len(patches) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=steps)
    sample_p = None if weights is None else weights / weights.sum()
    target_all = torch.from_numpy(live.astype(np.float32))
    for epoch in range(config.epochs):
        module.train()
        total = 0.0
        for _ in range(max(1, len(patches) // config.batch_size)):
            idx = rng.choice(len(patches), config.batch_size, p=sample_p)
            batch = np.stack([augment_patch(patches[i], rng) for i in idx])
            logits = module(_tensor(batch))
            log_probs = torch.log_softmax(logits, dim=1)
            log_live = log_probs[:, config.live_class]
            log_spoof = torch.log1p(-torch.exp(log_live).clamp(max=1 - 1e-6))
            target = target_all[idx]
            loss = -(target * log_live + (1 - target) * log_spoof).mean()
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            schedule.step()
            total += loss.detach().item()
        if log is not None:
            steps_per_epoch = max(1, len(patches) // config.batch_size)
            log(f"epoch {epoch + 1}/{config.epochs} loss {total / steps_per_epoch:.4f}")
    module.eval()
    if config.interpolation < 1.0:
        return interpolate(OnnxModule(model), module, config.interpolation)
    return module


def interpolate(base: OnnxModule, tuned: OnnxModule, fraction: float) -> OnnxModule:
    """``base + fraction * (tuned - base)``, parameter by parameter (same graph)."""
    with torch.no_grad():
        for name, param in base.params.items():
            param.copy_(param + fraction * (tuned.params[name] - param))
    return base.eval()
