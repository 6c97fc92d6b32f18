"""The package's layers, read from its imports: `http` -> `tasks` -> `inference`, `text` a leaf.

A newcomer finds each thing in the folder that names its layer only if the imports keep to it,
so this reads every module's imports (without running them) and checks the one-way flow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "service"
MODULES = sorted(PACKAGE.rglob("*.py"))
MODEL_LIBRARIES = {"torch", "transformers", "ctranslate2", "safetensors", "tokenizers"}
WEB_LIBRARIES = {"flask", "werkzeug", "gunicorn"}


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module `path` imports, at any depth of the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _within(name: str, packages: set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


# Which parts of the service (and which libraries) each layer must not import.
FORBIDDEN = {
    "service.http": MODEL_LIBRARIES,
    "service.tasks": WEB_LIBRARIES | MODEL_LIBRARIES | {"service.http"},
    "service.generation": WEB_LIBRARIES | MODEL_LIBRARIES | {"service.http", "service.tasks"},
    "service.inference": WEB_LIBRARIES | {"service.http", "service.tasks"},
    "service.text": WEB_LIBRARIES
    | MODEL_LIBRARIES
    | {"service.http", "service.tasks", "service.inference", "service.metrics"},
    "service.metrics": WEB_LIBRARIES | {"service.http", "service.tasks", "service.inference"},
    "service.config": {"service.http", "service.tasks", "service.inference", "service.text"},
    "service.errors": {"service"},
}


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_imports_flow_one_way(path: Path) -> None:
    module = _name(path)
    rules = [banned for layer, banned in FORBIDDEN.items() if _within(module, {layer})]
    wrong = sorted(
        name
        for name in _imports(path)
        for banned in rules
        if _within(name, banned) and not _within(name, {module})
    )
    assert not wrong, f"{module} imports {wrong}, against the layers"


def test_the_layers_are_folders_with_their_modules() -> None:
    for layer in ("http", "inference", "text"):
        folder = PACKAGE / layer
        assert (folder / "__init__.py").is_file(), layer
        assert len(list(folder.glob("*.py"))) > 1, layer


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_is_too_long_to_read(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 450, f"{_name(path)} has {lines} lines; split it by what it owns"


def test_the_checks_see_a_forbidden_import(tmp_path: Path) -> None:
    """The reader finds imports nested in functions, as `from x import y` and `import x`."""
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from torch import nn\n    import flask.json\n")
    assert {"torch", "torch.nn", "flask.json"} <= _imports(module)
