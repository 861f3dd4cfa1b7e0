"""``facelive train``: the CLI adapter over ``facelive.training`` (PyTorch, optional extra)."""

from __future__ import annotations

import argparse
import importlib.util
import sys

from facelive.settings import Settings


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("onnx") is None:
        print(
            "facelive train needs PyTorch and onnx: pip install 'facelive[train]'", file=sys.stderr
        )
        return 2
    from facelive.training.config import load_config
    from facelive.training.run import run
    from facelive.training.ship import ship

    try:
        config = load_config(args.config)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"facelive train: bad config {args.config}: {exc}", file=sys.stderr)
        return 2
    report = run(config, settings, cv=not args.no_cv)
    if args.ship:
        for line in ship(config.out_dir, report):
            print(line)
    return 0
