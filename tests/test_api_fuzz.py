"""Property-based tests of the HTTP API from its own OpenAPI schema (schemathesis, in-process
ASGI, the real searcher): whatever the generated request, valid or not, no 5xx, every error in
the contract's shape, and every documented response matches its schema.

Each operation gets its own bounded hypothesis run (schemathesis' lazy ``from_fixture``
parametrisation does not work with pytest 9, so the operations are walked here).
"""
from __future__ import annotations

from dataclasses import replace

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from wenda.api.server import create_app
from wenda.api.settings import Settings

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25          # per operation and generation mode


@pytest.fixture(scope="module")
def api_schema(seeds_index, cache_dir, searcher):
    app = create_app(replace(Settings(index_dir=seeds_index, cache_dir=cache_dir), request_timeout_s=300.0),
                     searcher=searcher)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def check_case(case) -> None:
    response = case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), response.text


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors(api_schema, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert {"GET /api/search", "POST /api/ask", "GET /api/documents/{source}", "GET /api/passages/{passage_id}"} <= labels
    failures = []
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  phases=[Phase.explicit, Phase.generate], derandomize=True)
        def run(case):
            check_case(case)

        try:
            run()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE      # nothing invalid to send (no parameters)
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
