"""What the image installs is what the service imports.

The cheap check (always run): every third-party module the service and gunicorn.conf.py import
comes from a distribution requirements.txt pins, or one those depend on; a dependency only the
dev requirements bring would pass the suite and fail in the image.

The full replay (`slow`, opt-in: `make test-slow`): a fresh virtualenv gets requirements.txt
alone, the app directory gets only what the Dockerfile copies, and gunicorn starts with the
image's command and ENV (its /models pointed at demo models). A dependency missing from
requirements.txt, or a file the image does not copy, fails here as it would in the image.

pip reads this machine's configuration as usual (torch==2.13.0 resolves from a local wheel here,
from the PyTorch index in the image).
"""

import ast
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import post_json
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from test_deploy import ROOT, Dockerfile

from service.ops.front import find_nginx

SEEDS = ROOT / "seeds"


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float) -> None:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _wait_ready(process: subprocess.Popen, url: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"gunicorn exited:\n{log_path.read_text()}"
        try:
            if _get(url + "/readyz") == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"not ready in {timeout} s:\n{log_path.read_text()}")


def _third_party_imports() -> set[str]:
    sources = [*(ROOT / "service").rglob("*.py"), ROOT / "gunicorn.conf.py"]
    names: set[str] = set()
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "service"}


def _installed_by(requirements: Path) -> set[str]:
    """Distributions that `pip install -r requirements` brings: the pins and their dependencies
    (without extras), as installed here."""
    todo = [
        Requirement(line.split("#")[0]).name
        for line in requirements.read_text().splitlines()
        if line.split("#")[0].strip() and not line.startswith("-")
    ]
    seen: set[str] = set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for spec in importlib.metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def test_requirements_provide_every_module_the_service_imports() -> None:
    provided = _installed_by(ROOT / "requirements.txt")
    distributions = importlib.metadata.packages_distributions()
    missing = {
        module: distributions.get(module)
        for module in _third_party_imports()
        if not {canonicalize_name(d) for d in distributions.get(module, [])} & provided
    }
    assert not missing, f"imported but not brought by requirements.txt: {missing}"
    assert {"flask", "torch", "transformers", "pysbd"} <= _third_party_imports()


# pip install alone takes 30-80 s on 2 cores (wheels from pip's cache), so this is over a minute.
@pytest.mark.slow
@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed (Debian: nginx)")
def test_requirements_install_and_serve_in_a_fresh_venv(tmp_path: Path) -> None:
    image = Dockerfile(ROOT / "Dockerfile").image("cpu")
    venv, app, models = tmp_path / "venv", tmp_path / "app", tmp_path / "models"
    # The caller's environment minus anything that would leak the test's own virtualenv.
    base_env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}
    }
    base_env["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"

    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, base_env, timeout=120)
    _run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "-r", str(ROOT / "requirements.txt")],
        tmp_path,
        base_env,
        timeout=1200,
    )

    app.mkdir()
    for source in image.context_copies:
        if source.endswith("/"):
            shutil.copytree(
                ROOT / source, app / source, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            (app / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / source, app / source)
    _run(
        [str(venv / "bin" / "python"), "-m", "service", "demo-models", str(models)],
        app,
        base_env,
        timeout=300,
    )

    # The image's ENV, with its /models replaced by the demo models and no own venv paths.
    image_env = {
        key: value.replace("/models/", f"{models}/")
        for key, value in image.env.items()
        if key not in {"PATH", "VIRTUAL_ENV", "HF_HOME"}
    }
    env = {**base_env, **image_env, "HF_HOME": str(tmp_path / "hf")}
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # The image's command (the production front) on a free port; nginx from the system.
    assert image.cmd is not None and image.cmd[0] == "python"
    command = [str(venv / "bin" / "python"), *image.cmd[1:], "--bind", f"127.0.0.1:{port}"]
    log_path = tmp_path / "front.log"
    with log_path.open("w") as output:
        process = subprocess.Popen(
            [*command, "--drain-delay", "0"],
            cwd=app,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(process, url, log_path, timeout=180)

        status, body, _ = post_json(url + "/v1/translate", {"text": "Hello.", "target": "ar"})
        assert status == 200, body
        assert set(body) == {"source", "target", "model", "translation"}
        assert body["model"] == "en-ar" and isinstance(body["translation"], str)

        brief = (SEEDS / "short-brief.txt").read_text(encoding="utf-8")
        status, body, _ = post_json(url + "/v1/summarize", {"text": brief})
        assert status == 200, body
        assert set(body) == {"model", "chunks", "summary", "reading_minutes"}
        assert body["chunks"] == [1] and isinstance(body["summary"], str)

        assert _get(url + "/healthz") == 200
        assert image.healthcheck is not None
        probe = image.healthcheck[2].replace(f":{image.expose[0]}/", f":{port}/")
        _run([str(venv / "bin" / "python"), "-c", probe], app, env, timeout=30)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=150) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        # pytest keeps the last runs' tmp_path; a 1.2 GB virtualenv each is not worth keeping.
        shutil.rmtree(venv, ignore_errors=True)
