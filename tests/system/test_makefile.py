"""The Makefile's promises, read from `make -n` (a dry run: nothing is installed or started)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _dry_run(target: str, tmp_path: Path, **env: str) -> str:
    """The commands `make TARGET` would run, with a virtualenv path that does not exist yet."""
    clean = {
        k: v for k, v in os.environ.items() if k not in {"SUMMARIZE_MODEL", "TRANSLATE_MODELS"}
    }
    done = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_demo_serves_the_demo_models_by_default(tmp_path: Path) -> None:
    out = _dry_run("demo", tmp_path)
    assert "SUMMARIZE_MODEL='models/demo/summarize'" in out
    assert "TRANSLATE_MODELS='en-fr=models/demo/en-fr,en-ar=models/demo/en-ar'" in out


def test_demo_keeps_the_models_the_user_set(tmp_path: Path) -> None:
    out = _dry_run("demo", tmp_path, SUMMARIZE_MODEL="models/summarize")
    assert "SUMMARIZE_MODEL='models/summarize'" in out
    assert "TRANSLATE_MODELS='en-fr=models/demo/en-fr,en-ar=models/demo/en-ar'" in out
    out = _dry_run("demo", tmp_path, TRANSLATE_MODELS="en-fr=models/en-fr")
    assert "TRANSLATE_MODELS='en-fr=models/en-fr'" in out


def test_run_never_gets_the_demo_models(tmp_path: Path) -> None:
    assert "models/demo" not in _dry_run("run", tmp_path)


def test_install_is_serve_only_and_test_adds_the_dev_tools(tmp_path: Path) -> None:
    install = _dry_run("install", tmp_path)
    assert "-r requirements.txt" in install and "requirements-dev.txt" not in install
    test = _dry_run("test", tmp_path)
    assert "-r requirements.txt" in test and "-r requirements-dev.txt" in test
    assert "pytest" in test
