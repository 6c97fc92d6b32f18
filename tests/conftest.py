"""Fixtures shared by the whole suite.

The offline switches are set before anything imports huggingface_hub or transformers (both read
them at import), so no test can reach the network, even by accident.
"""

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random-weight models, built once per run: {"summarize", "en-fr", "en-ar"} -> dir."""
    from service.demo_models import build_demo_models

    return build_demo_models(tmp_path_factory.mktemp("models"), arch="tiny")
