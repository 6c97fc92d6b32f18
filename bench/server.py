"""The service under gunicorn on 127.0.0.1, started as users start it, and a keep-alive client.

Each server writes its log to a file under bench/out/logs; `stop()` sends SIGTERM (gunicorn's
graceful shutdown drains the engine) and kills only if that hangs.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.measure import Counters

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_pid(master_pid: int) -> int | None:
    """The pid of gunicorn's (single) worker process: the master's child."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    try:
        pids = children.read_text().split()
    except OSError:
        return None
    return int(pids[0]) if pids else None


class Server:
    """One gunicorn process (one worker; `threads` request threads, default the config's)."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        *,
        log_dir: Path,
        threads: int | None = None,
        args: Sequence[str] = (),
        app: str = "service:create_app()",
    ) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"gunicorn-{name}-{self.port}.log"
        self._log = self.log_path.open("w")
        command = [
            str(Path(sys.executable).with_name("gunicorn")),
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{self.port}",
            *(["--threads", str(threads)] if threads else []),
            *args,
            app,
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        """Everything gunicorn and the service have logged so far (also after `stop()`)."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited:\n{self.output()}")
            try:
                status, _ = self.get("/readyz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}: not ready in {timeout} s:\n{self.output()}")

    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def worker_pid(self) -> int | None:
        """The pid of gunicorn's (single) worker process, for profilers."""
        return worker_pid(self.process.pid)

    def counters(self, model: str) -> Counters:
        """Batch and token counters of `model`, scraped from /metrics."""
        status, body = self.get("/metrics")
        if status != 200:
            raise RuntimeError(f"{self.name}: /metrics answered {status}")
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if sample.labels.get("model") == model:
                    values[sample.name] = sample.value
        return Counters(
            batches=values.get("service_batch_size_count", 0.0),
            batched_items=values.get("service_batch_size_sum", 0.0),
            generated_tokens=values.get("service_generated_tokens_total", 0.0),
        )

    def stop(self, timeout: float = 60) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


class JsonClient:
    """A keep-alive HTTP/1.1 connection that POSTs JSON; reconnects once if the server closed it."""

    def __init__(self, port: int, timeout: float = 600) -> None:
        self._port = port
        self._timeout = timeout
        self._conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self._port, timeout=self._timeout)

    def post(self, path: str, body: bytes) -> dict:
        headers = {"Content-Type": "application/json"}
        for attempt in (1, 2):
            try:
                self._conn.request("POST", path, body=body, headers=headers)
                response = self._conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._conn.close()
                self._conn = self._connect()
                if attempt == 2:
                    raise
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")
        return json.loads(data)

    def close(self) -> None:
        self._conn.close()
