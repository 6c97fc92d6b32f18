"""Fixtures shared by the whole suite.

The offline switches are set before anything imports huggingface_hub or transformers (both read
them at import), so no test can reach the network, even by accident.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random-weight models, built once per run: {"summarize", "en-fr", "en-ar"} -> dir."""
    from service.demo_models import build_demo_models

    return build_demo_models(tmp_path_factory.mktemp("models"), arch="tiny")


@pytest.fixture(scope="session")
def demo_env(demo_models: dict[str, Path]) -> dict[str, str]:
    """Environment variables that point the service at the tiny demo models."""
    return {
        "SUMMARIZE_MODEL": str(demo_models["summarize"]),
        "TRANSLATE_MODELS": f"en-fr={demo_models['en-fr']},en-ar={demo_models['en-ar']}",
        "HF_HUB_OFFLINE": "1",
        # Tests run servers and CLI processes side by side on 2 cores: one torch thread each
        # avoids oversubscription, which slows tiny models by 10x or more.
        "TORCH_THREADS": "1",
    }


@pytest.fixture(scope="session")
def demo_settings(demo_env: dict[str, str]):
    """Settings for the tiny models, otherwise defaults (the environment is ignored)."""
    from service.config import Settings

    return Settings.from_env(demo_env)


@pytest.fixture(scope="session")
def engine(demo_settings):
    """One started engine on the tiny models, shared by the tests that only read from it."""
    from service.engine import Engine

    started = Engine(demo_settings).start()
    yield started
    started.close(timeout=30)


@pytest.fixture
def make_engine(demo_settings):
    """Factory: make_engine(**setting_changes) -> a started engine of its own, closed after."""
    from service.engine import Engine

    engines = []

    def make(**changes):
        engine = Engine(demo_settings.replace(**changes))
        engines.append(engine)
        return engine.start()

    yield make
    for engine in engines:
        engine.close(timeout=30)


@pytest.fixture
def client(engine):
    """A Flask test client of an app built on the shared engine."""
    from service.app import create_app

    return create_app(engine=engine).test_client()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A gunicorn process serving the app on 127.0.0.1, started as users start it."""

    def __init__(self, env: dict[str, str], args: list[str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
        command = [
            str(Path(sys.executable).with_name("gunicorn")),
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{self.port}",
            *args,
            "service:create_app()",
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"gunicorn not ready in {timeout} s:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, wait, return the exit code (kill if it hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def start_server(demo_env: dict[str, str]):
    """Factory: start_server(env_overrides=None, args=None) -> a ready Server; stopped after."""
    servers: list[Server] = []

    def start(env: dict[str, str] | None = None, args: list[str] | None = None) -> Server:
        server = Server({**demo_env, **(env or {})}, args or [])
        servers.append(server)
        server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()
        Path(server.log.name).unlink(missing_ok=True)


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
