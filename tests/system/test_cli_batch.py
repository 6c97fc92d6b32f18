"""`python -m service batch` as users run it: subprocesses on the tiny demo models.

Results are compared with the HTTP API on the same models, item by item (outputs do not depend
on batch-mates: BATCH_BUCKET_TOKENS), so running items together changes nothing they answer.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from test_cli import assert_one_line_error, start_cli

TEXTS = {
    "bridge": "The council approved the new bridge on Tuesday after a long debate.",
    "7": "Farmers fear the drought will ruin the harvest.\n\nPrices rose again this week.",
    "museum": "The museum reopened after a long renovation. Talks on the ceasefire resumed.",
}


def write_lines(path: Path, values: list[object]) -> Path:
    path.write_text("".join(json.dumps(v) + "\n" for v in values), encoding="utf-8")
    return path


def read_lines(path: Path) -> list[dict]:
    """OUTPUT's lines, each checked to be whole JSON ending in a newline."""
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def finish(process: subprocess.Popen, stdin: str = "") -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(stdin, timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


ITEMS = [
    {"id": "bridge", "text": TEXTS["bridge"]},
    {"id": 7, "text": TEXTS["7"]},
    {"id": "empty", "text": "  "},
    {"id": "museum", "text": TEXTS["museum"], "note": "ignored"},
    {"text": 12},
]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("batch")
    write_lines(path / "items.jsonl", ITEMS)
    many = [{"id": f"n{i}", "text": f"Report {i}: {TEXTS['museum']}"} for i in range(300)]
    write_lines(path / "many.jsonl", many)
    (path / "bad.jsonl").write_text('{"text": "fine"}\n\n{"text": "cut\n', encoding="utf-8")
    # A previous run's OUTPUT: two items done (their results are not the models': a rerun of
    # either would show), then a line cut short by a crash.
    write_lines(
        path / "resumed.jsonl",
        [{"id": "bridge", "result": "from before"}, {"id": "empty", "error": {"code": "x"}}],
    )
    with (path / "resumed.jsonl").open("ab") as file:
        file.write(b'{"id": "museum", "result": {"transl')
    return path


@pytest.fixture(scope="module")
def runs(work: Path, demo_env: dict[str, str]) -> dict[str, subprocess.CompletedProcess]:
    """The commands of this module that run to their end, started together (each spends
    seconds importing torch)."""
    items = str(work / "items.jsonl")
    commands = {
        "translate": ["--task", "translate", "--target", "fr"],
        "summarize": ["--task", "summarize", "--length", "short", "--style", "bullets"],
        "article": ["--task", "article", "--translate-to", "ar,fr"],
    }
    started = {
        name: start_cli(["batch", items, str(work / f"{name}.jsonl"), *args], demo_env)
        for name, args in commands.items()
    }
    started["resumed"] = start_cli(
        ["batch", items, str(work / "resumed.jsonl"), "--task", "translate", "--target", "ar"],
        demo_env,
    )
    started["bad"] = start_cli(
        ["batch", str(work / "bad.jsonl"), str(work / "bad-out.jsonl"), "--task", "summarize"],
        demo_env,
    )
    started["stdin"] = start_cli(
        ["batch", "-", str(work / "stdin.jsonl"), "--task", "translate", "--target", "ar"],
        demo_env,
    )
    stdin = {"stdin": (work / "items.jsonl").read_text(encoding="utf-8")}
    return {name: finish(process, stdin.get(name, "")) for name, process in started.items()}


def by_id(lines: list[dict]) -> dict[str, dict]:
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids)), ids
    return {line["id"]: line for line in lines}


def assert_item_errors(lines: dict[str, dict]) -> None:
    """The unusable items are error lines: a blank text, and a text that is not a string (id:
    its index)."""
    assert lines["empty"] == {
        "id": "empty",
        "error": {"code": "invalid_request", "message": "the text is empty"},
    }
    assert lines["4"]["error"]["message"] == "the item's text must be a string"


def test_translate_a_file_item_by_item_as_the_api_does(runs, work, client: FlaskClient) -> None:
    result = runs["translate"]
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert f"5 of 5 items in {work / 'translate.jsonl'}" in result.stderr
    lines = by_id(read_lines(work / "translate.jsonl"))
    assert set(lines) == {"bridge", "7", "empty", "museum", "4"}
    for item_id, text in TEXTS.items():
        expected = client.post("/v1/translate", json={"text": text, "target": "fr"}).get_json()
        assert lines[item_id] == {"id": item_id, "result": expected}
    assert "\n\n" in lines["7"]["result"]["translation"]
    assert_item_errors(lines)


def test_summarize_a_file_as_the_api_does(runs, work, client: FlaskClient) -> None:
    result = runs["summarize"]
    assert result.returncode == 0, result.stderr
    lines = by_id(read_lines(work / "summarize.jsonl"))
    for item_id, text in TEXTS.items():
        body = {"text": text, "length": "short", "style": "bullets"}
        expected = client.post("/v1/summarize", json=body).get_json()
        assert "bullets" in expected and "reading_minutes" in expected
        assert lines[item_id] == {"id": item_id, "result": expected}
    assert_item_errors(lines)


