"""The service under gunicorn on 127.0.0.1, started as users start it, and the HTTP calls to it.

`Server(..., front=True)` starts the production front instead (`python -m service front`: nginx
on the port, gunicorn behind it on a unix socket). Each server writes its log to a file in
`log_dir`; `stop()` sends SIGTERM (a graceful shutdown that drains the engine) and kills only if
that hangs. Every call returns a `Reply`, errors
included, and never raises for an HTTP or network failure, so a load loop can count each outcome.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange. `status` 0 means no HTTP answer at all (refused, reset, timed out);
    `body` is the decoded JSON, or the text when it is not JSON."""

    status: int
    body: Any
    headers: dict[str, str]
    seconds: float
    failure: str | None = None


class Connection:
    """One keep-alive HTTP/1.1 connection. A request on a reused connection that the server has
    closed meanwhile is sent again once on a new one; a fresh connection never resends."""

    def __init__(self, url: str, *, timeout: float = 120) -> None:
        parts = urlsplit(url)
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self._used = False

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        content_type: str = "application/json",
    ) -> Reply:
        headers = {"Content-Type": content_type} if body is not None else {}
        started = time.perf_counter()
        for resend in (self._used, False):
            try:
                self._conn.request(method, path, body=body, headers=headers)
                response = self._conn.getresponse()
                raw = response.read()
                break
            except (OSError, http.client.HTTPException) as error:
                self._conn.close()
                closed = isinstance(error, BrokenPipeError | ConnectionResetError)
                if not (resend and closed):
                    return Reply(0, None, {}, time.perf_counter() - started, repr(error))
        self._used = True
        try:
            decoded = json.loads(raw)
        except ValueError:
            decoded = raw.decode("utf-8", "replace")
        return Reply(
            response.status, decoded, dict(response.getheaders()), time.perf_counter() - started
        )

    def close(self) -> None:
        self._conn.close()


def post(
    url: str,
    path: str,
    body: dict[str, Any] | bytes,
    *,
    timeout: float = 120,
    content_type: str = "application/json",
) -> Reply:
    """POST `body` (JSON-encoded unless bytes) on a connection of its own."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection = Connection(url, timeout=timeout)
    try:
        return connection.request("POST", path, data, content_type=content_type)
    finally:
        connection.close()


def get(url: str, path: str, *, timeout: float = 10) -> Reply:
    connection = Connection(url, timeout=timeout)
    try:
        return connection.request("GET", path)
    finally:
        connection.close()


def model_metrics(exposition: str) -> dict[str, dict[str, float]]:
    """Prometheus text as {sample name: {model label: value}}; samples without one left out."""
    values: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if "model" in sample.labels:
                values.setdefault(sample.name, {})[sample.labels["model"]] = sample.value
    return values


def worker_pid(master_pid: int) -> int | None:
    """The pid of gunicorn's (single) worker process: the master's child."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    try:
        pids = children.read_text().split()
    except OSError:
        return None
    return int(pids[0]) if pids else None


def rss_mib(pid: int) -> float | None:
    """Resident set size of `pid` in MiB (VmRSS), or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One gunicorn process (one worker; `threads` request threads, default the config's), or
    with `front` the production front, whose options `args` then are."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        *,
        log_dir: Path,
        threads: int | None = None,
        args: Sequence[str] = (),
        front: bool = False,
    ) -> None:
        self.name = name
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log_dir.mkdir(parents=True, exist_ok=True)
        kind = "front" if front else "gunicorn"
        self.log_path = log_dir / f"{kind}-{name}-{self.port}.log"
        self._log = self.log_path.open("w")
        if front:
            command = [sys.executable, "-m", "service", "front"]
            command += ["--bind", f"127.0.0.1:{self.port}", *args]
        else:
            command = [
                str(Path(sys.executable).with_name("gunicorn")),
                "-c",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{self.port}",
                *(["--threads", str(threads)] if threads else []),
                *args,
                "service:create_app()",
            ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT
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
            if get(self.url, "/readyz").status == 200:
                return
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}: not ready in {timeout} s:\n{self.output()}")

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM, wait up to `timeout`, then kill; returns gunicorn's exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode
