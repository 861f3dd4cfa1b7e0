"""``facelive eval``: score a labelled manifest and print, or write, the accuracy figures."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from facelive.errors import FaceliveError
from facelive.evaluation.report import render_text, report, write_scores_csv
from facelive.evaluation.runner import read_manifest, score_rows
from facelive.settings import Settings


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    from facelive.pipeline.checker import LivenessChecker

    manifest: Path = args.manifest
    try:
        rows = list(read_manifest(manifest))  # rows only; images are read one at a time
        checker = LivenessChecker.from_settings(settings)
    except (OSError, ValueError) as exc:
        print(f"facelive: {exc}", file=sys.stderr)
        return 1
    except FaceliveError as exc:
        print(f"facelive: {exc.msg}", file=sys.stderr)
        return 1
    thresh = settings.thresh if args.thresh is None else args.thresh
    with tqdm(total=len(rows), unit="img", file=sys.stderr, disable=None) as bar:
        scored = score_rows(rows, checker, on_done=lambda _: bar.update())
    rep = report(scored, thresh)
    print(render_text(rep))
    if args.out is not None:
        out: Path = args.out
        out.mkdir(parents=True, exist_ok=True)
        write_scores_csv(scored, out / "scores.csv")
        (out / "report.json").write_text(json.dumps(rep, indent=2) + "\n", encoding="utf-8")
        written = [out / "scores.csv", out / "report.json"]
        if args.plot:
            from facelive.evaluation.plots import write_plots

            written += write_plots(scored, thresh, out)
        print("wrote " + ", ".join(str(p) for p in written))
    elif args.plot:
        print("facelive: --plot needs --out DIR", file=sys.stderr)
        return 2
    return 0
