"""The API against its own OpenAPI description, with schemathesis, on the tiny models.

Every operation in /openapi.json gets generated requests, valid and invalid: no 5xx, status codes,
content types and bodies as documented, schema-valid requests answered and schema-invalid ones
refused with a documented 4xx. The spec comes from the settings the app runs with; small item and
text limits keep the boundary cases cheap (the spec states them, so they are tested, not avoided).
"""

import jsonschema
import pytest
import schemathesis
import torch
from hypothesis import HealthCheck, assume, settings
from schemathesis.config import SchemathesisConfig

from service.core.config import Settings
from service.http.app import create_app
from service.http.openapi import openapi_spec
from service.inference.engine import Engine

LIMITS = {"max_items": 4, "max_text_chars": 2000}
# Statuses a request the spec calls invalid may get: the documented client errors.
REJECTED = ["400", "413", "415"]
# What JSON Schema cannot state: a minimum above the maximum, from the fields or the `length`
# preset. A schema-valid request may be refused for this only, and only with 400.
CROSS_FIELD = {"min_length", "max_length"}
# Valid output lengths above this are not sent: the tiny model's cost grows with the tokens it
# must generate (seconds per request on 2 shared cores), and the contract does not.
LONGEST_OUTPUT = 64

SPEC = openapi_spec(Settings.defaults(**LIMITS))
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {"expected-statuses": REJECTED},
            # Replaced by `_check_accepted`: schemathesis' own cannot know CROSS_FIELD, and its
            # coverage phase labels some invalid bodies valid (`num_beams: 0` under
            # `anyOf: [{minimum: 1}, {type: null}]`).
            "positive_data_acceptance": {"enabled": False},
        }
    }
)
schema = schemathesis.openapi.from_dict(SPEC, config=CONFIG)


def _request_validator(path: str) -> jsonschema.Draft202012Validator:
    ref = SPEC["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**ref, "components": SPEC["components"]})


VALIDATORS = {
    path: _request_validator(path)
    for path, ops in SPEC["paths"].items()
    if "application/json" in ops.get("post", {}).get("requestBody", {}).get("content", {})
}


@pytest.fixture(scope="module")
def app(demo_settings, tmp_path_factory):
    threads = torch.get_num_threads()
    engine = Engine(demo_settings.replace(torch_threads=1, **LIMITS)).start()
    # No page is fetched: a generated `url` is refused before any lookup (no network in tests).
    # Jobs are stored but not run (the app's worker is not started), and never too many;
    # translated documents go to a temporary store.
    data_dir = str(tmp_path_factory.mktemp("data"))
    jobs = f"sqlite:///{tmp_path_factory.mktemp('jobs') / 'jobs.db'}"
    settings = engine.settings.replace(
        fetch_urls=False, data_dir=data_dir, jobs_store=jobs, jobs_max_in_flight=10**6
    )
    yield create_app(settings, engine=engine)
    engine.close(timeout=30)
    torch.set_num_threads(threads)


def _valid_path_parameters(case) -> bool:
    declared = SPEC["paths"][case.path].get("post", {}).get("parameters", [])
    given = case.path_parameters or {}
    return all(
        jsonschema.Draft202012Validator(p["schema"]).is_valid(given.get(p["name"]))
        for p in declared
        if p["in"] == "path"
    )


def _valid_body(case) -> bool:
    validator = VALIDATORS.get(case.path)
    return (
        validator is not None
        and case.method == "POST"
        and isinstance(case.body, dict)
        and validator.is_valid(case.body)
        and _valid_path_parameters(case)
    )


def _lengths(body: dict) -> dict:
    """The output lengths asked for: top-level (/v1) or in Hugging Face's generate_parameters."""
    parameters = body.get("parameters")
    nested = parameters.get("generate_parameters") if isinstance(parameters, dict) else None
    return {**body, **(nested or {})}


def _costly(case) -> bool:
    return _valid_body(case) and any(
        (_lengths(case.body).get(name) or 0) > LONGEST_OUTPUT
        for name in ("min_length", "max_length")
    )


def _error(answer: dict) -> dict | str:
    """The error of an answer: /v1's object, or the message of the other surfaces' shapes."""
    if "error" not in answer:
        return answer["message"]  # DeepL's
    error = answer["error"]
    return error["message"] if isinstance(error, dict) and "errors" in error else error  # Google


def _refusal_allowed(body: dict, error: dict | str) -> bool:
    """What a schema-valid request may still be refused for, with 400: a CROSS_FIELD rule, a
    detected source (`source: auto`, or none given where that means detect) finding a language no
    model serves (the spec cannot know the text's), a `url` (fetching is off here) or a job's
    `callback_url` (callbacks are off here), a job's item ids (given twice, or neither a string
    nor an integer: JSON Schema cannot say either), or an HTML text with no article in it."""
    if isinstance(error, dict):  # the /v1 shape
        field = error["field"] or ""
        return (
            field in CROSS_FIELD
            or (body.get("source") == "auto" and field == "source")
            or field in ("url", "callback_url", "items")
            or (body.get("format") == "html" and field.split(".")[0] in ("text", "texts"))
        )
    detected = body.get("source") in ("auto", None) and body.get("source_lang") is None
    return any(name in error for name in CROSS_FIELD) or (detected and "looks like" in error)


def _check_accepted(response, case) -> None:
    """A valid request is answered, or refused with 400 for a CROSS_FIELD rule.

    A DeepL document's status or result for a generated id is 404: no document has that id.
    Valid: the body matches the spec and was sent as JSON (the coverage phase also sends valid
    bodies under other content types, which are invalid requests).
    """
    sent_as = response.request.headers.get("Content-Type", "")
    if not (_valid_body(case) and sent_as.startswith("application/json")):
        return
    if response.status_code in (200, 202):
        return
    if response.status_code == 404 and "{document_id}" in case.path:
        return  # a generated id names no uploaded document
    error = _error(response.json())
    assert response.status_code == 400 and _refusal_allowed(case.body, error), (
        f"schema-valid request refused: {response.status_code} {error} for {case.body!r}"
    )


def test_served_spec_is_the_tested_one(app) -> None:
    served = app.test_client().get("/openapi.json").get_json()
    assert served["paths"] == SPEC["paths"]
    assert served["components"] == SPEC["components"]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_operation_conforms(case, app) -> None:
    # A long generation is rejected as an example, not passed: hypothesis draws another.
    assume(not _costly(case))
    response = case.call_and_validate(app=app)
    _check_accepted(response, case)
