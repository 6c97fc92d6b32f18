"""Jobs on Redis under real faults: two gunicorn instances (two "replicas", each on its own port)
share one real redis-server (`JOBS_STORE=redis://...`, append-only file on), a job is submitted
over HTTP to one of them and read back over HTTP, and mid-job:

- one instance is killed outright (SIGKILL to gunicorn's master and worker): the other, which
  was already doing items of the same job (`service_job_items_total` in each one's /metrics),
  takes over the dead one's items once their lease ends and finishes the job;
- Redis is killed, or paused (SIGSTOP): requests are still answered (a translation 200; the jobs
  routes a clear 503 `jobs_unavailable` with Retry-After, a progress stream open across it an
  `error` event saying so), and once Redis is back (started again
  from its AOF on the same port, or resumed) the job resumes and completes;
- an instance gets SIGTERM: it lets its running items finish and hands back the others at once
  (the lease is 10 minutes here, so nothing else could free them in time: every item without an
  outcome is claimable the moment it has stopped), and another instance completes the job.

Each time every item has exactly one result line and the job is `done` with no failures.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest.mock import ANY
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.redis import RedisServer
from harness.server import Connection, Server, get, post, worker_pid
from service.jobs.redis_store import RedisJobStore

SENTENCES = [
    "The council approved the new bridge on Tuesday after a long debate.",
    "Farmers fear the drought will ruin the harvest in the southern valleys.",
    "The museum reopened after a long renovation that cost millions.",
]
# Long-ish texts and beam search, so that an item takes a while even on the tiny models and a
# fault lands mid-job.
TEXT_REPEATS = 2
# Each instance holds few items at a time, so both get a share of one job.
WORKER_ITEMS = "2"


@pytest.fixture
def redis_aof(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own that writes every command to its AOF before answering,
    so a restart after `kill()` finds every job and outcome it acknowledged."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(binary, workdir, persistent=True)
    server.start()
    yield server
    server.stop()


def _env(redis_server: RedisServer, lease_s: str) -> dict[str, str]:
    return {
        "JOBS_STORE": redis_server.url,
        "JOBS_LEASE_S": lease_s,
        "JOBS_WORKER_ITEMS": WORKER_ITEMS,
    }


def _submit(server: Server, n: int) -> str:
    items = [
        {"id": f"item-{i}", "text": f"Report {i}. " + " ".join(SENTENCES * TEXT_REPEATS)}
        for i in range(n)
    ]
    body = {"task": "translate", "target": "fr", "num_beams": 2, "items": items}
    reply = post(server.url, "/v1/jobs", body)
    assert reply.status == 202, reply.body
    return str(reply.body["id"])


def _status(server: Server, job_id: str) -> dict[str, Any]:
    reply = get(server.url, f"/v1/jobs/{job_id}")
    assert reply.status == 200, reply.body
    return dict(reply.body)


def _events(
    server: Server, job_id: str, opened: threading.Event
) -> list[tuple[str, dict[str, Any]]]:
    """The job's Server-Sent Events, read until the stream ends; `opened` is set once the
    answer's headers arrived."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        conn.request("GET", f"/v1/jobs/{job_id}/events", headers={"Accept": "text/event-stream"})
        response = conn.getresponse()
        assert response.status == 200
        opened.set()
        text = response.read().decode()
    finally:
        conn.close()
    events = []
    for block in text.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def _written(server: Server, job_id: str) -> int:
    status = _status(server, job_id)
    return int(status["done"]) + int(status["failed"])


def _items_done(server: Server) -> float:
    """This instance's `service_job_items_total{outcome="done"}`: items whose result it wrote."""
    reply = get(server.url, "/metrics")
    assert reply.status == 200
    for family in text_string_to_metric_families(str(reply.body)):
        for sample in family.samples:
            if sample.name == "service_job_items_total" and sample.labels["outcome"] == "done":
                return sample.value
    return 0.0


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    until = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < until, what
        time.sleep(0.1)


def _finished(server: Server, job_id: str, timeout: float = 240) -> dict[str, Any]:
    _wait(
        lambda: _status(server, job_id)["status"] in ("done", "failed", "cancelled"),
        timeout,
        f"job never finished: {_status(server, job_id)}",
    )
    return _status(server, job_id)


def _assert_every_item_once(server: Server, job_id: str, n: int) -> None:
    status = _finished(server, job_id)
    assert (status["status"], status["total"], status["done"], status["failed"]) == (
        "done",
        n,
        n,
        0,
    ), status
    reply = get(server.url, f"/v1/jobs/{job_id}/results", timeout=60)
    assert reply.status == 200
    text = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
    lines = [json.loads(line) for line in text.splitlines()]
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids)) == n, sorted(ids)
    assert set(ids) == {f"item-{i}" for i in range(n)}
    assert all(isinstance(line["result"]["translation"], str) for line in lines)


