"""`open_store`: which store a JOBS_STORE value names."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.core.config import Settings
from service.core.errors import ConfigError
from service.http.app import create_app
from service.jobs.sqlite_store import SqliteJobStore
from service.jobs.store import Item, JobSpec
from service.jobs.stores import open_store


@pytest.mark.parametrize("form", ["sqlite:///{path}", "{path}"])
def test_a_sqlite_url_or_a_plain_path_opens_that_file(tmp_path: Path, form: str) -> None:
    path = tmp_path / "sub" / "jobs.db"
    store = open_store(form.format(path=path))
    assert isinstance(store, SqliteJobStore)
    job = store.create(JobSpec(task="translate"), [Item("a", "text")])
    store.close()
    again = SqliteJobStore(path)
    assert again.get(job.id) == job
    again.close()


@pytest.mark.parametrize("url", ["mongodb://db/jobs", "sqlite://"])
def test_an_unknown_scheme_or_no_file_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="JOBS_STORE"):
        open_store(url)


def test_the_default_store_is_a_file_under_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path / "d")})
    assert settings.jobs_store == f"sqlite:///{tmp_path / 'd' / 'jobs.db'}"


def test_an_unreachable_store_does_not_stop_the_service_from_starting(
    engine, tmp_path: Path
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    settings = engine.settings.replace(jobs_store=f"sqlite:///{blocked / 'jobs.db'}")
    app = create_app(settings, engine=engine)
    reply = app.test_client().post("/v1/translate", json={"text": "Heavy rain.", "target": "fr"})
    assert reply.status_code == 200


def test_a_store_no_one_knows_is_a_config_error(engine) -> None:
    with pytest.raises(ConfigError, match="unknown scheme"):
        create_app(engine.settings.replace(jobs_store="mongodb://db"), engine=engine)
