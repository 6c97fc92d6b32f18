"""`fetch-models` with the Hub mocked at its boundary, and start-up when a model cannot be had.

The fake Hub serves the tiny demo models' files (plus weights in formats nobody should fetch), so
the directories `fetch_models` fills can really be loaded by the service.
"""

import fnmatch
import os
import shutil
from pathlib import Path

import httpx2
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

import service.core.logs
import service.ops.fetch
from service.__main__ import main
from service.core.config import Settings
from service.core.errors import ModelLoadError
from service.http.app import create_app
from service.inference.engine import Engine
from service.ops.fetch import fetch_models

SUMMARIZER = "example-org/distilbart-tiny"
FRENCH = "example-org/opus-mt-en-fr-tiny"


class FakeHub:
    """Repos backed by local directories; records what `snapshot_download` was asked for."""

    def __init__(self, repos: dict[str, tuple[Path, list[str]]]) -> None:
        # repo id -> (directory with the real files, extra file names the repo also lists)
        self.repos = repos
        self.downloads: list[tuple[str, Path, list[str]]] = []

    def list_repo_files(self, repo_id: str, **kwargs: object) -> list[str]:
        source, extra = self.repos[repo_id]
        return sorted(p.name for p in source.iterdir()) + extra

    def snapshot_download(
        self, repo_id: str, *, local_dir: Path, allow_patterns: list[str], **kwargs: object
    ) -> str:
        self.downloads.append((repo_id, Path(local_dir), list(allow_patterns)))
        source, _ = self.repos[repo_id]
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        for name in self.list_repo_files(repo_id):
            if any(fnmatch.fnmatch(name, pattern) for pattern in allow_patterns):
                if (source / name).exists():
                    shutil.copy(source / name, Path(local_dir) / name)
        return str(local_dir)


@pytest.fixture
def hub(demo_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    fake = FakeHub(
        {
            SUMMARIZER: (demo_models["summarize"], ["pytorch_model.bin", "tf_model.h5"]),
            FRENCH: (demo_models["en-fr"], ["flax_model.msgpack"]),
        }
    )
    monkeypatch.setattr(service.ops.fetch, "list_repo_files", fake.list_repo_files)
    monkeypatch.setattr(service.ops.fetch, "snapshot_download", fake.snapshot_download)
    return fake


def _settings(demo_models: dict[str, Path]) -> Settings:
    return Settings.defaults(
        summarize_model=SUMMARIZER,
        translate_models=(("en-fr", FRENCH), ("en-ar", str(demo_models["en-ar"]))),
    )


def _wanted(patterns: list[str], names: list[str]) -> set[str]:
    return {n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)}


def test_each_hub_model_goes_to_dest_key_and_local_directories_stay(
    hub: FakeHub, demo_models: dict[str, Path], tmp_path: Path
) -> None:
    fetched = fetch_models(_settings(demo_models), tmp_path / "models")
    assert [(repo, where) for repo, where, _ in hub.downloads] == [
        (SUMMARIZER, tmp_path / "models" / "summarize"),
        (FRENCH, tmp_path / "models" / "en-fr"),
    ]
    assert fetched.paths == {
        "summarize": tmp_path / "models" / "summarize",
        "en-fr": tmp_path / "models" / "en-fr",
        "en-ar": demo_models["en-ar"],
    }
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["en-fr", "summarize"]


@pytest.mark.parametrize(
    ("listed", "wanted"),
    [
        (
            # safetensors present: the .bin copy of the same weights is skipped.
            ["config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5", "vocab.json"],
            {"config.json", "model.safetensors", "vocab.json"},
        ),
        (
            # only .bin weights: they are fetched; other frameworks' weights never are.
            ["config.json", "pytorch_model.bin", "source.spm", "flax_model.msgpack", "README.md"],
            {"config.json", "pytorch_model.bin", "source.spm"},
        ),
    ],
)
def test_allow_patterns_take_only_the_files_needed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, listed: list[str], wanted: set[str]
) -> None:
    asked: list[list[str]] = []
    monkeypatch.setattr(service.ops.fetch, "list_repo_files", lambda repo_id, **kw: listed)
    monkeypatch.setattr(
        service.ops.fetch,
        "snapshot_download",
        lambda repo_id, *, local_dir, allow_patterns, **kw: asked.append(allow_patterns),
    )
    # The download is mocked, so there is nothing to convert: the transformers backend.
    settings = Settings.defaults(translate_models=(), translate_prefixes=(), backend="transformers")
    fetch_models(settings, tmp_path)
    (patterns,) = asked
    assert _wanted(patterns, listed) == wanted


