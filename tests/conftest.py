"""Fixtures shared by the whole suite.

The offline switches are set before anything imports huggingface_hub or transformers (both read
them at import), so no test can reach the network, even by accident.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.redis import RedisServer
from harness.server import Server

if TYPE_CHECKING:
    from service.inference.engine import Engine

ROOT = Path(__file__).resolve().parent.parent

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random-weight models, built once per run: {"summarize", "en-fr", "en-ar"} -> dir."""
    from service.ops.demo_models import build_demo_models

    return build_demo_models(tmp_path_factory.mktemp("models"), arch="tiny")


@pytest.fixture(scope="session")
def near_tie_summarizer(
    demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The demo summariser with near-tie token pairs (`build_near_ties`), built once per run."""
    from service.ops.demo_models import build_near_ties

    return build_near_ties(demo_models["summarize"], tmp_path_factory.mktemp("near-ties"))


@pytest.fixture(scope="session")
def demo_env(
    demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Environment variables that point the service at the tiny demo models.

    With BACKEND=ctranslate2 they compute in float32 (so outputs equal the transformers
    backend's) and share one conversion cache for the run.
    """
    return {
        "SUMMARIZE_MODEL": str(demo_models["summarize"]),
        "COMPUTE_TYPE": "float32",
        "CT2_CACHE_DIR": str(tmp_path_factory.mktemp("ct2-cache")),
        "TRANSLATE_MODELS": f"en-fr={demo_models['en-fr']},en-ar={demo_models['en-ar']}",
        "HF_HUB_OFFLINE": "1",
        # Tests run servers and CLI processes side by side on 2 cores: one torch thread each
        # avoids oversubscription, which slows tiny models by 10x or more.
        "TORCH_THREADS": "1",
        # The suite measures the models and their queues: a repeated text must reach the model.
        # The cache's tests (tests/inference/test_cache*.py) turn it on.
        "CACHE": "false",
        # The jobs' store (a SQLite file under DATA_DIR): never the checkout's `data/`.
        "DATA_DIR": str(tmp_path_factory.mktemp("data")),
        # `TEST_BACKEND=transformers make test` runs the whole suite on the other backend.
        **({"BACKEND": os.environ["TEST_BACKEND"]} if os.environ.get("TEST_BACKEND") else {}),
    }


@pytest.fixture(scope="session")
def demo_settings(demo_env: dict[str, str]):
    """Settings for the tiny models, otherwise defaults (the environment is ignored)."""
    from service.core.config import Settings

    return Settings.from_env(demo_env)


@pytest.fixture(scope="session")
def engine(demo_settings):
    """One started engine on the tiny models, shared by the tests that only read from it."""
    from service.inference.engine import Engine

    started = Engine(demo_settings).start()
    yield started
    started.close(timeout=30)


@pytest.fixture
def make_engine(demo_settings):
    """Factory: make_engine(**setting_changes) -> a started engine of its own, closed after."""
    from service.inference.engine import Engine

    engines = []

    def make(**changes):
        engine = Engine(demo_settings.replace(**changes))
        engines.append(engine)
        return engine.start()

    yield make
    for engine in engines:
        engine.close(timeout=30)


@pytest.fixture(scope="session")
def news_site():
    """A news site on 127.0.0.1 (harness.news_site): articles and the hostile pages."""
    from harness.news_site import NewsSite

    site = NewsSite()
    yield site
    site.close()


@pytest.fixture
def client(engine):
    """A Flask test client of an app built on the shared engine."""
    from service.http.app import create_app

    return create_app(engine=engine).test_client()


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest,
    demo_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """One gunicorn on the demo models for the test module that asks for it, started as users
    start it; the module's `SERVER_ENV` (a dict) adds or changes settings."""
    env = {**demo_env, **getattr(request.module, "SERVER_ENV", {})}
    name = request.module.__name__.rsplit(".", 1)[-1]
    started = Server(name, env, log_dir=tmp_path_factory.mktemp("logs"))
    try:
        started.wait_ready(timeout=120)
        yield started
    finally:
        started.stop()


@pytest.fixture
def start_server(demo_env: dict[str, str], tmp_path: Path):
    """Factory: start_server(env_overrides=None, args=None, front=False) -> a ready Server;
    stopped after.

    The server is harness.server's: gunicorn started as users start it, on a free 127.0.0.1 port
    (with `front`, the production front, nginx before gunicorn, whose options `args` then are).
    """
    servers: list[Server] = []

    def start(
        env: dict[str, str] | None = None, args: list[str] | None = None, *, front: bool = False
    ) -> Server:
        env = {**demo_env, **(env or {})}
        server = Server("test", env, log_dir=tmp_path, args=args or [], front=front)
        servers.append(server)
        server.wait_ready(timeout=120)
        return server

    yield start
    for server in servers:
        server.stop()


# Short news sentences; `long_news` repeats them into a text longer than the tiny summariser's
# input (1,024 tokens), so it is summarised in several chunks.
NEWS_SENTENCES = [
    "The council approved the new bridge on Tuesday.",
    "Farmers fear the drought will ruin the harvest.",
    "The museum reopened after a long renovation.",
]


def long_news(repeats: int = 50) -> str:
    """The sentences `repeats` times each, numbered so that no two are alike."""
    return " ".join(
        f"{s} Witnesses counted {i} convoys." for i, s in enumerate(NEWS_SENTENCES * repeats)
    )


def post_json(url: str, body: object, timeout: float = 60) -> tuple[int, dict, dict[str, str]]:
    """POST JSON with urllib; returns (status, decoded body, headers) for errors too."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


class Faults:
    """Wraps one model's generate: holds batches with the blocker, raises on chosen inputs."""

    def __init__(self, engine: Engine, key: str) -> None:
        self.model = engine.model(key)
        self.entered = threading.Event()
        self._gate = threading.Event()
        self._hold: list[int] | None = None
        self._raise: dict[tuple[int, ...], BaseException] = {}
        self._generate = self.model.generate
        self.model.generate = self._faulty

    def ids(self, text: str) -> list[int]:
        return self.model.encode([text])[0]

    def hold(self, text: str) -> None:
        self._hold = self.ids(text)

    def fail(self, text: str, error: BaseException) -> None:
        self._raise[tuple(self.ids(text))] = error

    def open(self) -> None:
        self._gate.set()

    def remove(self) -> None:
        """Open the gate and give the model back its own generate."""
        self.open()
        self.model.generate = self._generate

    def _faulty(self, batch, params, **kw):
        if self._hold in batch:
            self.entered.set()
            self._gate.wait(60)
        for ids in batch:
            if tuple(ids) in self._raise:
                raise self._raise[tuple(ids)]
        return self._generate(batch, params, **kw)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A started RedisServer of the test's own, stopped after it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(binary, tmp_path)
    server.start()
    yield server
    server.stop()


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 answering the statuses queued in `answers` (then 204),
    keeping every request it got."""

    answers: list[int] = field(default_factory=list)
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    url: str = ""

    def wait_for(self, count: int, timeout: float = 30) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.got) >= count, timeout), self.got


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 for job callbacks (see Receiver), stopped after."""
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = state.answers.pop(0) if state.answers else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            with state.arrived:
                state.got.append((dict(self.headers), body))
                state.arrived.notify_all()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/jobs?from=test"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