def _kill_all(server: Server) -> None:
    """SIGKILL to gunicorn's master, then to its worker before it can notice: a crash of the
    whole instance (no graceful stop, no hand-back, claims left to their leases)."""
    worker = worker_pid(server.process.pid)
    os.kill(server.process.pid, signal.SIGKILL)
    if worker is not None:
        os.kill(worker, signal.SIGKILL)
    server.process.wait(10)
    if worker is not None:
        _wait(lambda: not Path(f"/proc/{worker}").exists(), 10, "the worker outlived SIGKILL")


def test_two_instances_share_a_job_and_one_survives_the_other_s_sigkill(
    start_server, redis_aof: RedisServer
) -> None:
    env = _env(redis_aof, "3")
    first: Server = start_server(env)
    second: Server = start_server(env)
    n = 200
    job_id = _submit(first, n)
    _wait(
        lambda: _items_done(first) >= 1 and _items_done(second) >= 1,
        120,
        "both instances should do items of the one job",
    )
    _kill_all(first)
    assert _written(second, job_id) < n, "the job ended before the kill; make it longer"
    _assert_every_item_once(second, job_id, n)
    assert _items_done(second) < n  # the dead instance's results stay: it did its share
    assert second.process.poll() is None


@pytest.mark.parametrize("outage", ["killed", "paused"])
def test_redis_gone_mid_job_leaves_requests_answered_and_the_job_resumes_when_it_returns(
    start_server, redis_aof: RedisServer, outage: str
) -> None:
    """`killed`: Redis crashes (connections refused) and is started again from its AOF on the
    same port; `paused`: it hangs (SIGSTOP: connections open, nothing answers, each call waits
    out its 2 s timeout) and then goes on."""
    server: Server = start_server(_env(redis_aof, "3"))
    n = 100
    job_id = _submit(server, n)
    _wait(lambda: _written(server, job_id) >= 2, 120, "the job never started")
    opened = threading.Event()
    following = ThreadPoolExecutor(1, thread_name_prefix="events").submit(
        _events, server, job_id, opened
    )
    assert opened.wait(30) and not following.done(), following.result()
    if outage == "killed":
        redis_aof.kill()
    else:
        redis_aof.pause()
    translated = post(server.url, "/v1/translate", {"text": SENTENCES[0], "target": "fr"})
    assert translated.status == 200, translated.body
    assert translated.body["translation"]
    assert get(server.url, "/readyz").status == 200  # no reason to take it out of service
    for method, path in (
        ("GET", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{job_id}/results"),
        ("DELETE", f"/v1/jobs/{job_id}"),  # it reads the job first: nothing is sent to cancel
    ):
        connection = Connection(server.url, timeout=30)
        reply = connection.request(method, path)
        connection.close()
        assert reply.status == 503, (method, path, reply.status, reply.body)
        assert reply.body["error"]["code"] == "jobs_unavailable"
        assert int(reply.headers["Retry-After"]) > 0
    # (Paused, Redis may still create this job when it resumes: it read the command, and a
    # timeout cannot tell. The README says so.)
    refused = post(server.url, "/v1/jobs", {"task": "translate", "target": "fr", "items": ["x"]})
    assert (refused.status, refused.body["error"]["code"]) == (503, "jobs_unavailable")
    # A progress stream open across the outage ends with an `error` event saying so.
    events = following.result(timeout=60)
    assert events[0][0] == "progress"
    assert events[-1] == ("error", {"error": ANY, "status": 503}), events[-1]
    assert events[-1][1]["error"]["code"] == "jobs_unavailable"
    _wait(
        lambda: "store unavailable" in server.output(),
        60,
        "the jobs' worker should notice Redis is gone (and keep trying)",
    )
    if outage == "killed":
        redis_aof.start()
    else:
        redis_aof.resume()
    assert _written(server, job_id) < n, "the job ended before Redis went away; make it longer"
    _assert_every_item_once(server, job_id, n)


def test_sigterm_on_redis_hands_back_what_it_holds_and_another_instance_completes(
    start_server, redis_aof: RedisServer
) -> None:
    env = _env(redis_aof, "600")
    first: Server = start_server(env)
    n = 60
    job_id = _submit(first, n)
    _wait(lambda: _written(first, job_id) >= 2, 120, "the job never started")
    assert first.stop() == 0, first.output()
    store = RedisJobStore.from_url(redis_aof.url)
    job = store.get(job_id)
    assert job is not None
    written = job.done + job.failed
    assert written < n, "the job ended before SIGTERM; make it longer"
    # Nothing is left leased (for 10 minutes): every item without an outcome is claimable now.
    probe = store.claim("probe", n, 600.0)
    assert len(probe) == n - written
    store.release(probe)
    store.close()
    second: Server = start_server(env)
    _assert_every_item_once(second, job_id, n)
    assert second.process.poll() is None
