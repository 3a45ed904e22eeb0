"""The container image's recipe, read by Docker's own parser (the `dockerfile` package).

No Docker daemon runs here, so the image is never built: these tests check what can be checked without one
(docs/deploy.md says what that leaves unproven). The recipe runs as a user without privileges, checks its
health on /healthz, copies in no secret, and starts commands the package really has; the build context that
.dockerignore lets through builds a wheel with the `escalations` command in it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import dockerfile

from escalations.admin.cli import DISTRIBUTION, build_parser
from tests.conftest import ROOT

SECRET_NAMES = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)
# Files that must never reach an image: settings with secrets, the account state, the queue, the developer's
# environment, the repository, build output.
NEVER_IN_CONTEXT = (
    ".env",
    "deploy/.env",
    "var/state.json",
    "var/queue.sqlite3",
    "var/sandbox/state.json",
    ".venv/bin/python",
    ".git/config",
    "dist/escalation-requests.zip",
    "tests/conftest.py",
    "plugin/escalations/admin/__pycache__/cli.cpython-311.pyc",
    "plugin/zendesk_escalations.egg-info/PKG-INFO",  # an editable install's metadata, beside the package
)


def instructions() -> tuple[dockerfile.Command, ...]:
    return dockerfile.parse_file(str(ROOT / "Dockerfile"))


def stages() -> list[list[dockerfile.Command]]:
    """The instructions of each stage, in order (those before the first FROM are left out)."""
    found: list[list[dockerfile.Command]] = []
    for instruction in instructions():
        if instruction.cmd == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def final(name: str) -> dockerfile.Command:
    """The last `name` instruction of the image's (final) stage."""
    matching = [instruction for instruction in stages()[-1] if instruction.cmd == name]
    assert matching, f"the final stage has no {name}"
    return matching[-1]


def environment() -> dict[str, str]:
    """The final stage's ENV, as the container sees it."""
    values: dict[str, str] = {}
    for instruction in stages()[-1]:
        if instruction.cmd == "ENV":
            pairs = instruction.value
            values.update(zip(pairs[::2], pairs[1::2], strict=True))
    return values


def test_the_wheel_is_built_in_one_stage_and_installed_without_an_index_on_a_slim_python_in_the_next() -> None:
    build, runtime = stages()
    assert build[0].value[-2:] == ("AS", "build") and "pip wheel" in " ".join(
        i.value[0] for i in build[1:] if i.cmd == "RUN"
    )
    assert re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim(-[a-z]+)?", runtime[0].value[0])
    (install,) = [i for i in runtime if i.cmd == "RUN" and "pip install" in i.value[0]]
    assert "--no-index" in install.value[0] and install.value[0].endswith(f" {DISTRIBUTION}")
    assert "from=build" in " ".join(install.flags)


def test_the_service_runs_as_a_user_without_privileges() -> None:
    runtime = stages()[-1]
    users = [i for i in runtime if i.cmd == "USER"]
    assert users and users[-1] == final("USER")
    user, _, group = final("USER").value[0].partition(":")
    assert user not in ("root", "0") and group not in ("root", "0")
    assert user.isdigit(), "a numeric user, so that Kubernetes' runAsNonRoot can check it"
    entrypoint_at = runtime.index(final("ENTRYPOINT"))
    assert runtime.index(users[-1]) < entrypoint_at


def test_the_data_directory_is_a_volume_and_the_webhook_port_is_exposed() -> None:
    env = environment()
    assert final("VOLUME").value == (env["ESCALATIONS_DATA_DIR"],)
    assert final("EXPOSE").value == (env["ESCALATIONS_PORT"],)
    assert env["ESCALATIONS_HOST"] == "0.0.0.0"  # reachable from outside the container, on the exposed port only


def test_the_health_check_asks_healthz_with_a_command_the_package_has() -> None:
    check = final("HEALTHCHECK")
    assert check.json and check.value[0] == "CMD", "exec form: no shell needed in the image"
    program, *arguments = check.value[1:]
    assert program == "escalations"
    parsed = build_parser().parse_args(arguments)
    assert parsed.command == "healthcheck" and not parsed.private  # the webhook port's /healthz
    assert any(flag.startswith("--interval=") for flag in check.flags)


def test_the_entry_point_is_the_installed_escalations_command_and_serve_is_its_default() -> None:
    assert final("ENTRYPOINT").json and final("ENTRYPOINT").value == ("escalations",)
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "escalations"]
    assert script.dist is not None and script.dist.name == DISTRIBUTION
    assert callable(script.load())
    assert final("CMD").json and final("CMD").value == ("serve",)
    assert build_parser().parse_args(list(final("CMD").value)).command == "serve"
    assert final("STOPSIGNAL").value == ("SIGTERM",)


def test_no_secret_is_copied_in_or_set_in_the_image() -> None:
    for instruction in instructions():
        if instruction.cmd in ("COPY", "ADD"):
            sources = instruction.value[:-1]
            assert not any(Path(source).name.startswith(".env") for source in sources), instruction.original
            assert all(included(source.rstrip("/") or ".") for source in sources), instruction.original
        if instruction.cmd in ("ENV", "ARG"):
            names = instruction.value[::2] if instruction.cmd == "ENV" else instruction.value
            assert not any(SECRET_NAMES.search(name.split("=")[0]) for name in names), instruction.original


# .dockerignore, with Docker's rules: patterns in order, the last match wins, `!` lets a path back in, and a
# pattern matching a folder covers everything in it.


def dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        excluded = not pattern.startswith("!")
        pattern = os.path.normpath(pattern.lstrip("!").lstrip("/"))
        parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern)
        wildcards = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
        rules.append((excluded, re.compile("".join(wildcards.get(part, re.escape(part)) for part in parts))))
    return rules


def included(path: str) -> bool:
    """Whether `path` (relative to the repository) is in the build context."""
    candidates = [str(Path(*Path(path).parts[: n + 1])) for n in range(len(Path(path).parts))]
    verdict = False
    for excluded, pattern in dockerignore():
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            verdict = excluded
    return not verdict


def context() -> Iterator[Path]:
    """Every file of the working tree that `docker build .` would send."""
    for folder, subfolders, files in os.walk(ROOT):
        relative = Path(folder).relative_to(ROOT)
        subfolders[:] = [name for name in subfolders if name not in (".git", ".venv")]
        for name in files:
            if included(str(relative / name)):
                yield relative / name


def test_the_build_context_keeps_out_settings_state_and_everything_the_image_does_not_need() -> None:
    for path in NEVER_IN_CONTEXT:
        assert not included(path), path
    for path in (
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "plugin/escalations/admin/cli.py",
        "plugin/escalations/core/templates/en/confirmation.txt",
    ):
        assert included(path), path


def test_the_build_context_builds_a_wheel_with_the_command_its_templates_and_the_licence(tmp_path: Path) -> None:
    source = tmp_path / "context"
    for path in context():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_bytes((ROOT / path).read_bytes())
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(wheels), str(source)]
    subprocess.run(build, check=True, timeout=300, capture_output=True)
    (wheel,) = wheels.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    entry = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    assert "escalations = escalations.admin.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert (
        "escalations/core/templates/en/confirmation.txt" in names
        and "escalations/admin/help_center/escalation-request.js" in names
    )
    # one top-level package, named after the product: nothing called `plugin` lands in site-packages
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"escalations"}
    installed = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(installed), str(wheel)]
    subprocess.run(install, check=True, timeout=300, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(installed)}
    code = (
        "import escalations, importlib.util, sys; from escalations.admin.cli import main; "
        "assert importlib.util.find_spec('plugin') is None; "
        "print(escalations.__file__); sys.exit(main(['serve', '--help']))"
    )
    answer = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.startswith(str(installed)) and "--graceful-timeout" in answer.stdout
