"""The README is the user's manual: its settings table and test command must stay true."""

import re
from pathlib import Path

from service.core.config import SETTINGS, Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _settings_rows() -> dict[str, str]:
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| `([^`]*)` \|", README, flags=re.MULTILINE)
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


def _layout_paths() -> list[str]:
    section = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (.+?) \|", section, flags=re.MULTILINE)
    return [path for row in rows for path in re.findall(r"`([^`]+)`", row)]


def test_the_layout_table_names_every_module_and_only_real_paths() -> None:
    named = _layout_paths()
    for path in named:
        assert (ROOT / path.rstrip("/")).exists(), f"the README's layout names missing {path}"
    modules = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "service").rglob("*.py")
        if path.name != "__init__.py"
    }
    assert modules <= set(named), f"missing from the README's layout: {modules - set(named)}"


def test_the_error_table_lists_every_status_an_operation_can_end_with() -> None:
    from service.core.errors import ServiceError

    table = README.split("### Errors", 1)[1].split("\n#", 1)[0]
    listed = set(re.findall(r"^\| (\d{3})", table, flags=re.MULTILINE))
    statuses = {str(cls.status) for cls in _subclasses(ServiceError)}
    assert statuses <= listed, (
        f"statuses missing from the README's error table: {statuses - listed}"
    )
    for cls in _subclasses(ServiceError):
        if cls.retry_after:
            row = re.search(rf"^\| {cls.status} \|.*$", table, flags=re.MULTILINE)
            assert row and "Retry-After" in row.group(0) and cls.code in row.group(0), cls


def test_the_libretranslate_section_says_keys_are_checked() -> None:
    section = README.split("## Drop-in for LibreTranslate", 1)[1].split("\n## ", 1)[0]
    assert "ignored" not in section.split("`alternatives`")[0]
    assert "403" in section and "429" in section and "Retry-After" in section


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]
