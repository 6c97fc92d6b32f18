"""A job's progress as clients read it: timestamps and the ETA from the measured rate."""

from __future__ import annotations

import pytest

from service.jobs.progress import eta_s, rate_eta, status_body, timestamp
from service.jobs.store import Job, JobSpec


def _job(status: str = "running", done: int = 0, failed: int = 0, started: float | None = 100.0):
    return Job(
        id="j",
        spec=JobSpec(task="summarize"),
        status=status,
        total=10,
        done=done,
        failed=failed,
        created_at=90.0,
        started_at=started,
    )


def test_timestamps_are_iso_8601_utc_to_the_millisecond() -> None:
    assert timestamp(None) is None
    assert timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert timestamp(1733356741.25) == "2024-12-04T23:59:01.250Z"


def test_the_eta_is_the_items_left_at_the_rate_so_far() -> None:
    # 4 items finished (3 done, 1 failed) in 20 s: 5 s each, 6 left.
    assert eta_s(_job(done=3, failed=1), now=120.0) == 30.0
    assert eta_s(_job(done=1), now=103.33) == pytest.approx(30.0, abs=0.1)


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        (_job(status="queued", started=None), None),
        (_job(done=0), None),  # running, nothing finished: no rate yet
        (_job(status="done", done=10), 0.0),
        (_job(status="cancelled", done=2), 0.0),
        (_job(status="failed", failed=10), 0.0),
    ],
)
def test_the_eta_is_unknown_until_measured_and_zero_once_finished(job: Job, expected) -> None:
    assert eta_s(job, now=150.0) == expected


def test_a_clock_behind_the_start_gives_no_negative_eta() -> None:
    assert eta_s(_job(done=5), now=50.0) == 0.0


def test_the_status_body_names_every_field() -> None:
    body = status_body(_job(done=3, failed=1), now=120.0)
    assert body == {
        "id": "j",
        "task": "summarize",
        "status": "running",
        "total": 10,
        "done": 3,
        "failed": 1,
        "created_at": "1970-01-01T00:01:30.000Z",
        "started_at": "1970-01-01T00:01:40.000Z",
        "finished_at": None,
        "eta_s": 30.0,
    }


def test_rate_eta_of_a_document_s_segments() -> None:
    assert rate_eta(None, 100.0, 10, 40) is None  # not started
    assert rate_eta(90.0, 100.0, 0, 40) is None  # nothing finished yet
    assert rate_eta(90.0, 100.0, 10, 40) == 30.0  # 1 s a segment, 30 left
    assert rate_eta(90.0, 100.0, 40, 40) == 0.0
    assert rate_eta(90.0, 100.0, 50, 40) == 0.0  # never negative
    assert rate_eta(110.0, 100.0, 10, 40) == 0.0  # a clock behind the start: no time passed
    assert rate_eta(97.0, 100.0, 3, 4) == 1.0
