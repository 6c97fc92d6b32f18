"""The batch command's run loop (service/ops/batch.py) with a plain function as the operation:
what is written, what is skipped, which errors are the item's and which end the run."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from service.core.errors import (
    InvalidRequest,
    ItemTimeout,
    ModelUnavailable,
    Overloaded,
)
from service.jobs.store import Item, ItemError, Outcome
from service.ops.batch import BatchReport, outcome_of, resume, run_batch


def items(*ids: str) -> list[Item]:
    return [Item(i, f"text {i}") for i in ids]


def lines(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.splitlines()]


def run(output: Path, todo: list[Item], operation=str.upper, **kw) -> BatchReport:
    kw.setdefault("concurrency", 4)
    kw.setdefault("stop", threading.Event())
    return run_batch(operation, todo, output, **kw)


def test_every_item_gets_one_line_and_the_report_counts_them(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    bad = Item("bad", error=ItemError("invalid_request", "the text is empty"))
    reports: list[tuple[int, int]] = []
    report = run(
        output,
        [*items("a", "b", "c"), bad],
        progress=lambda r: reports.append((r.written, r.total)),
    )
    assert report == BatchReport(total=4, skipped=0, written=4, errors=1, stopped=False)
    assert sorted(map(json.dumps, lines(output))) == sorted(
        map(
            json.dumps,
            [
                {"id": "a", "result": "TEXT A"},
                {"id": "b", "result": "TEXT B"},
                {"id": "c", "result": "TEXT C"},
                {"id": "bad", "error": {"code": "invalid_request", "message": "the text is empty"}},
            ],
        )
    )
    assert reports == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


def test_ids_in_output_are_skipped_and_a_torn_last_line_is_redone(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    before = b'{"id": "a", "result": "kept"}\n'
    output.write_bytes(before + b'{"id": "b", "res')
    seen: list[str] = []

    def operation(text: str) -> str:
        seen.append(text)
        return text

    report = run(output, items("a", "b", "c"), operation)
    assert (report.skipped, report.written, report.in_output) == (1, 2, 3)
    assert sorted(seen) == ["text b", "text c"]
    assert output.read_bytes().startswith(before)
    assert sorted(line["id"] for line in lines(output)) == ["a", "b", "c"]


def test_resume_cuts_the_torn_line_off_the_file(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    assert resume(output) == set()
    output.write_bytes(b'{"id": "x", "result": 1}\n{"id": "y", "error": {"code": "c"}}\n{"id"')
    assert resume(output) == {"x", "y"}
    assert output.read_bytes().endswith(b'"c"}}\n')


def test_an_output_that_is_not_result_lines_is_refused_and_left_alone(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    output.write_bytes(b"some notes\nmore\n")
    with pytest.raises(InvalidRequest, match="line 1 is not a result line"):
        run(output, items("a"))
    assert output.read_bytes() == b"some notes\nmore\n"


def test_the_items_own_errors_are_its_lines(tmp_path: Path) -> None:
    def operation(text: str) -> str:
        if text == "text slow":
            raise ItemTimeout()
        raise InvalidRequest("no model translates 'xx' to 'fr'")

    output = tmp_path / "out.jsonl"
    report = run(output, items("slow", "odd"), operation)
    assert report.errors == 2
    found = {line["id"]: line["error"]["code"] for line in lines(output)}
    assert found == {"slow": "timeout", "odd": "invalid_request"}


def test_a_full_queue_is_waited_out() -> None:
    calls = []

    def operation(text: str) -> str:
        calls.append(text)
        if len(calls) < 3:
            raise Overloaded("the queue is full")
        return "done"

    assert outcome_of(operation, Item("a", "t")) == Outcome("a", result="done")
    assert len(calls) == 3


def test_a_model_that_stopped_ends_the_run_and_its_items_stay_unwritten(tmp_path: Path) -> None:
    def operation(text: str) -> str:
        if text == "text b":
            raise ModelUnavailable("the model's worker has stopped")
        return text

    output = tmp_path / "out.jsonl"
    with pytest.raises(ModelUnavailable):
        run(output, items("a", "b"), operation, concurrency=1)
    assert [line["id"] for line in lines(output)] == ["a"]


def test_a_stopped_run_writes_only_whole_lines_of_finished_items(tmp_path: Path) -> None:
    stop, release = threading.Event(), threading.Event()

    def operation(text: str) -> str:
        if text != "text a":
            stop.set()
            release.wait(5)  # still running when the run returns: not written
        return text

    output = tmp_path / "out.jsonl"
    report = run(output, items("a", "b", "c"), operation, concurrency=1, stop=stop)
    release.set()
    assert report.stopped and report.written == 1
    assert lines(output) == [{"id": "a", "result": "text a"}]
