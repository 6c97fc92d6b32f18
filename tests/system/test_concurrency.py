"""Many clients at once against gunicorn: every request gets exactly its own answer.

Reference answers come first, one request at a time; then 32 clients send 5 requests each, all
at once, over every endpoint with texts of 1 to ~60 words, so requests share batches. Each reply
must equal its own input's reference: none lost, none wrong, none carrying another's answer.
"""

from pathlib import Path

import pytest

from harness.invariance import mixed_texts
from harness.scenarios import mixed_requests, reference_answers, run_concurrency
from harness.server import get, model_metrics

SERVER_ENV = {"TORCH_THREADS": "1", "LOG_LEVEL": "WARNING", "MAX_WAIT_MS": "10"}


def test_every_request_gets_its_own_answer(start_server) -> None:
    server = start_server(SERVER_ENV)
    requests = mixed_requests(24)
    references = reference_answers(server.url, requests)

    result = run_concurrency(server.url, requests, references, clients=32, per_client=5)

    assert result["sent"] == result["replies"] == 160
    assert result["answered"] == 160, result["failures"]
    assert result["lost"] == 0
    assert result["wrong"] == 0, result["wrong_examples"]
    assert result["misrouted"] == 0
    assert server.stop() == 0


@pytest.mark.parametrize("backend", ["transformers:float32", "ctranslate2:int8"])
def test_concurrent_summaries_equal_the_summaries_alone(
    start_server, near_tie_summarizer: Path, backend: str
) -> None:
    """Batch invariance over HTTP: 48 clients at once, texts of 1 to 90 words, on the near-tie
    summariser, where any change from a batch-mate shows in the output (see
    tests/unit/inference/test_invariance.py). Each summary equals the one the text got alone."""
    name, compute_type = backend.split(":")
    env = {"BACKEND": name, "COMPUTE_TYPE": compute_type, "MAX_WAIT_MS": "50"}
    server = start_server({**SERVER_ENV, **env, "SUMMARIZE_MODEL": str(near_tie_summarizer)})
    requests = [
        ("/v1/summarize", {"text": text, "min_length": 24, "max_length": 40})
        for text in mixed_texts(48, seed=7)
    ]
    references = reference_answers(server.url, requests)
    before = model_metrics(get(server.url, "/metrics").body)

    result = run_concurrency(server.url, requests, references, clients=48, per_client=2)

    assert result["answered"] == 96, result["failures"]
    assert result["wrong"] == 0, result["wrong_examples"]
    after = model_metrics(get(server.url, "/metrics").body)
    batches = after["service_batch_size_count"]["summarize"]
    batches -= before["service_batch_size_count"]["summarize"]
    assert batches < 96 / 3, "the concurrent requests should have shared batches"
    assert server.stop() == 0
