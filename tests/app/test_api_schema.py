"""Schemathesis against the live app's own /openapi.json: every operation it lists, a few examples each.

No response may be a 5xx, and every response must match what the schema documents for it: its status code, its
content type and its body (JSON, SSE events, and NDJSON lines with the extra check below); a request the schema
forbids must be refused with a 4xx. Not checked: that every request the schema allows is accepted (schemathesis's
positive_data_acceptance), because the API checks more than JSON Schema can say (an image's bytes, a message with
nothing to send) and answers those with documented 422s. Operations are read from the schema at run time, so new
ones are covered as soon as they appear. (schemathesis.pytest.from_fixture, its lazy loader, breaks on pytest 9: it
sets a node id attribute pytest no longer has; hence the loop over operations.)
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.openapi import from_url
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.api.protocol import NDJSON
from tests.conftest import API_TOKEN, LiveApp

# A few generated requests per operation and mode keeps the whole run to seconds: the contract, not volume.
EXAMPLES = 5
CHECKED_STREAMS: list[str] = []  # NDJSON streams the extra check validated: proof it ran
KNOWN = {'POST /api/chat', 'POST /v1/chat/completions', 'GET /v1/models', 'POST /api/ui-chat'}


def test_every_operation_keeps_its_documented_contract(live_app: LiveApp) -> None:
    schema = from_url(live_app.url + '/openapi.json', timeout=10)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert KNOWN <= {operation.label for operation in operations}
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failure = _fuzz(operation.as_strategy(generation_mode=mode), live_app.url)
            if failure:
                failures.append(f'{operation.label} ({mode.value}): {failure}')
    assert not failures, '\n\n'.join(failures)
    assert CHECKED_STREAMS, 'no NDJSON stream was generated, so none was checked'



def ndjson_lines_match_the_schema(ctx: Any, response: Any, case: Case) -> bool | None:
    """Each NDJSON line must match the documented schema (schemathesis checks JSON and SSE bodies, not NDJSON)."""
    if not response.headers.get('content-type', [''])[0].startswith(NDJSON):
        return None
    documented = case.operation.definition.raw['responses'][str(response.status_code)]['content'][NDJSON]
    validator = jsonschema_rs.validator_for(documented['schema'])
    lines = response.content.decode().splitlines()
    assert lines, 'an empty stream'
    for number, line in enumerate(lines):
        errors = [error.message for error in validator.iter_errors(json.loads(line))]
        assert not errors, f'line {number} {line[:200]} does not match the documented schema: {errors[:3]}'
    CHECKED_STREAMS.append(case.operation.label)
    return True


def _fuzz(cases: Any, base_url: str) -> str | None:
    """Run a few cases against the server; the first failure's text, or None."""

    @given(case=cases)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: Case) -> None:
        case.call_and_validate(base_url=base_url, headers={'Authorization': f'Bearer {API_TOKEN}'}, timeout=10,
                               excluded_checks=[positive_data_acceptance],
                               additional_checks=[ndjson_lines_match_the_schema])

    try:
        run()
    except (Exception, BaseExceptionGroup) as error:  # a schemathesis failure: report it with the others
        return str(error)[:3000]
    return None
