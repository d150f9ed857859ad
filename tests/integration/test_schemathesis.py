"""Schemathesis over the gateway's own OpenAPI description, against a live stack: whatever it
generates — valid-looking, malformed, unknown models, bad priorities — gets a documented status
with a body in the protocol's shape, never a 5xx, never a hang."""

from __future__ import annotations

import copy
from importlib.resources import files

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.conftest import CHAT, EMBED, make_profile

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _spec() -> dict:
    spec = yaml.safe_load(files("sollol.api").joinpath("openapi.yaml").read_text())
    spec = copy.deepcopy(spec)
    # Test-only bounds: the gateway accepts any num_predict/max_tokens (as Ollama does), but an
    # answer of 10**18 tokens would just be slow, not wrong.
    spec["components"]["schemas"]["Options"]["properties"]["num_predict"].update(
        minimum=-1, maximum=16
    )
    for name in ("OpenAIChatRequest", "OpenAICompletionRequest"):
        spec["components"]["schemas"][name]["properties"]["max_tokens"].update(maximum=16)
    spec["servers"] = []
    # operations that change the fleet (delete or create models, cancel jobs) would pull the
    # models from under the other cases: their bad input is tested in test_models.py/test_batch.py
    for path, ops in list(spec["paths"].items()):
        for method in [m for m, op in ops.items() if "changes-state" in op.get("tags", [])]:
            del ops[method]
        if not ops:
            del spec["paths"][path]
    return spec


schema = schemathesis.openapi.from_dict(_spec())


@pytest.fixture(scope="module")
def live(live_factory):
    return live_factory(
        make_profile(
            [
                {
                    "name": "alpha",
                    "num_parallel": 4,
                    "models": {"llama3.2": CHAT, "nomic-embed-text": EMBED},
                    "loaded": ["llama3.2"],
                },
            ],
            time_scale=0.01,
        )
    )


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_gateway_conforms_to_its_openapi_description(case, live):
    case.call_and_validate(
        base_url=live.url,
        timeout=30,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
