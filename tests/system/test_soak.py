"""Steady load against gunicorn: memory does not keep growing and latency does not drift.

The default run is short (SOAK_SECONDS_CI, 10 s) so CI runs it; the `slow` variant runs
SOAK_SECONDS (e.g. 300) and only when that variable is set. Both compare the last quarter of the
run with the first, after a warm-up: mean worker RSS within a generous factor, median latency
within a generous factor (other processes share the CPU), and every answer correct.
"""

import os

import pytest

from harness.scenarios import mixed_requests, reference_answers, run_soak

SERVER_ENV = {"TORCH_THREADS": "1", "LOG_LEVEL": "WARNING"}
RSS_GROWTH = 1.25  # last-quarter mean RSS over first-quarter mean
LATENCY_DRIFT = 5.0  # last-quarter p50 over first-quarter p50 (plus LATENCY_SLACK_S)
LATENCY_SLACK_S = 0.25


def soak(start_server, seconds: float) -> dict:
    server = start_server(SERVER_ENV)
    requests = mixed_requests(12)
    references = reference_answers(server.url, requests)
    result = run_soak(
        server.url,
        requests,
        references,
        seconds=seconds,
        clients=4,
        master_pid=server.process.pid,
        warmup_s=2,
    )
    assert server.stop() == 0
    return result


def check(result: dict) -> None:
    assert result["requests"] > 0 and result["rss_samples"] >= 4, result
    assert result["errors"] == 0 and result["wrong"] == 0, result
    assert result["rss_last_quarter_mib"] <= RSS_GROWTH * result["rss_first_quarter_mib"], result
    first, last = result["p50_first_quarter_s"], result["p50_last_quarter_s"]
    assert last <= LATENCY_DRIFT * first + LATENCY_SLACK_S, result


def test_short_soak(start_server) -> None:
    check(soak(start_server, float(os.environ.get("SOAK_SECONDS_CI", "10"))))


@pytest.mark.slow
@pytest.mark.skipif("SOAK_SECONDS" not in os.environ, reason="set SOAK_SECONDS to run it")
def test_long_soak(start_server) -> None:
    check(soak(start_server, float(os.environ.get("SOAK_SECONDS", "300"))))
