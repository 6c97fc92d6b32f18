"""The package's layers, read from its imports: `http` -> `jobs` -> `tasks` -> `inference`;
`text`, `sources` (fetching a client's URL) and `documents` (file formats) are leaves below
`tasks`. `jobs` (long work in the background) runs operations; only `http` and `ops` start it.

A newcomer finds each thing in the folder that names its layer only if the imports keep to it,
so this reads every module's imports (without running them) and checks the one-way flow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "service"
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


# Which parts of the service (and which libraries) each layer must not import. `ops` runs the
# service (CLI, front, fetching, demo models): nothing in the request path imports it.
_BELOW_HTTP = {"service.http", "service.ops"}
_UPPER = {"service.jobs", "service.documents"}
FORBIDDEN = {
    "service.http": MODEL_LIBRARIES | {"service.ops"},
    "service.jobs": WEB_LIBRARIES | MODEL_LIBRARIES | _BELOW_HTTP,
    # File formats: read and write documents; they know nothing of models or requests.
    "service.documents": WEB_LIBRARIES
    | MODEL_LIBRARIES
    | _BELOW_HTTP
    | {"service.tasks", "service.inference", "service.jobs", "service.sources"}
    | {"service.core.metrics"},
    "service.http.v1": {"service.http.compat"},
    "service.http.compat": {"service.http.v1"},
    "service.tasks": WEB_LIBRARIES | MODEL_LIBRARIES | _BELOW_HTTP | {"service.jobs"},
    "service.inference": WEB_LIBRARIES
    | _BELOW_HTTP
    | _UPPER
    | {"service.tasks", "service.sources"},
    "service.text": WEB_LIBRARIES
    | MODEL_LIBRARIES
    | _BELOW_HTTP
    | _UPPER
    | {"service.tasks", "service.inference", "service.sources", "service.core.metrics"},
    # Fetching a client's URL: below the operations, beside text; it reads only core.
    "service.sources": WEB_LIBRARIES
    | MODEL_LIBRARIES
    | _BELOW_HTTP
    | _UPPER
    | {"service.tasks", "service.inference", "service.text", "service.core.metrics"},
    "service.core": WEB_LIBRARIES | MODEL_LIBRARIES | _BELOW_HTTP | _UPPER | {"service.tasks"},
    "service.core.metrics": {"service.inference"},
    "service.core.config": {"service.inference", "service.text", "service.sources"},
    "service.core.errors": {"service"},
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
    for layer in ("core", "tasks", "text", "sources", "inference", "http", "ops", "jobs"):
        folder = PACKAGE / layer
        assert (folder / "__init__.py").is_file(), layer
        assert len(list(folder.glob("*.py"))) > 1, layer
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py"], f"modules outside the layers' folders: {top}"


# Statements a function may hold. A statement spanning many lines (a table, a long call) counts
# once, so declarative tables are not cut to fit.
MAX_STATEMENTS = 60


def _statement_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines on which a statement of `function` starts (nested functions are their own)."""
    lines: set[int] = set()
    todo: list[ast.AST] = list(function.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if isinstance(node, ast.stmt):
            lines.add(node.lineno)
        todo.extend(ast.iter_child_nodes(node))
    return len(lines)


def _functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    kinds = ast.FunctionDef | ast.AsyncFunctionDef
    return [node for node in ast.walk(tree) if isinstance(node, kinds)]


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_function_is_too_long_to_read(path: Path) -> None:
    long = {
        f.name: count for f in _functions(path) if (count := _statement_lines(f)) > MAX_STATEMENTS
    }
    assert not long, f"{_name(path)}: {long} statements; split them by what each step does"


def test_the_length_check_counts_statements_not_lines(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    table = "    x = {\n" + "".join(f"        {n}: {n},\n" for n in range(200)) + "    }\n"
    steps = "".join(f"    y{n} = {n}\n" for n in range(MAX_STATEMENTS + 1))
    module.write_text("def table():\n" + table + "\n\ndef steps():\n" + steps)
    counts = {f.name: _statement_lines(f) for f in _functions(module)}
    assert counts == {"table": 1, "steps": MAX_STATEMENTS + 1}


def test_the_checks_see_a_forbidden_import(tmp_path: Path) -> None:
    """The reader finds imports nested in functions, as `from x import y` and `import x`."""
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from torch import nn\n    import flask.json\n")
    assert {"torch", "torch.nn", "flask.json"} <= _imports(module)
