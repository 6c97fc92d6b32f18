"""The production front: gunicorn on a private unix socket, nginx in front of it.

`python -m service front --bind HOST:PORT` renders deploy/nginx.conf.template into a runtime
directory (the socket, nginx's pid and temporary files: nothing outside it is written, so it runs
as any user on a read-only image), starts gunicorn with gunicorn.conf.py on the socket and nginx
in the foreground, and supervises both. nginx holds the clients (slow, idle or not reading) and
passes on whole requests only; see the template for each limit.

Shutdown (SIGTERM), in the order a load balancer needs:
1. /readyz answers 503 at once (nginx checks a `draining` file in the runtime directory), while
   every other request is still served for `--drain-delay` seconds;
2. nginx stops gracefully: it closes its listener and idle connections, finishes the requests
   in flight, and drops whatever is left after `--shutdown-timeout`;
3. then gunicorn stops: nothing is in flight any more, so its drain is immediate, and the engine
   closes. The exit status is gunicorn's.
SIGINT (Ctrl-C) skips the delay. A second signal stops both at once. If either process dies,
the other is stopped and the front exits non-zero.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from service.core.config import Settings

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
# Debian installs nginx in /usr/sbin, which is not on a non-root user's PATH.
NGINX_PLACES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
_POLL_S = 0.1


@dataclass(frozen=True, kw_only=True)
class FrontOptions:
    """The front's own knobs (the service's settings come from the environment as usual)."""

    bind: str = "0.0.0.0:8000"
    # Longest a client may take to send its header, pause while sending its body, or pause
    # while reading the answer.
    client_timeout_s: float = 10
    keepalive_timeout_s: float = 15
    # After SIGTERM: how long /readyz says 503 while requests are still served.
    drain_delay_s: float = 5
    # Longest nginx waits for requests in flight when it stops; default ITEM_TIMEOUT_S + 10.
    shutdown_timeout_s: float | None = None
    runtime_dir: Path | None = None


def find_nginx() -> str | None:
    """The nginx binary: on PATH, or where distributions put it."""
    found = shutil.which("nginx")
    if found:
        return found
    return next((place for place in NGINX_PLACES if os.access(place, os.X_OK)), None)


def _seconds(value: float) -> str:
    return str(max(1, round(value)))


def render(settings: Settings, options: FrontOptions, runtime: Path) -> str:
    """The nginx configuration for these settings, options and runtime directory."""
    shutdown = options.shutdown_timeout_s
    if shutdown is None:
        shutdown = settings.item_timeout_s + 10
    user = ""
    if os.geteuid() == 0:
        # As root, nginx's workers switch to an unprivileged user (they reach the socket and
        # their temporary directories, which the master creates for them).
        nobody = pwd.getpwnam("nobody")
        user = f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"
    values = {
        "@RUNTIME@": str(runtime),
        "@SOCKET@": str(runtime / "gunicorn.sock"),
        "@LISTEN@": options.bind,
        "@USER@": user,
        "@CLIENT_TIMEOUT@": _seconds(options.client_timeout_s),
        "@KEEPALIVE_TIMEOUT@": _seconds(options.keepalive_timeout_s),
        "@SHUTDOWN_TIMEOUT@": _seconds(shutdown),
        "@UPSTREAM_TIMEOUT@": _seconds(settings.item_timeout_s + 30),
        "@MAX_BODY_BYTES@": str(settings.max_body_bytes),
        "@DOC_UPLOAD_BYTES@": str(settings.doc_upload_bytes),
    }
    text = TEMPLATE.read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace(name, value)
    return text


def gunicorn_command(settings: Settings, runtime: Path) -> list[str]:
    """gunicorn as `python -m service serve` runs it, on the front's socket, trusting one more
    proxy than configured (the front appends the client's address to X-Forwarded-For)."""
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    return [
        gunicorn,
        "-c",
        str(ROOT / "gunicorn.conf.py"),
        "--chdir",
        str(ROOT),
        "--bind",
        f"unix:{runtime / 'gunicorn.sock'}",
        "--env",
        f"TRUSTED_PROXIES={max(1, settings.trusted_proxies)}",
        "service:create_app()",
    ]


class Front:
    """The two processes and the shutdown sequence."""

    def __init__(self, settings: Settings, options: FrontOptions) -> None:
        nginx = find_nginx()
        if nginx is None:
            raise FileNotFoundError("nginx is not installed (Debian: apt-get install nginx)")
        self._options = options
        self._own_runtime = options.runtime_dir is None
        if options.runtime_dir is None:
            runtime = Path(tempfile.mkdtemp(prefix="newsroom-front-"))
        else:
            runtime = options.runtime_dir
            runtime.mkdir(parents=True, exist_ok=True)
        # Root's nginx workers run as nobody: they may pass through, not list.
        runtime.chmod(0o711 if os.geteuid() == 0 else 0o700)
        self.runtime = runtime
        (runtime / "draining").unlink(missing_ok=True)
        config = runtime / "nginx.conf"
        config.write_text(render(settings, options, runtime), encoding="utf-8")
        self._gunicorn_argv = gunicorn_command(settings, runtime)
        self._nginx_argv = [nginx, "-p", str(runtime), "-c", str(config), "-e", "stderr"]
        self.gunicorn: subprocess.Popen[bytes] | None = None
        self.nginx: subprocess.Popen[bytes] | None = None
        self._signals: list[int] = []

    def run(self) -> int:
        """Start both, wait for a signal or a death, stop in order; the exit status."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda signum, frame: self._signals.append(signum))
        # Own process groups: Ctrl-C reaches the front only, which stops them in order.
        self.gunicorn = subprocess.Popen(self._gunicorn_argv, process_group=0)
        self.nginx = subprocess.Popen(self._nginx_argv, process_group=0)
        try:
            return self._supervise(self.gunicorn, self.nginx)
        finally:
            for process in (self.nginx, self.gunicorn):
                if process.poll() is None:
                    process.kill()
                    process.wait()
            if self._own_runtime:
                shutil.rmtree(self.runtime, ignore_errors=True)

    def _supervise(self, gunicorn: subprocess.Popen[bytes], nginx: subprocess.Popen[bytes]) -> int:
        quit_at: float | None = None  # when nginx is told to stop
        fast = False
        while True:
            if self._signals and quit_at is None:
                first = self._signals[0]
                (self.runtime / "draining").touch()
                delay = self._options.drain_delay_s if first == signal.SIGTERM else 0
                log.info("stopping: /readyz answers 503; nginx stops in %.1f s", delay)
                quit_at = time.monotonic() + delay
            if len(self._signals) > 1 and not fast:
                fast = True
                log.warning("second signal: stopping nginx and gunicorn now")
                _signal(nginx, signal.SIGTERM)
                _signal(gunicorn, signal.SIGINT)
            if quit_at is None and (nginx.poll() is not None or gunicorn.poll() is not None):
                died = "nginx" if nginx.poll() is not None else "gunicorn"
                log.error("%s exited unexpectedly; stopping the front", died)
                _signal(nginx, signal.SIGQUIT)
                _signal(gunicorn, signal.SIGTERM)
                _wait(nginx, gunicorn)
                return gunicorn.returncode or nginx.returncode or 1
            if quit_at is not None and time.monotonic() >= quit_at:
                quit_at = float("inf")
                _signal(nginx, signal.SIGQUIT)  # graceful: finish the requests in flight
            if quit_at is not None and nginx.poll() is not None:
                _signal(gunicorn, signal.SIGTERM)
                gunicorn.wait()
                return gunicorn.returncode
            time.sleep(_POLL_S)


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    if process.poll() is None:
        process.send_signal(signum)


def _wait(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        process.wait()


def serve_front(settings: Settings, options: FrontOptions) -> int:
    """Run the front until it is stopped; the exit status."""
    return Front(settings, options).run()
