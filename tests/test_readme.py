"""The README is the user's manual: its settings table and test command must stay true."""

import re
from pathlib import Path

from service.config import SETTINGS, Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _settings_rows() -> dict[str, str]:
    rows = re.findall(r"^\| `([A-Z_]+)` \| `([^`]*)` \|", README, flags=re.MULTILINE)
    return dict(rows)


def test_every_setting_is_documented_with_its_default() -> None:
    rows = _settings_rows()
    for setting in SETTINGS:
        assert setting.env in rows, f"{setting.env} missing from the README's table"
        assert rows[setting.env] == setting.default, f"{setting.env}: README default is stale"


def test_readme_documents_no_setting_that_does_not_exist() -> None:
    known = {setting.env for setting in SETTINGS}
    assert set(_settings_rows()) <= known


def test_defaults_parse() -> None:
    settings = Settings.from_env({})
    assert settings.device == "auto"
    assert dict(settings.translate_models)["en-ar"] == "Helsinki-NLP/opus-mt-en-ar"
    assert dict(settings.translate_prefixes) == {"en-ar": ">>ara<<"}


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in README
    assert re.search(r"^make test$", ci, flags=re.MULTILINE)
