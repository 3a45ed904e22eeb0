"""compose.yaml, run as processes on this machine: no Docker daemon here, so each service's command and
environment are taken from compose.yaml (and the image's ENV from the Dockerfile) and run against a real
redis-server and the sandbox Zendesk.

What a container would give is translated to local equivalents, each in one place below: a named volume is a
folder, the `redis` host is redis-server on a free loopback port, a published or container port is a free
port (each container has its own network; here they share one), an address on every interface is loopback.
docs/deploy.md says what this proves and what it does not.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dockerfile
import pytest
import requests
import yaml
from dotenv import dotenv_values

from escalations.admin.cli import build_parser
from escalations.sandbox import SandboxServer, SandboxZendesk
from tests.conftest import ROOT, metrics_page_with, wait_until
from tests.skips import require_tool
from tests.support.local_service import clean_environment, free_port
from tests.test_end_to_end import ALICE, emails_for, internal_notes

COMPOSE = ROOT / "compose.yaml"
ESCALATIONS = ("web", "worker", "setup")  # the services that run the image
ESCALATIONS_COMMAND = str(Path(sys.executable).parent / "escalations")  # the image's ENTRYPOINT, installed here
INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<kind>:-|:\?)(?P<word>[^}]*))?\}")


def interpolate(value: Any, variables: Mapping[str, str]) -> Any:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME:?error}` and `$$`, in every string of `value`."""
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group() == "$$":
            return "$"
        name, kind, word = match.group("name", "kind", "word")
        given = variables.get(name, "")
        if given or kind is None:
            return given
        if kind == ":?":
            raise AssertionError(f"compose would stop: {word}")
        return str(word)

    return INTERPOLATION.sub(substitute, value)


