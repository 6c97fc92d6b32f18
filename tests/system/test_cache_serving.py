"""The cache as clients meet it: the real app and gunicorn on the tiny models, a real Redis."""

from __future__ import annotations

import threading
import time

import redis
from prometheus_client.parser import text_string_to_metric_families

from harness.server import get, post
from service.http.app import create_app

ARTICLE = (
    "The city council approved a new budget on Tuesday. Heavy rain is expected tomorrow.\n\n"
    "Scientists have published a study about coastal wetlands."
)
# Cached in int8 with buckets: batch-invariant, so every output is kept.
EXACT_ENV = {"BACKEND": "ctranslate2", "COMPUTE_TYPE": "int8", "CACHE": "true"}


def samples(exposition: str, name: str) -> dict[tuple[str, ...], float]:
    """{label values: value} of one sample name."""
    found = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sample.labels.values())] = sample.value
    return found


def test_a_repeated_request_is_answered_from_memory_and_the_app_shows_it(make_engine) -> None:
    engine = make_engine(backend="ctranslate2", compute_type="int8", cache=True)
    client = create_app(engine=engine).test_client()
    body = {"text": ARTICLE, "target": "fr"}
    first = client.post("/v1/translate", json=body)
    second = client.post("/v1/translate", json=body)
    assert first.status_code == second.status_code == 200
    assert second.get_json() == first.get_json()
    lt = client.post("/translate", json={"q": ARTICLE, "source": "en", "target": "fr"})
    assert lt.get_json()["translatedText"] == first.get_json()["translation"]
    metrics = client.get("/metrics").get_data(as_text=True)
    sentences = 3
    assert samples(metrics, "service_cache_misses_total")[("en-fr",)] == sentences
    assert samples(metrics, "service_cache_hits_total")[("en-fr", "memory")] == 2 * sentences
    assert samples(metrics, "service_cache_bytes")[("en-fr",)] > 0
    assert samples(metrics, "service_items_total")[("en-fr", "ok")] == sentences
    models = {m["key"]: m for m in client.get("/v1/models").get_json()["models"]}
    assert models["en-fr"]["cache"]["enabled"] and models["en-fr"]["cache"]["keeps"] == "all"
    assert models["en-fr"]["cache"]["memory"]["bytes"] > 0


def test_a_summary_s_chunks_and_rounds_are_served_from_the_cache(make_engine) -> None:
    engine = make_engine(backend="ctranslate2", compute_type="int8", cache=True)
    client = create_app(engine=engine).test_client()
    long_text = " ".join(f"Paragraph {n} reports that the council met again." for n in range(60))
    body = {"text": long_text, "max_length": 20, "num_beams": 1}
    first = client.post("/v1/summarize", json=body)
    assert first.status_code == 200, first.get_json()
    second = client.post("/v1/summarize", json=body)
    assert second.get_json() == first.get_json()
    metrics = client.get("/metrics").get_data(as_text=True)
    hits = samples(metrics, "service_cache_hits_total")[("summarize", "memory")]
    computed = samples(metrics, "service_items_total")[("summarize", "ok")]
    assert hits == computed > 1  # every chunk (and any later round) once computed, then hit


def _redis_keys(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return len(client.keys("nlp-cache:*"))
    finally:
        client.close()


def _wait_for_keys(url: str, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _redis_keys(url) < count:
        assert time.monotonic() < deadline, f"fewer than {count} keys in Redis"
        time.sleep(0.05)


def test_two_gunicorn_instances_on_one_redis_share_hits(start_server, redis_server) -> None:
    env = EXACT_ENV | {"CACHE_URL": redis_server.url}
    first, second = start_server(env), start_server(env)
    body = {"text": ARTICLE, "target": "fr"}
    answer = post(first.url, "/v1/translate", body)
    assert answer.status == 200
    _wait_for_keys(redis_server.url, 3)
    shared = post(second.url, "/v1/translate", body)
    assert shared.status == 200 and shared.body == answer.body
    metrics = get(second.url, "/metrics").body
    assert samples(metrics, "service_cache_hits_total")[("en-fr", "redis")] == 3
    assert ("en-fr", "ok") not in samples(metrics, "service_items_total")  # no model call


def test_redis_stopped_and_restarted_mid_run_never_fails_a_client(
    start_server, redis_server
) -> None:
    server = start_server(EXACT_ENV | {"CACHE_URL": redis_server.url, "CACHE_MEMORY_BYTES": "0"})
    texts = [f"Story {n} says the river rose overnight." for n in range(6)]
    statuses: list[int] = []
    answers: dict[str, set[str]] = {}
    stop = threading.Event()

    def client(index: int) -> None:
        n = index
        while not stop.is_set():
            text = texts[n % len(texts)]
            reply = post(server.url, "/v1/translate", {"text": text, "target": "fr"}, timeout=60)
            statuses.append(reply.status)
            if reply.status == 200:
                answers.setdefault(text, set()).add(reply.body["translation"])
            n += 1

    clients = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for thread in clients:
        thread.start()
    try:
        time.sleep(1.5)
        redis_server.stop()
        time.sleep(2)
        redis_server.start()
        time.sleep(7)  # past the 5 s in which a failed Redis is left alone
    finally:
        stop.set()
        for thread in clients:
            thread.join(60)
    assert statuses and set(statuses) == {200}, sorted(set(statuses))
    assert all(len(seen) == 1 for seen in answers.values())  # the same answer throughout
    metrics = get(server.url, "/metrics").body
    assert samples(metrics, "service_cache_hits_total").get(("en-fr", "redis"), 0) > 0
    assert _redis_keys(redis_server.url) > 0  # written again after the restart
    log = server.output()
    # Logged when it failed (once a minute at most) and when it answered again: not per request.
    assert log.count("serving from the models") == 1
    assert log.count("answers again") == 1
