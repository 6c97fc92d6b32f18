"""The engine tests run once per backend: the same behaviour is asked of both."""

from __future__ import annotations

import pytest

BACKENDS = ("transformers", "ctranslate2")


@pytest.fixture(scope="module", params=BACKENDS)
def demo_settings(request: pytest.FixtureRequest, demo_env: dict[str, str]):
    """The tiny models' settings, once with each backend (module-scoped: one engine each)."""
    from service.config import Settings

    return Settings.from_env({**demo_env, "BACKEND": request.param})


@pytest.fixture(scope="module")
def engine(demo_settings):
    """One started engine per backend, shared by the module's tests that only read from it."""
    from service.inference.engine import Engine

    started = Engine(demo_settings).start()
    yield started
    started.close(timeout=30)
