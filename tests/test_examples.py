"""The example clients in examples/ against the real server, each run as its README says.

Every client here must run: scripts/test installs the toolchains (scripts/toolchains) and a
missing one fails its tests, never skips them. C# has no test: Debian has no .NET SDK
(examples/README.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import new_key
from live_server import Credentials, LiveServer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SAMPLES = "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample"

# client -> (program, its arguments, run in its own folder)
CLIENTS = {
    "python": (sys.executable, ["check.py"], EXAMPLES / "python"),
    "node": ("node", ["check.js"], EXAMPLES / "node"),
    "java": ("java", ["Client.java"], EXAMPLES / "java"),
    "php": ("php", ["check.php"], EXAMPLES / "php"),
    "curl": ("bash", ["check.sh"], EXAMPLES / "curl"),
}


def run(client: str, **env: str) -> tuple[int, dict[str, Any] | None, str]:
    """Runs one client with only PATH, HOME and the given FACELIVE_* variables set."""
    program, args, folder = CLIENTS[client]
    found = shutil.which(program)
    assert found, f"{program} is not installed: scripts/toolchains installs it"
    base = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    proc = subprocess.run(
        [found, *args],
        cwd=folder,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = proc.stdout.strip()
    return proc.returncode, json.loads(out) if out else None, proc.stderr


def auth(creds: Credentials, mode: str) -> dict[str, str]:
    if mode == "appcode":
        return {"FACELIVE_APPCODE": creds.appcode}
    return {"FACELIVE_APP_KEY": creds.app_key, "FACELIVE_APP_SECRET": creds.app_secret}


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("mode", ["appcode", "signed"])
def test_live_and_spoof_in_both_modes(
    server: LiveServer, fas_dev: Path, client: str, mode: str
) -> None:
    env = {"FACELIVE_URL": server.base_url + "/", **auth(new_key(server, client), mode)}
    status, live, err = run(client, FACELIVE_IMAGE=str(fas_dev / SAMPLES / "image_T1.jpg"), **env)
    assert status == 0, err
    assert live is not None and live["code"] == 200 and live["data"]["is_live"] is True
    assert live["data"]["liveness_score"] > 0.8
    status, spoof, err = run(client, FACELIVE_IMAGE=str(fas_dev / SAMPLES / "image_F2.jpg"), **env)
    assert status == 0, err
    assert spoof is not None and spoof["code"] == 4004 and spoof["data"]["is_live"] is False
    assert spoof["success"] is False and spoof["data"]["risk_reason"] == "spoof_suspected"


@pytest.mark.parametrize("client", CLIENTS)
def test_image_url_and_thresh(
    server: LiveServer, fas_dev: Path, image_server: str, client: str
) -> None:
    env = {"FACELIVE_URL": server.base_url, **auth(new_key(server, client), "signed")}
    status, by_url, err = run(
        client, FACELIVE_IMAGE_URL=f"{image_server}/{SAMPLES}/image_T1.jpg", **env
    )
    assert status == 0, err
    assert by_url is not None and by_url["data"]["is_live"] is True
    score = by_url["data"]["liveness_score"]
    strict = f"{min(score + 0.001, 1.0):.6f}"
    image = str(fas_dev / SAMPLES / "image_T1.jpg")
    status, judged, err = run(client, FACELIVE_IMAGE=image, FACELIVE_THRESH=strict, **env)
    assert status == 0, err
    assert judged is not None and judged["code"] == 4004
    assert judged["data"] == {**by_url["data"], "is_live": False, "risk_reason": "spoof_suspected"}


@pytest.mark.parametrize("client", CLIENTS)
def test_errors_exit_non_zero(server: LiveServer, fas_dev: Path, client: str) -> None:
    creds = new_key(server, client)
    image = str(fas_dev / SAMPLES / "image_T1.jpg")
    wrong = Credentials(creds.appcode, creds.app_key, "wrong-secret")
    status, envelope, _ = run(
        client, FACELIVE_URL=server.base_url, FACELIVE_IMAGE=image, **auth(wrong, "signed")
    )
    assert status == 1
    assert envelope is not None and envelope["code"] == 4010 and envelope["success"] is False
    status, envelope, _ = run(
        client, FACELIVE_URL=server.base_url, FACELIVE_THRESH="1.5", FACELIVE_IMAGE=image,
        **auth(creds, "appcode"),
    )  # fmt: skip
    assert status == 1
    assert envelope is not None and envelope["code"] == 4006
    status, envelope, err = run(client, FACELIVE_URL=server.base_url, FACELIVE_IMAGE=image)
    assert (status, envelope) == (2, None)
    assert "FACELIVE_APPCODE" in err
    status, envelope, err = run(client, FACELIVE_URL="http://127.0.0.1:1", FACELIVE_IMAGE=image,
                                **auth(creds, "appcode"))  # fmt: skip
    assert (status, envelope) == (1, None)
    assert "failed" in err


def test_every_variable_the_examples_read_is_documented() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    used = {
        name
        for path in EXAMPLES.rglob("*")
        if path.is_file() and path.name != "README.md"
        for name in re.findall(r"FACELIVE_[A-Z_]+", path.read_text())
    }
    assert {"FACELIVE_URL", "FACELIVE_APPCODE", "FACELIVE_IMAGE"} <= used
    assert sorted(n for n in used if f"`{n}`" not in readme) == []


def test_every_client_is_tested_or_said_not_to_be() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    folders = {p.name for p in EXAMPLES.iterdir() if p.is_dir()}
    assert folders - set(CLIENTS) == {"csharp"}
    assert "not tested" in readme
