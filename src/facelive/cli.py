"""The ``facelive`` command line: a thin adapter over the pipeline and the model store.

Exit statuses: 0 when every image was scored (live or not) and every model is in place;
1 when any image failed (unreadable, bad image, no face, internal error) or a model is
missing or corrupt; 2 for wrong usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from facelive import __version__
from facelive.envelope import build_envelope, new_request_id
from facelive.errors import BadImageError, FaceliveError
from facelive.keys_cli import add_key_commands
from facelive.models.manifest import load_manifest
from facelive.models.store import FileState, ModelStore
from facelive.settings import Settings


def _thresh(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facelive", description="Face liveness (presentation-attack) detection on CPU."
    )
    parser.add_argument("--version", action="version", version=f"facelive {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="judge whether the face in each image is live")
    check.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    check.add_argument(
        "--thresh", type=_thresh, default=None, help="live if score > THRESH (default 0.8)"
    )
    check.add_argument("--json", action="store_true", help="one JSON envelope per line")

    models = commands.add_parser("models", help="list, fetch or verify the model files")
    models.add_argument("action", choices=["list", "fetch", "verify"])

    evaluate = commands.add_parser(
        "eval", help="ISO/IEC 30107-3 figures over a labelled manifest (file,label,attack)"
    )
    evaluate.add_argument("manifest", type=Path, metavar="MANIFEST.csv")
    evaluate.add_argument("--thresh", type=_thresh, default=None, help="default: 0.8")
    evaluate.add_argument("--out", type=Path, help="write scores.csv and report.json here")
    evaluate.add_argument("--plot", action="store_true", help="also write det.png, histogram.png")

    train = commands.add_parser(
        "train",
        help="fine-tune the liveness models (needs facelive[train]); see docs/training.md",
    )
    train.add_argument("config", type=Path, metavar="CONFIG.toml")
    train.add_argument(
        "--no-cv", action="store_true", help="skip grouped cross-validation (final fit only)"
    )
    train.add_argument(
        "--ship",
        action="store_true",
        help="install the result as the package's default models (weights/ and the manifest)",
    )

    serve = commands.add_parser(
        "serve",
        help="run the HTTP service",
        description="Every setting has a flag and a FACELIVE_* variable; flags win.",
    )
    for name, field in Settings.model_fields.items():
        # One flag per setting, so the command line and the environment never disagree.
        serve.add_argument(
            "--" + name.replace("_", "-"),
            dest=f"setting_{name}",
            metavar=name.upper(),
            help=f"{field.description} (FACELIVE_{name.upper()})",
        )

    bench = commands.add_parser(
        "bench",
        help="run the benchmark suite (from a source checkout; python -m bench --help)",
        add_help=False,
    )
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, metavar="...")

    keys = commands.add_parser("keys", help="manage API keys, their limits and usage")
    add_key_commands(keys)
    return parser


def _check_one(checker: Any, path: Path, thresh: float | None) -> dict[str, Any]:
    request_id = new_request_id()
    try:
        data = path.read_bytes()
    except OSError as exc:
        error: FaceliveError = BadImageError(
            f"cannot read file: {exc.strerror or exc}", "无法读取图片文件"
        )
        return {"file": str(path), **build_envelope(request_id, error)}
    try:
        outcome = checker.check(data, thresh)
    except FaceliveError as exc:
        return {"file": str(path), **build_envelope(request_id, exc)}
    envelope = build_envelope(request_id, outcome)
    envelope["faces"] = outcome.face_count
    envelope["total_ms"] = outcome.times.total_ms
    return {"file": str(path), **envelope}


def _print_table(rows: list[dict[str, Any]]) -> None:
    headers = ("file", "code", "score", "live", "faces", "ms", "message")
    table = [headers]
    for row in rows:
        data = row["data"] or {}
        table.append(
            (
                row["file"],
                str(row["code"]),
                f"{data['liveness_score']:.4f}" if data else "-",
                ("yes" if data["is_live"] else "no") if data else "-",
                str(row.get("faces", "-")),
                f"{row['total_ms']:.1f}" if "total_ms" in row else "-",
                row["msg"],
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(headers) - 1)]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    from facelive.pipeline.checker import LivenessChecker

    try:
        checker = LivenessChecker.from_settings(settings)
    except FaceliveError as exc:
        print(f"facelive: {exc.msg}", file=sys.stderr)
        return 1
    except ValueError as exc:  # for example an unknown name in FACELIVE_EXTRA_MODELS
        print(f"facelive: {exc}", file=sys.stderr)
        return 2
    rows = []
    for path in args.images:
        row = _check_one(checker, path, args.thresh)
        rows.append(row)
        if args.json:
            print(json.dumps(row, ensure_ascii=False), flush=True)
    if not args.json:
        _print_table(rows)
    failed = any(row["code"] not in (200, 4004, 4005) for row in rows)
    return 1 if failed else 0


def run_models(args: argparse.Namespace, settings: Settings) -> int:
    store = ModelStore.from_settings(settings)
    manifest = load_manifest()
    try:
        in_use = manifest.in_use(settings.model_profile, settings.extra_models)
    except ValueError as exc:
        print(f"facelive: FACELIVE_MODEL_PROFILE or FACELIVE_EXTRA_MODELS: {exc}", file=sys.stderr)
        return 2
    ok = True
    if args.action == "list":
        named = [
            p + (" (default)" if p == manifest.default_profile else "") for p in manifest.profiles
        ]
        print(f"profiles: {', '.join(named)}; * marks the models in use now")
    # list shows every model; fetch and verify only those the pipeline will load.
    for spec in manifest.models if args.action == "list" else in_use:
        if args.action == "fetch":
            try:
                path = store.path_for(spec)
                print(f"{spec.name:16} ok       {path}")
            except FaceliveError as exc:
                ok = False
                print(f"{spec.name:16} FAILED   {exc.msg}")
            continue
        status = store.status(spec)
        if args.action == "list":
            where = str(status.path) if status.path else f"(not found) {spec.url}"
            profiles = [name for name, chosen in manifest.profiles.items() if spec in chosen]
            use = "opt-in" if spec.optional else ("/".join(profiles) or "all")
            mark = "*" if spec in in_use else " "
            print(f"{mark}{spec.name:18} {spec.role:9} {use:9} {spec.size:>9} B  {where}")
            print(f"{'':19} licence: {spec.licence}")
            if not spec.commercial_use:
                print(f"{'':19} NOT CLEARED FOR COMMERCIAL USE: see its training data's terms")
        else:
            ok = ok and status.state is FileState.OK
            print(f"{spec.name:16} {status.state.value:8} {status.path or spec.relative_path}")
    return 0 if ok else 1


def run_bench(argv: list[str]) -> int:
    """The benchmark lives in the repository's ``bench/`` (it needs fas-dev and the source
    tree), not in the installed package: run from the repository root."""
    root = Path.cwd()
    if not (root / "bench" / "__main__.py").is_file():
        print(
            "facelive bench: run it from the root of a facelive source checkout "
            "(bench/ is not part of the installed package)",
            file=sys.stderr,
        )
        return 2
    sys.path.insert(0, str(root))
    from bench.__main__ import main as bench_main

    return bench_main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["bench"]:  # every later argument is the benchmark's own (argparse would
        return run_bench(given[1:])  # take a leading --flag for one of facelive's)
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from facelive.serve import run_serve

        overrides = {
            name: getattr(args, f"setting_{name}")
            for name in Settings.model_fields
            if getattr(args, f"setting_{name}") is not None
        }
        return run_serve(overrides)
    settings = Settings()
    if args.command == "check":
        return run_check(args, settings)
    if args.command == "eval":
        from facelive.eval_cli import run_eval

        return run_eval(args, settings)
    if args.command == "train":
        from facelive.train_cli import run_train

        return run_train(args, settings)
    if args.command == "keys":
        from facelive.keys_cli import run_keys

        return run_keys(args, settings)
    return run_models(args, settings)


if __name__ == "__main__":
    sys.exit(main())
