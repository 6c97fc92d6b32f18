"""The Redis job store's keys and records, without a Redis: names that cannot collide, records
that read back as written, and tokens and cursors this store never gave refused."""

from __future__ import annotations

import pytest

from service.jobs.redis_layout import (
    DEFAULT_PREFIX,
    Keys,
    check_cursor,
    outcome_fields,
    pairs,
    read_job,
    read_outcome,
    read_spec,
    read_token,
    spec_field,
    token,
)
from service.jobs.store import ItemError, JobSpec, Outcome


def test_every_key_starts_with_the_prefix_and_one_hash_tag() -> None:
    keys = Keys()
    names = [keys.queue, keys.finished, keys.active(None), keys.active("k")]
    names += [keys.job("j"), keys.written("j"), keys.results("j"), keys.entries("j")]
    assert all(name.startswith(DEFAULT_PREFIX + ":") for name in names)
    assert len(set(names)) == len(names)
    assert DEFAULT_PREFIX.startswith("{") and DEFAULT_PREFIX.endswith("}")
    assert Keys("p").job("j") == "p:job:j" and Keys("p").queue == "p:queue"
    assert Keys("p").active(None) == "p:active:anonymous"
    assert Keys("p").active("k") == "p:active:owner:k"


def test_jobs_without_an_owner_never_count_against_an_owner_of_any_name() -> None:
    keys = Keys()
    owners = [None, "None", "anonymous", "owner:x", "x", ""]
    assert len({keys.active(owner) for owner in owners}) == len(owners)


def test_a_spec_reads_back_as_written() -> None:
    spec = JobSpec(
        task="translate", options={"target": "ar", "n": [1, 2]}, owner="k", callback_url="u"
    )
    assert read_spec(spec_field(spec)) == spec
    assert read_spec(spec_field(JobSpec(task="summarize"))) == JobSpec(task="summarize")


def test_a_job_reads_from_its_hash_with_absent_times_as_none() -> None:
    spec = JobSpec(task="article", owner=None)
    fields = {"spec": spec_field(spec), "status": "running", "total": "5", "done": "2"}
    fields |= {"failed": "1", "created_at": "1700000000.25", "started_at": "1700000001.5"}
    job = read_job("j1", fields)
    assert job is not None
    assert (job.id, job.spec, job.status) == ("j1", spec, "running")
    assert (job.total, job.done, job.failed) == (5, 2, 1)
    assert (job.created_at, job.started_at, job.finished_at) == (1700000000.25, 1700000001.5, None)
    assert read_job("j1", {}) is None
    ended = read_job("j1", fields | {"status": "done", "finished_at": "1700000009.0"})
    assert ended is not None and ended.finished_at == 1700000009.0


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome("a", result={"translation": "bonjour", "chars": 7}),
        Outcome("b", result=None),
        Outcome("c", result=["x"]),
        Outcome("d", error=ItemError("item_timeout", "took too long")),
    ],
)
def test_an_outcome_reads_back_from_its_results_entry(outcome: Outcome) -> None:
    flat = ["item", outcome.item_id, *outcome_fields(outcome)]
    assert read_outcome(pairs(flat)) == outcome


def test_a_token_names_its_entry_and_worker() -> None:
    assert read_token(token("1700000000000-3", "host:12@x")) == ("1700000000000-3", "host:12@x")
    for bad in ["", "1700000000000-3", "row-7@w", "7@w", "1-2-3@w"]:
        with pytest.raises(ValueError, match="not a Redis job store token"):
            read_token(bad)


def test_a_cursor_is_empty_or_a_stream_id() -> None:
    assert check_cursor("") == ""
    assert check_cursor("1700000000000-12") == "1700000000000-12"
    for bad in ["12", "-", "+", "(1-0", "1-0 ", "a-b", "1-2-3"]:
        with pytest.raises(ValueError, match="not a results cursor"):
            check_cursor(bad)


def test_a_scripts_flat_reply_pairs_up() -> None:
    assert pairs(["a", "1", "b", "2"]) == {"a": "1", "b": "2"}
    assert pairs([]) == {}
