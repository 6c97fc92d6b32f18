"""`python -m service ...` as users run it: subprocesses with the demo models in the environment.

Answers are compared with the HTTP API on the same models (the tiny models are deterministic).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from flask.testing import FlaskClient

ARTICLE = (
    "The council approved the new bridge on Tuesday. Farmers fear the drought will ruin the "
    "harvest.\n\nThe museum reopened after a long renovation. Talks on the ceasefire resumed."
)
FRENCH = "Le conseil municipal a approuvé le nouveau pont mardi après un long débat."


def start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "service", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


def _user_lines(stderr: str) -> list[str]:
    """stderr without the service's JSON log records."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    (line,) = _user_lines(result.stderr)
    assert line.startswith("error: ")
    for needle in needles:
        assert needle in line
    return line


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    (path / "article.txt").write_text(ARTICLE, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(work: Path, demo_env: dict[str, str]) -> dict[str, subprocess.CompletedProcess]:
    """Every command of this module, started together (each spends seconds importing torch)."""
    article = str(work / "article.txt")
    missing_model = {**demo_env, "SUMMARIZE_MODEL": str(work / "no-such-model")}
    offline_hub = {
        **demo_env,
        "SUMMARIZE_MODEL": "example-org/not-in-any-cache",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(work / "empty-hf-home"),
    }
    commands: dict[str, tuple[list[str], dict[str, str], str]] = {
        "summarize": (
            ["summarize", article, "--translate", "ar,fr", "--length", "short"],
            demo_env,
            "",
        ),
        "translate": (["translate", "-", "--target", "ar", "--json"], demo_env, ARTICLE),
        "demo": (["demo-models", str(work / "demo")], {"HF_HUB_OFFLINE": "1"}, ""),
        "missing-model": (["summarize", article], missing_model, ""),
        "offline-hub": (["summarize", article], offline_hub, ""),
        "unsupported": (["translate", article, "--target", "de"], demo_env, ""),
        "auto": (
            ["translate", "-", "--target", "fr", "--source", "auto", "--json"],
            demo_env,
            ARTICLE,
        ),
        "auto-french": (["translate", "-", "--target", "ar", "--source", "auto"], demo_env, FRENCH),
    }
    started = {name: start_cli(args, env) for name, (args, env, _) in commands.items()}
    finished = {}
    for name, process in started.items():
        stdout, stderr = process.communicate(commands[name][2], timeout=300)
        finished[name] = subprocess.CompletedProcess(
            process.args, process.returncode, stdout, stderr
        )
    return finished


def test_summarize_file_and_translate_the_summary(runs, client: FlaskClient) -> None:
    result = runs["summarize"]
    assert result.returncode == 0, result.stderr
    body = {"text": ARTICLE, "translate_to": ["ar", "fr"], "length": "short"}
    expected = client.post("/v1/articles", json=body).get_json()
    assert result.stdout == (
        f"--- summary ---\n{expected['summary']}\n"
        f"--- translations [ar] ---\n{expected['translations']['ar']}\n"
        f"--- translations [fr] ---\n{expected['translations']['fr']}\n"
    )


def test_translate_stdin_to_arabic_as_json(runs, client: FlaskClient) -> None:
    result = runs["translate"]
    assert result.returncode == 0, result.stderr
    expected = client.post("/v1/translate", json={"text": ARTICLE, "target": "ar"})
    translation = expected.get_json()["translation"]
    assert json.loads(result.stdout) == {"translation": translation}
    assert "\n\n" in translation  # the paragraph break survives
    arabic = [ch for ch in translation if "\u0600" <= ch <= "\u06ff"]
    assert arabic and arabic[0] in result.stdout  # printed as characters, not \\u escapes


def test_demo_models_writes_three_models_and_prints_their_settings(runs, work: Path) -> None:
    result = runs["demo"]
    assert result.returncode == 0, result.stderr
    demo = work / "demo"
    for name in ("summarize", "en-fr", "en-ar"):
        assert (demo / name / "config.json").is_file()
    exports = dict(
        line.strip().removeprefix("export ").split("=", 1)
        for line in result.stdout.splitlines()
        if line.strip().startswith("export ")
    )
    assert exports == {
        "SUMMARIZE_MODEL": str(demo / "summarize"),
        "TRANSLATE_MODELS": f"en-fr={demo / 'en-fr'},en-ar={demo / 'en-ar'}",
    }
    assert "RANDOM-WEIGHT" in result.stdout


def test_missing_model_directory_is_one_line_and_exit_2(runs, work: Path) -> None:
    missing = work / "no-such-model"
    assert_one_line_error(runs["missing-model"], f"directory '{missing}' does not exist")


def test_hub_model_missing_offline_is_one_line_and_exit_2(runs) -> None:
    line = assert_one_line_error(runs["offline-hub"], "model for 'summarize': cannot load ")
    assert "'example-org/not-in-any-cache'" in line and "fetch-models" in line


def test_unsupported_language_lists_the_configured_pairs(runs) -> None:
    line = assert_one_line_error(runs["unsupported"], "'de'")
    assert line.endswith("supported pairs: en-fr, en-ar")


def test_source_auto_detects_as_the_api_does(runs, client: FlaskClient) -> None:
    result = runs["auto"]
    assert result.returncode == 0, result.stderr
    body = {"text": ARTICLE, "target": "fr", "source": "auto"}
    expected = client.post("/v1/translate", json=body).get_json()
    assert expected["detected"]["language"] == "en"
    assert json.loads(result.stdout) == {"translation": expected["translation"]}


def test_source_auto_names_the_language_it_cannot_translate(runs) -> None:
    line = assert_one_line_error(runs["auto-french"], "looks like 'fr'")
    assert "no model translates 'fr' to 'ar'" in line


def test_usage_errors_exit_2_with_usage() -> None:
    process = start_cli(["translate", "-"], {})
    _, stderr = process.communicate("", timeout=60)
    assert process.returncode == 2
    assert "--target" in stderr and "Traceback" not in stderr
