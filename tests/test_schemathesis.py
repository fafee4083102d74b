"""Schemathesis over every operation of the OpenAPI document, against a real server on loopback.

Two passes, both bounded (examples per operation, steps per run) so the whole module takes
a few minutes on two cores:

1. every operation alone, with valid and invalid data (schemathesis's positive and negative
   generation): no answer may be a 5xx;
2. stateful runs that follow the document's links: session start's ``session_id`` feeds
   every session operation and a job submission's ``job_id`` the job operations, so real
   ids are exercised, not only unknown ones: no 5xx there either.

The number of operations, cases and 5xx answers is written to
``tests/artifacts/schemathesis.json`` for the record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from tests.live_server import LiveServer  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
EXAMPLES_PER_OPERATION = 25
STATEFUL_EXAMPLES = 15
STATEFUL_STEPS = 12
RECORD: dict = {"operations": 0, "cases": 0, "stateful_calls": 0, "server_errors": []}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    media = tmp_path_factory.mktemp("st-media")
    srv = LiveServer(
        tmp_path_factory.mktemp("st-data"),
        media_root=media,
        max_body_bytes=2 * 1024 * 1024,
        session_idle_timeout_s=0,
    ).start()
    yield srv
    srv.stop()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "schemathesis.json").write_text(json.dumps(RECORD, indent=2))


@pytest.fixture(scope="module")
def schema(server):
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json", timeout=30)


def _note(case, response) -> None:
    if response.status_code >= 500:
        RECORD["server_errors"].append(
            {
                "operation": f"{case.method} {case.path}",
                "status": response.status_code,
                "body": response.text[:300],
                "request": {
                    "path_parameters": case.path_parameters,
                    "query": case.query,
                    "body": repr(case.body)[:300],
                },
            }
        )


def test_every_operation_alone_has_no_server_error(schema):
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 15
    RECORD["operations"] = len(operations)
    failures: list[str] = []
    for op in operations:
        strategy = st.one_of(
            op.as_strategy(generation_mode=GenerationMode.POSITIVE),
            op.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        @given(case=strategy)
        def run(case):
            response = case.call(timeout=120)
            RECORD["cases"] += 1
            _note(case, response)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.path}: {response.status_code}")

        run()
    assert not failures, failures[:20]


def test_linked_operations_with_real_ids_have_no_server_error(schema):
    base = schema.as_state_machine()

    class Machine(base):  # type: ignore[misc, valid-type]
        def validate_response(self, response, case, additional_checks=None, **kwargs):
            RECORD["stateful_calls"] += 1
            _note(case, response)
            assert response.status_code < 500, (case.method, case.path, response.text[:300])

        def get_call_kwargs(self, case):
            return {"timeout": 120}

    Machine.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            database=None,
            # One fixed run: with a random seed Hypothesis sometimes replayed a case whose
            # linked value (an id from a response) it then drew as another type, and failed
            # with FlakyStrategyDefinition (not a server error).
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            # No shrinking: the server's state moves on, so a replay is not the same run;
            # a 5xx is reported with its request as found.
            phases=[Phase.explicit, Phase.generate],
        )
    )
    assert RECORD["stateful_calls"] > STATEFUL_EXAMPLES
