"""Project-wide rules: import layering, light imports, public surface, documented settings."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import facelive
from facelive.settings import Settings

SRC = Path(__file__).resolve().parents[1] / "src" / "facelive"
DOCS = Path(__file__).resolve().parents[1] / "docs"

# package -> facelive packages/modules it must never import
FORBIDDEN = {
    "pipeline": {"facelive.cli", "facelive.api", "facelive.auth", "facelive.envelope"},
    "api": {"facelive.cli", "onnxruntime", "cv2", "numpy"},
    "auth": {"facelive.cli", "facelive.api", "facelive.pipeline", "onnxruntime", "cv2"},
    "models": {"facelive.cli", "facelive.api", "facelive.auth", "facelive.pipeline"},
    "types": {"facelive.pipeline", "facelive.models", "facelive.cli", "facelive.api"},
    "errors": {"facelive.pipeline", "facelive.models", "facelive.cli", "facelive.api"},
    # The HTTP client stands alone (standard library only), so it can be copied on its own.
    "client": {"facelive", "numpy", "cv2", "onnxruntime", "fastapi", "starlette"},
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_imports_run_one_way() -> None:
    offences = []
    for area, banned in FORBIDDEN.items():
        files = (
            [SRC / f"{area}.py"] if (SRC / f"{area}.py").exists() else (SRC / area).rglob("*.py")
        )
        for path in files:
            for name in imports_of(path):
                if any(name == b or name.startswith(b + ".") for b in banned):
                    offences.append(f"{path.relative_to(SRC)} imports {name}")
    assert offences == []


def test_only_the_training_package_imports_torch() -> None:
    for path in SRC.rglob("*.py"):
        if path.is_relative_to(SRC / "training"):
            continue
        names = imports_of(path)
        assert not any(n.split(".")[0] == "torch" for n in names), path
        if path == SRC / "train_cli.py":
            continue  # the `facelive train` adapter, which imports it only when run
        assert not any(n.startswith("facelive.training") for n in names), path


def test_importing_the_package_is_light() -> None:
    code = (
        "import sys, facelive, facelive.cli, facelive.settings, facelive.envelope,"
        " facelive.api.app, facelive.serve, facelive.keys_cli, facelive.client;"
        "heavy = {'onnxruntime', 'cv2'} & set(sys.modules); print(sorted(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={}
    )
    assert out.stdout.strip() == "[]"


def test_public_surface_is_pinned() -> None:
    assert facelive.__all__ == [
        "BadImageError",
        "CheckResult",
        "FaceliveError",
        "InternalError",
        "InvalidThresholdError",
        "ModelUnavailableError",
        "NoFaceError",
        "__version__",
    ]


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [
        f"FACELIVE_{name.upper()}"
        for name in Settings.model_fields
        if f"`FACELIVE_{name.upper()}`" not in text
    ]
    assert missing == []


def test_every_setting_has_a_description() -> None:
    assert all(field.description for field in Settings.model_fields.values())


def test_every_setting_has_a_serve_flag() -> None:
    from facelive.cli import build_parser

    parser = build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr,index]
    flags = {opt for action in serve._actions for opt in action.option_strings}
    assert {"--" + n.replace("_", "-") for n in Settings.model_fields} <= flags
