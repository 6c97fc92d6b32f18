"""Faults: a failing batch, a dying worker.

Shutdown under load (SIGTERM with requests in flight) is tested in test_gunicorn.py.

- An exception inside `generate` fails the items of that batch only, as a JSON 500 without
  internals, and the worker goes on serving.
- A worker thread killed by a BaseException fails its batch and its queue at once (503, no
  waiting for a timeout), turns /healthz and /readyz to 503, and under gunicorn the worker process
  stops so the master starts a fresh one with working models.

Faults are injected by wrapping a loaded model's `generate` (the batch worker looks it up per
batch); a "blocker" input holds the worker until the test opens the gate, so which items share a
batch is deterministic.
"""

import textwrap
import time

import pytest
from conftest import Faults

from harness.server import get, post, worker_pid
from service.core.errors import GenerationFailed, ModelUnavailable
from service.http.app import create_app
from service.inference.seq2seq import GenerationParams

SERVER_ENV = {"TORCH_THREADS": "1", "LOG_LEVEL": "WARNING"}
BLOCKER = "Hold the worker here."
POISON = "This sentence breaks the model."
SECRET = "/opt/secret/kernel.cu:42"


@pytest.fixture
def fault_engine(make_engine):
    """A private engine (tests break it); items time out in 20 s, not 120, if a test fails."""
    return make_engine(item_timeout_s=20)


# ----- an exception in generate -----------------------------------------------------------------


def test_generation_error_is_a_clean_500_and_the_worker_serves_on(fault_engine) -> None:
    client = create_app(engine=fault_engine).test_client()
    faults = Faults(fault_engine, "en-fr")
    faults.fail(POISON, RuntimeError(f"CUDA error: illegal memory access at {SECRET}"))

    response = client.post("/v1/translate", json={"text": POISON, "target": "fr"})

    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["code"] == "generation_failed" and error["field"] is None
    for internal in (SECRET, "CUDA", "RuntimeError", "Traceback"):
        assert internal not in error["message"]
    good = client.post("/v1/translate", json={"text": "Good morning.", "target": "fr"})
    assert good.status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_generation_error_fails_only_its_batch(fault_engine) -> None:
    faults = Faults(fault_engine, "en-fr")
    params, other_params = GenerationParams(), GenerationParams(num_beams=1)
    alone = fault_engine.submit("en-fr", faults.ids("First good."), params).result()
    faults.hold(BLOCKER)
    faults.fail(POISON, RuntimeError("boom"))

    held = fault_engine.submit("en-fr", faults.ids(BLOCKER), params)
    assert faults.entered.wait(30)
    # Queued behind the blocker: the first three share a batch (same parameters); the last one
    # has other parameters, so it runs in a batch of its own.
    same_batch = [
        fault_engine.submit("en-fr", faults.ids(t), params)
        for t in (POISON, "First good.", "Second good.")
    ]
    other_batch = fault_engine.submit("en-fr", faults.ids("Third good."), other_params)
    faults.open()

    assert isinstance(held.result(), str)
    for ticket in same_batch:
        with pytest.raises(GenerationFailed):
            ticket.result()
    assert len({t.batch_id for t in same_batch}) == 1
    assert isinstance(other_batch.result(), str)
    assert other_batch.batch_id != same_batch[0].batch_id
    later = fault_engine.submit("en-fr", faults.ids("First good."), params)
    assert later.result() == alone


# ----- a worker that dies -----------------------------------------------------------------------


def test_dead_worker_fails_its_work_at_once_and_is_reported(fault_engine) -> None:
    client = create_app(engine=fault_engine).test_client()
    deaths: list[str] = []
    fault_engine.on_worker_death = deaths.append
    faults = Faults(fault_engine, "en-fr")
    faults.hold(BLOCKER)
    faults.fail(BLOCKER, SystemExit("a library called sys.exit"))

    held = fault_engine.submit("en-fr", faults.ids(BLOCKER), GenerationParams())
    assert faults.entered.wait(30)
    queued = [fault_engine.submit("en-fr", faults.ids(t), GenerationParams()) for t in ("A.", "B.")]
    started = time.monotonic()
    faults.open()

    for ticket in [held, *queued]:
        with pytest.raises(ModelUnavailable):
            ticket.result()
    assert time.monotonic() - started < 15, "failed by the timeout, not at once"
    while not deaths and time.monotonic() - started < 15:
        time.sleep(0.01)  # the worker reports its death right after failing its items
    assert deaths == ["en-fr"]

    for probe in ("/healthz", "/readyz"):
        response = client.get(probe)
        assert response.status_code == 503
        assert response.get_json()["models"]["en-fr"] == "dead"
    refused = client.post("/v1/translate", json={"text": "Hello.", "target": "fr"})
    assert refused.status_code == 503
    assert refused.get_json()["error"]["code"] == "model_unavailable"
    assert "Retry-After" in refused.headers
    # The other models are untouched.
    other = client.post("/v1/translate", json={"text": "Hello.", "target": "ar"})
    assert other.status_code == 200


FAULTY_APP = textwrap.dedent(
    f'''
    """The service, with a summariser whose worker thread dies on one input."""

    from service.http.app import create_app as create_service_app

    POISON = {POISON!r}


    def create_app():
        app = create_service_app()
        model = app.extensions["engine"].model("summarize")
        poison = model.encode([POISON])[0]
        generate = model.generate

        def dying_generate(batch, params, **kw):
            if poison in batch:
                raise SystemExit("a library called sys.exit")
            return generate(batch, params, **kw)

        model.generate = dying_generate
        return app
    '''
)


def test_gunicorn_replaces_a_worker_whose_model_died(start_server, tmp_path) -> None:
    (tmp_path / "faulty_app.py").write_text(FAULTY_APP)
    # gunicorn serves the first application argument given, so this one replaces the service's.
    server = start_server(SERVER_ENV, ["--pythonpath", str(tmp_path), "faulty_app:create_app()"])
    first_worker = worker_pid(server.process.pid)

    killed = post(server.url, "/v1/summarize", {"text": POISON, "max_length": 5}, timeout=60)

    assert killed.status == 503, killed
    assert killed.body["error"]["code"] == "model_unavailable"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        worker = worker_pid(server.process.pid)
        if worker not in (None, first_worker) and get(server.url, "/readyz").status == 200:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"no fresh worker within 120 s:\n{server.output()[-3000:]}")
    good = post(server.url, "/v1/summarize", {"text": "Rain fell all day.", "max_length": 5})
    assert good.status == 200
    assert get(server.url, "/healthz").status == 200
    assert server.process.poll() is None
    assert "can no longer serve" in server.output()
    assert server.stop() == 0