def test_articles_a_file_as_the_api_does(runs, work, client: FlaskClient) -> None:
    result = runs["article"]
    assert result.returncode == 0, result.stderr
    lines = by_id(read_lines(work / "article.jsonl"))
    for item_id, text in TEXTS.items():
        body = {"text": text, "translate_to": ["ar", "fr"]}
        expected = client.post("/v1/articles", json=body).get_json()
        assert set(expected["translations"]) == {"ar", "fr"}
        assert lines[item_id] == {"id": item_id, "result": expected}
    assert_item_errors(lines)


def test_items_from_stdin(runs, work) -> None:
    result = runs["stdin"]
    assert result.returncode == 0, result.stderr
    assert len(by_id(read_lines(work / "stdin.jsonl"))) == len(ITEMS)


def test_a_resumed_run_does_only_the_items_missing_from_output(runs, work) -> None:
    result = runs["resumed"]
    assert result.returncode == 0, result.stderr
    assert "(3 written now, 1 of them errors)" in result.stderr
    lines = read_lines(work / "resumed.jsonl")
    assert lines[:2] == [
        {"id": "bridge", "result": "from before"},
        {"id": "empty", "error": {"code": "x"}},
    ]
    done = by_id(lines)
    assert set(done) == {"bridge", "7", "empty", "museum", "4"}
    # The item whose line was cut short was redone, whole.
    assert done["museum"]["result"]["target"] == "ar"


def test_a_malformed_input_names_its_line_and_writes_nothing(runs, work) -> None:
    line = assert_one_line_error(runs["bad"], str(work / "bad.jsonl"), "line 3 is not JSON")
    assert "Unterminated string" in line
    assert not (work / "bad-out.jsonl").exists()


def test_an_output_that_is_not_result_lines_is_refused_and_kept(demo_env, work) -> None:
    output = work / "notes.jsonl"
    output.write_text('{"id": "bridge", "result": 1}\nmy notes\n', encoding="utf-8")
    args = ["batch", str(work / "items.jsonl"), str(output), "--task", "summarize"]
    assert_one_line_error(finish(start_cli(args, demo_env)), f"{output}: line 2 is not a result")
    assert output.read_text(encoding="utf-8") == '{"id": "bridge", "result": 1}\nmy notes\n'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "translate"], "--task translate needs --target"),
        (["--task", "summarize", "--target", "fr"], "--target is not an option of --task summ"),
        (["--task", "translate", "--target", "fr", "--length", "short"], "--length is not an"),
        (["--task", "article", "--source", "fr"], "summarised from 'en' only, not 'fr'"),
        (["--task", "summarize", "--concurrency", "0"], "--concurrency must be 1 or more"),
    ],
)
def test_options_that_cannot_run_are_refused(demo_env, work, args, message) -> None:
    output = work / "refused.jsonl"
    process = start_cli(["batch", str(work / "items.jsonl"), str(output), *args], demo_env)
    assert_one_line_error(finish(process), message)
    assert not output.exists()


def interrupt(demo_env: dict[str, str], work: Path, output: Path, sig: int) -> list[str]:
    """Start a batch of 300 summaries, send `sig` once a line is written and wait for the
    process to end; the command line to run it again."""
    args = ["batch", str(work / "many.jsonl"), str(output), "--task", "summarize"]
    # One item at a time, so that the run is still going when the signal comes.
    process = start_cli([*args, "--concurrency", "1"], demo_env)
    while not output.exists() or output.stat().st_size == 0:
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(sig)
    stopped = finish(process)
    assert "Traceback" not in stopped.stderr
    if sig == signal.SIGKILL:
        assert stopped.returncode == -signal.SIGKILL
    else:
        assert stopped.returncode == 130, stopped.stderr
        assert "run the same command again to finish" in stopped.stderr
    return args


def assert_completed_once(demo_env: dict[str, str], args: list[str], output: Path) -> None:
    """A rerun exits 0 having written only what was missing: every id once, the lines that were
    there first kept in front."""
    first = output.read_bytes().splitlines(keepends=True)
    whole = [json.loads(line)["id"] for line in first if line.endswith(b"\n")]
    rerun = finish(start_cli(args, demo_env))
    assert rerun.returncode == 0, rerun.stderr
    assert f"({300 - len(whole)} written now, 0 of them errors)" in rerun.stderr
    lines = read_lines(output)
    assert [line["id"] for line in lines[: len(whole)]] == whole
    assert set(by_id(lines)) == {f"n{i}" for i in range(300)}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_leaves_whole_lines_and_a_rerun_completes_each_item_once(
    demo_env: dict[str, str], work: Path, sig: int
) -> None:
    output = work / f"stopped-{sig}.jsonl"
    args = interrupt(demo_env, work, output, sig)
    first = by_id(read_lines(output))  # whole lines only, each id once
    assert 0 < len(first) < 300
    assert_completed_once(demo_env, args, output)


def test_after_a_hard_kill_a_rerun_completes_each_item_once(
    demo_env: dict[str, str], work: Path
) -> None:
    output = work / "killed.jsonl"
    args = interrupt(demo_env, work, output, signal.SIGKILL)
    assert_completed_once(demo_env, args, output)
