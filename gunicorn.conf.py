"""gunicorn settings for the service: `gunicorn -c gunicorn.conf.py "service:create_app()"`.

One worker process per device, many threads: the worker holds one copy of each model and one
batching queue per model, so requests from all threads land in the same queues and batch
together. More processes would each load their own copies and split the traffic into smaller
batches. The app is built in the worker after fork (no preload): CUDA cannot be initialised before
fork. Command-line options (e.g. --bind, --workers, --threads) and GUNICORN_CMD_ARGS override
these values.
"""

import os
import signal
import tempfile
from pathlib import Path

from gunicorn.errors import AppImportError

from service.core.errors import StartupError

bind = "0.0.0.0:8000"
workers = 1
worker_class = "gthread"
# Request threads only wait on futures; the model work is in the engine's batch workers.
# Concurrent requests beyond this wait in the listen backlog.
threads = 64
backlog = 2048
# A request waits at most ITEM_TIMEOUT_S for the engine; leave room above it.
timeout = 300
# On SIGTERM: stop accepting, give in-flight requests this long to finish.
graceful_timeout = 120
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = "info"
# No runtime control socket: it is one path per user shared by every gunicorn on the host, and
# adding workers at run time would split the batching queues (see above).
control_socket_disable = True


def _extension(worker, name):  # noqa: ANN001, ANN202
    app = getattr(worker, "wsgi", None)
    return getattr(app, "extensions", {}).get(name) if app is not None else None


def _engine(worker):  # noqa: ANN001, ANN202
    return _extension(worker, "engine")


def on_starting(server):  # noqa: ANN001 - gunicorn's hook signature
    """Make the file where a worker leaves its start-up error for the master (see on_exit)."""
    handle, path = tempfile.mkstemp(prefix="service-start-up-error-", suffix=".txt")
    os.close(handle)
    server.start_up_error_path = path


def post_fork(server, worker):  # noqa: ANN001 - gunicorn's hook signature
    """A start-up error (a setting that does not parse, a missing model, an absent device) is
    for the operator to fix: show its one-line message, not a stack trace. gunicorn prints an
    AppImportError's message alone and stops with "App failed to load" (exit code 4)."""
    load_wsgi = worker.load_wsgi
    path = getattr(server, "start_up_error_path", None)

    def load_or_explain() -> None:
        try:
            load_wsgi()
        except StartupError as exc:
            if path is not None:
                Path(path).write_text(str(exc), encoding="utf-8")
            raise AppImportError(f"cannot start: {exc}") from None

    worker.load_wsgi = load_or_explain


def on_exit(server):  # noqa: ANN001 - gunicorn's hook signature
    """Repeat a worker's start-up error as the very last line, after gunicorn's own shutdown
    lines, so the one line that says what to fix is where people look."""
    path = getattr(server, "start_up_error_path", None)
    if path is None:
        return
    error = Path(path)
    message = error.read_text(encoding="utf-8") if error.exists() else ""
    error.unlink(missing_ok=True)
    if message:
        server.log.error("cannot start: %s", message)


def post_worker_init(worker):  # noqa: ANN001 - gunicorn's hook signature
    """If a model's batch worker dies, stop this worker process as on SIGTERM (in-flight requests
    finish; the dead model's fail at once with 503); the master then starts a fresh one."""
    engine = _engine(worker)
    if engine is not None:
        engine.on_worker_death = lambda key: os.kill(os.getpid(), signal.SIGTERM)
    jobs = _extension(worker, "jobs")
    if jobs is not None:
        # On SIGTERM the jobs' worker claims nothing more at once (gunicorn's own handler then
        # lets requests finish); worker_exit lets its running items finish and hands the rest
        # back.
        graceful = signal.getsignal(signal.SIGTERM)

        def drain_then_exit(signum, frame):  # noqa: ANN001, ANN202
            jobs.drain()
            if callable(graceful):
                graceful(signum, frame)

        signal.signal(signal.SIGTERM, drain_then_exit)


def worker_exit(server, worker):  # noqa: ANN001 - gunicorn's hook signature
    """Stop the jobs' worker (its running items finish and are written, its other claims are
    handed back) and the job callbacks, then drain the engine's queues and join its workers
    before the process exits."""
    jobs = _extension(worker, "jobs")
    if jobs is not None:
        jobs.stop(timeout=graceful_timeout)
    webhooks = _extension(worker, "webhooks")
    if webhooks is not None:
        # A callback being sent gets its own timeout; those waiting to be retried are dropped
        # (and logged): callbacks live in the process's memory.
        webhooks.close(timeout=10)
    engine = _engine(worker)
    if engine is not None:
        engine.close(timeout=graceful_timeout)
