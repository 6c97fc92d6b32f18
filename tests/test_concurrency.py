"""Many clients at once against gunicorn: every request gets exactly its own answer.

Reference answers come first, one request at a time; then 32 clients send 5 requests each, all
at once, over every endpoint with texts of 1 to ~60 words, so requests share batches. Each reply
must equal its own input's reference: none lost, none wrong, none carrying another's answer.
"""

from bench.reliability import mixed_requests, reference_answers, run_concurrency

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
