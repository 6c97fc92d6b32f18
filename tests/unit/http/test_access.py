"""API keys and rate limits (`service.http.access`) on every surface, in-process on the shared
engine; one limit across two gunicorn replicas sharing a real Redis; a Redis that goes away.

Each test builds its own app (the limits live in the app), all on the shared tiny-model engine.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from service.core.config import Settings
from service.core.errors import ConfigError
from service.http.app import create_app
from service.inference.engine import Engine

KEY = "k3y-for-the-newsroom-0001"
OTHER_KEY = "another-key-of-the-desk-02"
TRANSLATE = {"text": "Rain.", "target": "fr"}


@pytest.fixture
def make_app(engine: Engine) -> Callable[..., Flask]:
    """make_app(**settings) -> an app with those HTTP settings on the shared engine."""

    def make(**changes: object) -> Flask:
        return create_app(engine.settings.replace(**changes), engine=engine)

    return make


def metric(app: Flask, name: str, **labels: str) -> float:
    found = app.extensions["metrics"].registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


# ----- keys ------------------------------------------------------------------------------------


def keyed(make_app: Callable[..., Flask]) -> Flask:
    return make_app(api_keys=Settings.from_env({"API_KEYS": f"{KEY},{OTHER_KEY}"}).api_keys)


def test_keys_are_off_by_default(make_app) -> None:
    assert make_app().test_client().post("/v1/translate", json=TRANSLATE).status_code == 200


def test_no_key_is_401_with_a_challenge_and_the_json_error(make_app) -> None:
    client = keyed(make_app).test_client()
    response = client.post("/v1/translate", json=TRANSLATE)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="newsroom-nlp"'
    wrong = client.post("/v1/translate", json=TRANSLATE, headers={"X-API-Key": "not-a-known-key"})
    assert wrong.status_code == 401
    assert wrong.get_json()["error"]["message"] == "the API key is not valid"
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"Authorization": f"Bearer {KEY}"}, ""),
        ({"Authorization": f"bearer {KEY}"}, ""),
        ({"X-API-Key": KEY}, ""),
        ({}, f"?api_key={KEY}"),
    ],
    ids=["bearer", "bearer-lowercase", "x-api-key", "query"],
)
def test_each_way_of_sending_a_key_is_accepted(make_app, headers, query) -> None:
    app = keyed(make_app)
    before = metric(app, "service_key_requests_total", key="key-1")
    response = app.test_client().post("/v1/translate" + query, json=TRANSLATE, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert metric(app, "service_key_requests_total", key="key-1") == before + 1


def test_every_model_route_needs_the_key_and_the_open_ones_do_not(make_app) -> None:
    client = keyed(make_app).test_client()
    guarded = [
        ("GET", "/v1/models"),
        ("POST", "/v1/summarize"),
        ("POST", "/v1/articles"),
        ("POST", "/v1/detect"),
        ("POST", "/hf/summarization"),
        ("POST", "/translate"),
        ("POST", "/detect"),
    ]
    for method, path in guarded:
        response = client.open(path, method=method, json={})
        assert response.status_code in {401, 403}, (path, response.status_code)
    for path in ("/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/languages",
                 "/v1/languages"):  # fmt: skip
        assert client.get(path).status_code == 200, path
    assert client.options("/translate").status_code in {200, 204}  # CORS preflight


def test_libretranslate_clients_get_its_own_answer(make_app) -> None:
    client = keyed(make_app).test_client()
    body = {"q": "Rain.", "source": "en", "target": "fr"}
    for sent in ({**body, "api_key": None}, {**body, "api_key": ""}, {**body, "api_key": "nope"}):
        response = client.post("/translate", json=sent)
        assert response.status_code == 403, sent
        assert set(response.get_json()) == {"error"}
    assert client.post("/translate", json={**body, "api_key": KEY}).status_code == 200
    assert client.post("/translate", data={**body, "api_key": KEY}).status_code == 200
    assert client.post(f"/translate?api_key={KEY}", data=body).status_code == 200


def test_hugging_face_clients_send_a_bearer_token(make_app) -> None:
    client = keyed(make_app).test_client()
    body = {"inputs": "Rain.", "parameters": {}}
    refused = client.post("/hf/translation/en-fr", json=body)
    assert refused.status_code == 401 and set(refused.get_json()) == {"error"}
    allowed = client.post(
        "/hf/translation/en-fr", json=body, headers={"Authorization": f"Bearer {OTHER_KEY}"}
    )
    assert allowed.status_code == 200


def test_a_key_is_never_logged_its_name_is(make_app, caplog: pytest.LogCaptureFixture) -> None:
    client = keyed(make_app).test_client()
    with caplog.at_level(logging.DEBUG):
        client.post("/v1/translate", json=TRANSLATE, headers={"X-API-Key": OTHER_KEY})
        client.post("/v1/translate", json=TRANSLATE, headers={"X-API-Key": OTHER_KEY + "x"})
    logged = "\n".join(json.dumps(vars(record), default=str) for record in caplog.records)
    assert OTHER_KEY not in logged
    assert [r.key for r in caplog.records if r.getMessage() == "request"] == ["key-2", None]


def test_a_bad_api_keys_setting_never_echoes_the_key() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"API_KEYS": "short-secret"})
    assert "short-secret" not in str(raised.value) and "API_KEYS" in str(raised.value)


def test_keys_file_names_keys_and_gives_a_key_its_own_limit(make_app, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# desk keys\n{KEY} alice 2/minute\n\n{OTHER_KEY} bob\n")
    app = make_app(api_keys_file=str(keys), rate_limit=("5/minute",))
    client = app.test_client()
    before = metric(app, "service_key_requests_total", key="bob")
    refused = metric(app, "service_rate_limited_total", key="alice", limit="requests")

    def send(key: str) -> int:
        return client.post("/v1/translate", json=TRANSLATE, headers={"X-API-Key": key}).status_code

    assert [send(KEY) for _ in range(3)] == [200, 200, 429]
    assert [send(OTHER_KEY) for _ in range(6)] == [200] * 5 + [429]
    assert metric(app, "service_rate_limited_total", key="alice", limit="requests") == refused + 1
    assert metric(app, "service_key_requests_total", key="bob") == before + 6


def test_a_bad_keys_file_line_is_named_without_its_key(make_app, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY} alice 2/fortnight\n")
    with pytest.raises(ConfigError) as raised:
        make_app(api_keys_file=str(keys))
    assert "line 1" in str(raised.value) and KEY not in str(raised.value)


# ----- rate limits -----------------------------------------------------------------------------


def test_a_spent_limit_is_429_with_retry_after_and_ratelimit_headers(make_app) -> None:
    app = make_app(rate_limit=("3/minute", "100/day"))
    client = app.test_client()
    before = metric(app, "service_rate_limited_total", key="-", limit="requests")
    replies = [client.post("/v1/translate", json=TRANSLATE) for _ in range(4)]
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    assert [r.headers["RateLimit-Remaining"] for r in replies] == ["2", "1", "0", "0"]
    assert all(r.headers["RateLimit-Limit"] == "3" for r in replies)
    refused = replies[-1]
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert 0 < int(refused.headers["RateLimit-Reset"]) <= 60
    assert metric(app, "service_rate_limited_total", key="-", limit="requests") == before + 1
    # LibreTranslate's clients get its 429 and shape.
    lt = client.post("/translate", json={"q": "Rain.", "source": "en", "target": "fr"})
    assert lt.status_code == 429 and set(lt.get_json()) == {"error"}
    assert client.get("/healthz").status_code == 200  # probes are never limited


def test_each_client_address_has_its_own_limit_when_keys_are_off(make_app) -> None:
    client = make_app(rate_limit=("1/minute",)).test_client()

    def send(address: str) -> int:
        environ = {"REMOTE_ADDR": address}
        return client.post("/v1/translate", json=TRANSLATE, environ_base=environ).status_code

    assert [send("10.0.0.1"), send("10.0.0.2"), send("10.0.0.1")] == [200, 200, 429]


def test_a_forged_forwarded_for_is_ignored_unless_a_proxy_is_trusted(make_app) -> None:
    def send(client, forwarded: str) -> int:
        return client.post(
            "/v1/translate",
            json=TRANSLATE,
            headers={"X-Forwarded-For": forwarded},
            environ_base={"REMOTE_ADDR": "10.0.0.9"},
        ).status_code

    direct = make_app(rate_limit=("1/minute",)).test_client()
    assert [send(direct, "1.1.1.1"), send(direct, "2.2.2.2")] == [200, 429]
    # Behind one proxy: the address it appended counts; what the client put before it does not.
    proxied = make_app(rate_limit=("1/minute",), trusted_proxies=1).test_client()
    assert send(proxied, "6.6.6.6, 1.1.1.1") == 200
    assert send(proxied, "7.7.7.7, 1.1.1.1") == 429
    assert send(proxied, "6.6.6.6, 2.2.2.2") == 200


def test_the_character_limit_weighs_each_request_by_its_size(make_app) -> None:
    client = make_app(rate_limit_chars=("300/minute",)).test_client()
    long = {"text": "Rain fell on the town all night. " * 5, "target": "fr"}
    assert client.post("/v1/translate", json=long).status_code == 200
    refused = client.post("/v1/translate", json=long)
    assert refused.status_code == 429
    assert "characters" in refused.get_json()["error"]["message"]
    assert client.post("/v1/translate", json=TRANSLATE).status_code == 200  # small still fits


# ----- the store -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("mode", "status"), [("open", 200), ("closed", 503)])
def test_an_unreachable_store_fails_open_or_closed_as_configured(make_app, mode, status) -> None:
    app = make_app(
        rate_limit=("5/minute",),
        rate_limit_storage=f"redis://127.0.0.1:{_free_port()}",
        rate_limit_fail=mode,
    )
    response = app.test_client().post("/v1/translate", json=TRANSLATE)
    assert response.status_code == status
    if status == 503:
        assert response.get_json()["error"]["code"] == "rate_limit_unavailable"
        assert response.headers["Retry-After"]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis on a free 127.0.0.1 port (Debian's redis-server; .ci/run installs it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


def test_two_replicas_sharing_redis_enforce_one_limit(start_server, redis_url: str) -> None:
    env = {"RATE_LIMIT": "4/minute", "RATE_LIMIT_STORAGE": redis_url, "API_KEYS": KEY}
    replicas = [start_server(env), start_server(env)]
    headers = {"Authorization": f"Bearer {KEY}"}
    statuses = [
        _post(replicas[n % 2].url + "/v1/translate", TRANSLATE, headers)[0] for n in range(6)
    ]
    assert statuses == [200, 200, 200, 200, 429, 429]


def _post(url: str, body: dict, headers: dict[str, str]) -> tuple[int, dict, dict[str, str]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", **headers},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)