def test_the_printed_settings_serve_the_fetched_models(
    hub: FakeHub, demo_models: dict[str, Path], tmp_path: Path
) -> None:
    fetched = fetch_models(_settings(demo_models), tmp_path / "models")
    lines = fetched.env_lines()
    assert lines == [
        f"SUMMARIZE_MODEL={tmp_path / 'models' / 'summarize'}",
        f"TRANSLATE_MODELS=en-fr={tmp_path / 'models' / 'en-fr'},en-ar={demo_models['en-ar']}",
    ]
    engine = Engine(Settings.from_env(dict(line.split("=", 1) for line in lines))).start()
    try:
        assert engine.ready
        assert engine.keys("translate") == ["en-fr", "en-ar"]
    finally:
        engine.close(timeout=30)


def test_fetch_models_command_prints_export_lines(
    hub: FakeHub,
    demo_models: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(service.core.logs, "configure_logging", lambda level: None)
    monkeypatch.setenv("SUMMARIZE_MODEL", SUMMARIZER)
    monkeypatch.setenv("TRANSLATE_MODELS", f"en-fr={FRENCH}")
    monkeypatch.setenv("TRANSLATE_PREFIXES", "")
    monkeypatch.setenv("MODELS_DIR", str(tmp_path / "default-dir"))
    assert main(["fetch-models"]) == 0
    out = capsys.readouterr().out
    exports = [line.strip() for line in out.splitlines() if line.strip().startswith("export ")]
    default_dir = tmp_path / "default-dir"
    assert exports == [
        f"export SUMMARIZE_MODEL={default_dir / 'summarize'}",
        f"export TRANSLATE_MODELS=en-fr={default_dir / 'en-fr'}",
        "export HF_HUB_OFFLINE=1",
    ]
    assert (default_dir / "summarize" / "config.json").is_file()


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("list_repo_files", httpx2.ConnectError("[Errno -2] Name or service not known")),
        ("list_repo_files", OfflineModeIsEnabled("offline mode is enabled")),
        ("snapshot_download", LocalEntryNotFoundError("no cached snapshot, traffic disabled")),
        ("snapshot_download", httpx2.ReadTimeout("The read operation timed out")),
    ],
)
def test_unreachable_hub_is_a_model_load_error_naming_the_model(
    hub: FakeHub,
    demo_models: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    error: Exception,
) -> None:
    def unreachable(*args: object, **kwargs: object) -> object:
        raise error

    monkeypatch.setattr(service.ops.fetch, where, unreachable)
    with pytest.raises(ModelLoadError) as caught:
        fetch_models(_settings(demo_models), tmp_path / "models")
    message = str(caught.value)
    assert SUMMARIZER in message and "'summarize'" in message
    assert str(error) in message
    assert "\n" not in message


def test_fetch_models_command_offline_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def offline(*args: object, **kwargs: object) -> object:
        raise OfflineModeIsEnabled("offline mode is enabled")

    monkeypatch.setattr(service.core.logs, "configure_logging", lambda level: None)
    monkeypatch.setattr(service.ops.fetch, "list_repo_files", offline)
    monkeypatch.setenv("SUMMARIZE_MODEL", SUMMARIZER)
    assert main(["fetch-models", "--dest", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(f"error: cannot download '{SUMMARIZER}' for 'summarize'")


# ----- start-up without the model ---------------------------------------------------------------


@pytest.fixture
def missing_hub_model(demo_env: dict[str, str]) -> dict[str, str]:
    """The demo settings with a summariser that is neither a directory nor in the HF cache.

    (`python -m service summarize` with these settings is tested in test_cli.py.)
    """
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    return {**demo_env, "SUMMARIZE_MODEL": "example-org/not-in-any-cache"}


def test_start_up_offline_without_the_model_raises_one_clear_error(
    missing_hub_model: dict[str, str],
) -> None:
    with pytest.raises(ModelLoadError) as caught:
        create_app(Settings.from_env(missing_hub_model))
    message = str(caught.value)
    assert "example-org/not-in-any-cache" in message and "'summarize'" in message
    assert "fetch-models" in message
    assert "\n" not in message


def test_with_ctranslate2_the_fetched_models_are_converted_ahead_of_serving(
    hub: FakeHub, demo_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.inference.backends import ctranslate2 as ct2_backend

    ct2 = {"BACKEND": "ctranslate2", "CT2_CACHE_DIR": str(tmp_path / "ct2"), "TORCH_THREADS": "1"}
    settings = _settings(demo_models).replace(
        backend="ctranslate2", ct2_cache_dir=ct2["CT2_CACHE_DIR"], torch_threads=1
    )
    fetched = fetch_models(settings, tmp_path / "models")
    assert len(list((tmp_path / "ct2").glob("*-int8"))) == 3

    def no_conversion(*args: object, **kwargs: object) -> None:
        raise AssertionError("converted again at start-up")

    monkeypatch.setattr(ct2_backend, "TransformersConverter", no_conversion)
    env = dict(line.split("=", 1) for line in fetched.env_lines())
    engine = Engine(Settings.from_env({**env, **ct2})).start()
    try:
        assert engine.ready
        assert {d["compute_type"] for d in engine.describe()} == {"int8"}
    finally:
        engine.close(timeout=30)
