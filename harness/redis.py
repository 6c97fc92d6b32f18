"""A real redis-server (Debian's) for tests and benchmarks: the shared store of rate limits and
of the output cache."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path


class RedisServer:
    """A real redis-server (Debian's) on a free 127.0.0.1 port; it can be stopped (or killed)
    and started again on the same port. No persistence unless `persistent`: then every write
    goes to an append-only file in `workdir` before Redis answers, so a restart after `kill()`
    finds all that was acknowledged."""

    def __init__(self, binary: str, workdir: Path, *, persistent: bool = False) -> None:
        self._binary = binary
        self._workdir = workdir
        self._persistent = persistent
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [self._binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--dir", str(self._workdir)]
        if self._persistent:
            command += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            command += ["--appendonly", "no"]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("redis-server did not start") from None
                time.sleep(0.05)

    def pause(self) -> None:
        """SIGSTOP: Redis hangs; connections open, nothing answers (until `resume`)."""
        assert self._process is not None, "not started"
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None, "not started"
        self._process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown save, clients cut mid-conversation."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None
