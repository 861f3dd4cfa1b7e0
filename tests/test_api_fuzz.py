"""Fuzzing the HTTP API with schemathesis, from facelive's own ``/openapi.json`` on a real
``facelive serve``: schema-valid and schema-violating requests to every documented operation.
No answer is a server error, each one conforms to the document, and every answer of the
liveness endpoint is the contract's envelope. The budget is in fuzzing.py."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from conftest import UNLIMITED, new_key
from fuzzing import fuzz_settings
from live_server import Credentials, LiveServer, Reply, appcode_header, b64
from test_api_codes import envelope_of

LIVENESS_PATH = "/api/face_liveness/v1"


@pytest.fixture(scope="module")
def fuzz_key(server: LiveServer) -> Credentials:
    """A key whose own rate limit the fuzzer never reaches, so requests get past 4029."""
    return new_key(server, "fuzz", UNLIMITED)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation(
    mode: GenerationMode, server: LiveServer, fuzz_key: Credentials, live_jpeg: bytes
) -> None:
    # The schema is fetched from the running server, as a client would. schemathesis's pytest
    # integration (schema.parametrize, from_fixture) is not used: it breaks on pytest 9.
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    photo = b64(live_jpeg)

    @fuzz_settings(30)
    @given(case=schema.as_strategy(mode), real_photo=st.booleans())
    def exchange(case: Case[Any], real_photo: bool) -> None:
        if mode.is_positive and real_photo and isinstance(case.body, dict):
            case.body["image_base64"] = photo  # so that some cases reach the models
        response = case.call(base_url=server.base_url, headers=appcode_header(fuzz_key), timeout=30)
        # positive_data_acceptance is left out: a schema-valid body is still refused when its
        # image_base64 is no image (4001), which JSON Schema cannot express.
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
        assert response.status_code < 500, response.content[:300]
        if case.path == LIVENESS_PATH:
            headers = {name: values[0] for name, values in response.headers.items()}
            env = envelope_of(Reply(response.status_code, headers, response.content))
            assert env["code"] != 5000

    exchange()
