"""Overload and item timeouts: excess work is refused fast and cleanly, admitted work is right,
memory stays bounded, and the service is whole again once the burst is over.

The burst runs against gunicorn with MAX_QUEUE=4 and one item per batch, so a burst of 48
requests is far beyond what is admitted. The timeout part runs on an in-process engine whose
summariser is held on a gate, so which items time out, and when, is deterministic.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import Faults

from harness.scenarios import reference_answers, run_overload
from harness.workload import text
from service.http.app import create_app

OVERLOAD_ENV = {
    "TORCH_THREADS": "1",
    "LOG_LEVEL": "WARNING",
    "MAX_QUEUE": "4",
    "MAX_BATCH_SIZE": "1",
    "MAX_WAIT_MS": "50",
    "RETRY_AFTER_S": "2",
}
# One summary pinned to 80 tokens in an 8-beam search: slow enough on the tiny model, on either
# backend, that 48 at once overflow the queue and the admitted ones take longer than a refusal
# even on a loaded machine (greedy, an admitted answer took 79 ms, as long as a refusal at load
# 10; with 4 beams, 110 ms against a refusal's 120 ms at load 7).
SLOW_REQUEST = (
    "/v1/summarize",
    {"text": text(40), "min_length": 80, "max_length": 80, "num_beams": 8},
)


def test_burst_beyond_capacity(start_server) -> None:
    """48 at once: some admitted and answered right, the rest refused with 503 `overloaded` and
    Retry-After, faster than an answer; then full service again, and no lasting growth."""
    server = start_server(OVERLOAD_ENV)
    (reference,) = reference_answers(server.url, [SLOW_REQUEST])

    result = run_overload(
        server.url, SLOW_REQUEST, reference, burst=48, master_pid=server.process.pid
    )

    assert result["admitted"] + result["rejected"] == 48, result["other"]
    assert result["admitted"] >= 1 and result["rejected"] >= 1, result
    assert result["admitted_wrong"] == 0
    assert result["rejected_with_retry_after"] == result["rejected"]
    assert result["retry_after_values"] == ["2"]
    error = result["rejected_error"]
    assert set(error) == {"code", "message", "field"}
    assert error["code"] == "overloaded" and error["field"] is None
    # Refusals do not wait for the model: they come back faster than the admitted answers.
    assert result["rejected_p50_s"] < result["admitted_p50_s"], result
    assert result["recovery_s"] is not None, "no good answer after the burst"
    assert result["after_recovery_ok"] == 5
    assert set(result["queue_depth_after"].values()) == {0.0}
    # Refused requests leave nothing behind: the worker grows by far less than a model.
    assert result["rss_after_mib"] - result["rss_before_mib"] < 150, result
    assert server.stop() == 0


# ----- item timeouts (in-process) ---------------------------------------------------------------


@pytest.fixture
def timeout_engine(make_engine):
    return make_engine(item_timeout_s=0.5)


def test_item_timeout_frees_the_slot(timeout_engine) -> None:
    engine = timeout_engine
    app = create_app(engine=engine)
    gate = Faults(engine, "en-fr")
    gate.hold("Hold the worker here.")
    try:
        blocked = ThreadPoolExecutor(1).submit(
            app.test_client().post,
            "/v1/translate",
            json={"text": "Hold the worker here.", "target": "fr"},
        )
        assert gate.entered.wait(30)
        # The worker is busy: these wait in the queue past ITEM_TIMEOUT_S.
        with ThreadPoolExecutor(3) as pool:
            waiting = list(
                pool.map(
                    lambda i: app.test_client().post(
                        "/v1/translate", json={"text": f"Item {i} waits.", "target": "fr"}
                    ),
                    range(3),
                )
            )
        for response in waiting:
            assert response.status_code == 504
            assert response.get_json()["error"]["code"] == "timeout"
        # Timed-out items left the queue at once, though the worker is still held.
        metrics = app.test_client().get("/metrics").get_data(as_text=True)
        assert 'service_queue_depth{model="en-fr"} 0.0' in metrics
        # The running item times out too; the worker finishes it and moves on.
        assert blocked.result(30).status_code == 504
    finally:
        gate.remove()

    # A normal timeout again: the same engine serves, on every model.
    engine.settings = engine.settings.replace(item_timeout_s=60)
    client = app.test_client()
    good = client.post("/v1/translate", json={"text": "Good morning.", "target": "fr"})
    assert good.status_code == 200
    assert client.post("/v1/summarize", json={"text": "Rain.", "max_length": 5}).status_code == 200
    assert client.get("/readyz").status_code == 200
