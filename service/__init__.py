"""News summarisation and translation service.

`create_app` is imported lazily so that the engine modules can be used (CLI, benchmarks) without
importing Flask.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from service.http.app import create_app

        return create_app
    raise AttributeError(name)