def compose(variables: Mapping[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = interpolate(yaml.safe_load(COMPOSE.read_text()), variables)
    return document


@dataclass(frozen=True)
class Image:
    """The final stage of the Dockerfile, as far as running its command needs."""

    env: dict[str, str]
    workdir: str
    entrypoint: list[str]
    volumes: list[str]


def image() -> Image:
    """The final stage's ENV, WORKDIR, ENTRYPOINT and VOLUMEs, from the Dockerfile."""
    env: dict[str, str] = {}
    workdir, entrypoint, volumes = "/", [], []
    for instruction in dockerfile.parse_file(str(ROOT / "Dockerfile")):
        if instruction.cmd == "FROM":
            env, workdir, entrypoint, volumes = {}, "/", [], []
        elif instruction.cmd == "ENV":
            env.update(zip(instruction.value[::2], instruction.value[1::2], strict=True))
        elif instruction.cmd == "WORKDIR":
            workdir = instruction.value[0]
        elif instruction.cmd == "ENTRYPOINT":
            entrypoint = list(instruction.value)
        elif instruction.cmd == "VOLUME":
            volumes.extend(instruction.value)
    return Image(env, workdir, entrypoint, volumes)


# What compose.yaml says, read as an admin would check it.


def test_only_the_web_port_is_published_and_setup_runs_once_apart() -> None:
    services = compose({"REDIS_PASSWORD": "x"})["services"]
    assert set(services) == {"web", "worker", "setup", "redis"}
    assert [name for name, service in services.items() if service.get("ports")] == ["web"]
    (published,) = services["web"]["ports"]
    assert published.rsplit(":", 1)[1] == services["web"]["environment"]["ESCALATIONS_PORT"]
    assert published.startswith("127.0.0.1:"), "by default only this host (its TLS proxy) reaches the port"
    assert services["setup"]["profiles"] == ["setup"] and services["setup"]["restart"] == "no"
    assert services["setup"]["command"] == ["setup"]


def test_settings_come_from_dotenv_and_the_queue_and_state_are_shared_through_redis() -> None:
    services = compose({"REDIS_PASSWORD": "x"})["services"]
    for name in ESCALATIONS:
        assert services[name]["env_file"] == ".env", name
        assert urlsplit(services[name]["environment"]["REDIS_URL"]).hostname == "redis", name
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name
    with pytest.raises(AssertionError, match=re.escape("set REDIS_PASSWORD in .env")):
        compose({})


def test_redis_keeps_an_append_only_file_on_a_volume_with_a_password_and_a_health_check() -> None:
    redis = compose({"REDIS_PASSWORD": "x"})["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--requirepass") + 1] == "x"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert redis["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")


# compose.yaml run as processes.


@dataclass
class Project:
    """compose.yaml's services as local processes, with each container-side name translated."""

    root: Path
    variables: dict[str, str]
    redis_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def services(self) -> dict[str, Any]:
        services: dict[str, Any] = compose(self.variables)["services"]
        return services

    def volume(self, name: str) -> Path:
        folder = self.root / "volumes" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def mounts(self, service: str) -> dict[str, Path]:
        """Container path → the local folder standing for its named volume; the image's own volumes that
        compose.yaml does not mount are the container's alone (Docker gives each an anonymous volume)."""
        mounted = (volume.split(":") for volume in self.services[service].get("volumes", []))
        named = {target: self.volume(source) for source, target, *_ in mounted}
        own = {
            path: self.volume(f"{service}-anonymous{path.replace('/', '-')}") for path in self.image_volumes(service)
        }
        return {**own, **named}

    def image_volumes(self, service: str) -> list[str]:
        return image().volumes if service in ESCALATIONS else []

    def port(self, service: str, container_port: int) -> int:
        """A free local port standing for `container_port` in `service`'s container."""
        return self.ports.setdefault(f"{service}:{container_port}", free_port())

    def environment(self, service: str) -> dict[str, str]:
        """What the container's process sees: the image's ENV, then .env, then `environment`; translated."""
        given = {**image().env, **self.dotenv(), **self.services[service].get("environment", {})}
        env = {**clean_environment(), **{key: str(value) for key, value in given.items()}}
        for target, folder in self.mounts(service).items():
            env = {key: value.replace(target, str(folder)) for key, value in env.items()}
        for name in ("ESCALATIONS_HOST", "METRICS_BIND"):
            if env.get(name) == "0.0.0.0":
                env[name] = "127.0.0.1"  # every interface inside a container; here, this machine only
        for name, default in (("ESCALATIONS_PORT", 8000), ("METRICS_PORT", 9810)):
            env[name] = str(self.port(service, int(env.get(name) or default)))
        if "REDIS_URL" in env:
            parts = urlsplit(env["REDIS_URL"])
            assert parts.hostname == "redis" and parts.port == 6379
            netloc = parts.netloc.replace("redis:6379", f"127.0.0.1:{self.redis_port}")
            env["REDIS_URL"] = urlunsplit(parts._replace(netloc=netloc))
        return env

    def dotenv(self) -> dict[str, str]:
        return {key: value or "" for key, value in dotenv_values(self.root / ".env").items()}

    def command(self, service: str) -> list[str]:
        assert image().entrypoint == ["escalations"]
        return [ESCALATIONS_COMMAND, *self.services[service]["command"]]

    def workdir(self) -> Path:
        folder = self.root / "container" / image().workdir.strip("/")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def run(self, service: str) -> subprocess.CompletedProcess[str]:
        """A one-off service (`docker compose run --rm setup`)."""
        return subprocess.run(
            self.command(service),
            env=self.environment(service),
            cwd=self.workdir(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def up(self, service: str) -> subprocess.Popen[bytes]:
        with open(self.root / f"{service}.log", "ab") as log:
            process = subprocess.Popen(
                self.command(service),
                env=self.environment(service),
                cwd=self.workdir(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[service] = process
        return process

    def up_redis(self) -> subprocess.Popen[bytes]:
        redis = self.services["redis"]
        program, *arguments = redis["command"]
        assert program == "redis-server"
        # The redis image's working directory is its /data volume.
        local = ["--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", str(self.mounts("redis")["/data"])]
        process = subprocess.Popen(
            [shutil.which("redis-server") or program, *arguments, *local],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.processes["redis"] = process
        return process

    def healthy(self, service: str) -> bool:
        """The service's own health check, run as Docker runs it (exit status 0)."""
        test = self.services[service]["healthcheck"]["test"]
        env = self.environment(service) if service in ESCALATIONS else self.redis_environment()
        kind, *command = test
        if kind == "CMD-SHELL":
            command = ["sh", "-c", command[0]]
        elif command[0] == "escalations":
            command = [ESCALATIONS_COMMAND, *command[1:]]
        result = subprocess.run(command, env=env, cwd=self.workdir(), capture_output=True, timeout=30)
        return result.returncode == 0

    def redis_environment(self) -> dict[str, str]:
        """redis's container environment, with a redis-cli that finds redis-server on its local port."""
        shim = self.root / "redis-bin"
        shim.mkdir(exist_ok=True)
        cli = shim / "redis-cli"
        cli.write_text(f'#!/bin/sh\nexec {shutil.which("redis-cli")} -p {self.redis_port} "$@"\n')
        cli.chmod(0o755)
        env = {key: str(value) for key, value in self.services["redis"].get("environment", {}).items()}
        return {**env, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"}

    def stop(self, service: str, grace: float) -> int:
        """`docker compose stop`: SIGTERM, then SIGKILL after the grace period; the exit status."""
        process = self.processes.pop(service)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise AssertionError(f"{service} did not stop within {grace} s of SIGTERM") from None

    def down(self) -> None:
        for service in list(self.processes):
            with contextlib.suppress(AssertionError):
                self.stop(service, 30)

    def log(self, service: str) -> str:
        path = self.root / f"{service}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def seconds(duration: str) -> float:
    """A compose duration such as 45s or 1m30s."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(float(number) * units[unit] for number, unit in re.findall(r"(\d+(?:\.\d+)?)([hms])", duration))


@pytest.fixture
def project(tmp_path: Path, zendesk: tuple[SandboxZendesk, SandboxServer]) -> Iterator[Project]:
    """compose.yaml beside a .env for the sandbox, as an admin would fill it in."""
    require_tool("redis-server", "redis-server")
    require_tool("redis-cli", "redis-server")
    account, server = zendesk
    project = Project(tmp_path, {})
    web_port = project.port("web", 8000)
    (tmp_path / ".env").write_text(
        "\n".join(
            [
                "ZENDESK_SUBDOMAIN=sandbox",
                f"ZENDESK_EMAIL={account.email}",
                f"ZENDESK_API_TOKEN={account.api_token}",
                f"ZENDESK_API_URL={server.url}",
                f"PUBLIC_URL=http://127.0.0.1:{web_port}",
                "REDIS_PASSWORD=compose-test-password",
                "ESCALATIONS_RECONCILE_SECONDS=3600",
            ]
        )
        + "\n"
    )
    project.variables = project.dotenv()  # compose reads .env for ${...} as well
    try:
        yield project
    finally:
        project.down()


def test_the_services_of_compose_yaml_escalate_a_signed_webhook_end_to_end(
    project: Project, zendesk: tuple[SandboxZendesk, SandboxServer]
) -> None:
    account, _ = zendesk
    project.up_redis()
    wait_until(lambda: project.healthy("redis"), timeout=10, what="redis's health check")
    setup = project.run("setup")
    assert setup.returncode == 0, setup.stdout + setup.stderr
    project.up("worker")
    project.up("web")
    for service in ("web", "worker"):
        wait_until(lambda: project.healthy(service), timeout=30, what=f"{service}'s health check")  # noqa: B023

    account.reset_requests_log()
    account.add_comment(1, author_id=ALICE, body="Escalation request: our invoices are wrong since Monday.")
    wait_until(
        lambda: len(emails_for(account, 1)) == 1 and "escalation_confirmation_pending" not in account.ticket(1)["tags"],
        timeout=30,
        what="the worker to apply the escalation",
    )
    account.wait_for_deliveries()
    assert "escalated" in account.ticket(1)["tags"] and len(internal_notes(account, 1)) == 1
    statuses = [delivery["final_status"] for delivery in account.state()["deliveries"]]
    assert statuses.count(202) == 1, statuses  # the web process answered Zendesk's signed webhook

    web_metrics = f"http://127.0.0.1:{project.port('web', 9810)}"
    worker_metrics = f"http://127.0.0.1:{project.port('worker', 9810)}"
    metrics_page_with(f"{web_metrics}/metrics", 'escalations_webhooks_total{outcome="accepted"} 1.0')
    metrics_page_with(f"{worker_metrics}/metrics", 'escalations_decisions_total{outcome="escalated"} 1.0')
    for listener in (web_metrics, worker_metrics):
        assert requests.get(f"{listener}/readyz", timeout=5).json()["ready"] is True
    public = f"http://127.0.0.1:{project.port('web', 8000)}"
    assert requests.get(f"{public}/metrics", timeout=5).status_code == 404

    # The queue went through Redis, whose append-only file is in its volume.
    assert list((project.mounts("redis")["/data"]).rglob("*.aof")), "no append-only file in redis's volume"
    # Nothing is shared on disk: web and worker each have a data directory of their own, and neither holds
    # the account state or the queue, which are in Redis.
    data = [project.mounts(service)["/var/lib/escalations"] for service in ("web", "worker", "setup")]
    assert len(set(data)) == 3
    for folder in data:
        assert not (folder / "state.json").exists() and not (folder / "queue.sqlite3").exists(), folder
        assert not list(folder.glob("metrics-*")), "metrics' working files in the data directory"

    for service, grace in (("web", "10s"), ("worker", project.services["worker"]["stop_grace_period"])):
        assert project.stop(service, seconds(grace)) == 0, project.log(service)
        assert "Traceback" not in project.log(service), project.log(service)


def test_each_service_runs_a_command_the_image_has_and_checks_its_health_with_one() -> None:
    services = compose({"REDIS_PASSWORD": "x"})["services"]
    for name in ESCALATIONS:
        assert build_parser().parse_args(services[name]["command"]).command == name
    for name in ("web", "worker"):
        kind, program, *arguments = services[name]["healthcheck"]["test"]
        assert (kind, program) == ("CMD", "escalations")
        assert build_parser().parse_args(arguments).command == "healthcheck"
