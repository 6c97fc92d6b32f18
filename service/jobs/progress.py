"""A job's progress as clients read it: `GET /v1/jobs/<id>`, its events, its webhook (pure).

One shape everywhere, so a dashboard reading events, a client polling and a webhook receiver
parse the same object: `id`, `task`, `status`, `total`, `done` and `failed` (items with a
written outcome of each kind), `created_at`, `started_at` and `finished_at` (ISO 8601 UTC, null
until they happen) and `eta_s`.

`eta_s` is the seconds left at the rate measured so far: items finished (done or failed) per
second since the job started, applied to the items left. It is null while nothing can be
measured (queued, or running with no item finished yet) and 0 once the job is finished.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.jobs.store import FINISHED, Job


def timestamp(epoch: float | None) -> str | None:
    """Epoch seconds as ISO 8601 in UTC to the millisecond (`2026-12-04T23:59:01.250Z`)."""
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def eta_s(job: Job, now: float) -> float | None:
    """Seconds until the job's last item is finished, at its rate so far (see above)."""
    if job.status in FINISHED:
        return 0.0
    return rate_eta(job.started_at, now, job.done + job.failed, job.total)


def rate_eta(started_at: float | None, now: float, finished: int, total: int) -> float | None:
    """Seconds until `total` units are finished, at the rate of the `finished` ones since
    `started_at`; None before anything can be measured (not started, nothing finished)."""
    if started_at is None or finished <= 0:
        return None
    elapsed = max(now - started_at, 0.0)
    left = max(total - finished, 0)
    return round(elapsed / finished * left, 1)


def status_body(job: Job, now: float) -> dict[str, Any]:
    """The job as `GET /v1/jobs/<id>` answers it."""
    return {
        "id": job.id,
        "task": job.spec.task,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "created_at": timestamp(job.created_at),
        "started_at": timestamp(job.started_at),
        "finished_at": timestamp(job.finished_at),
        "eta_s": eta_s(job, now),
    }
