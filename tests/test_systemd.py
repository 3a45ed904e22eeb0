"""The systemd units: `systemd-analyze verify` accepts them as installed, and they carry the hardening, the
restart policy and the stop the service expects.

verify runs against a root of its own (the units in /etc/systemd/system, the command at the path they name,
this machine's targets): it needs no running systemd. Skipped where systemd-analyze is missing, except on CI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from escalations.admin.cli import build_parser
from escalations.admin.serve import STOP_SECONDS
from tests.conftest import ROOT
from tests.skips import require_tool

UNITS = ROOT / "deploy" / "systemd"
COMMANDS = {"escalations-web.service": "web", "escalations-worker.service": "worker"}
SYSTEM_UNITS = Path("/usr/lib/systemd/system")


def directives(unit: str) -> dict[str, list[str]]:
    """Each `Key=` of the unit (in any section) with every value it is given, in order."""
    found: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def environment(unit: str) -> dict[str, str]:
    pairs = (entry.split("=", 1) for entry in directives(unit).get("Environment", []))
    return {name: value for name, value in pairs}


def test_systemd_analyze_verify_accepts_the_units_as_installed(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze", "systemd")
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in COMMANDS:
        shutil.copy(UNITS / unit, root / "etc/systemd/system" / unit)
    # The targets the units are ordered after and wanted by, from this machine.
    (root / SYSTEM_UNITS.relative_to("/")).mkdir(parents=True)
    for target in SYSTEM_UNITS.glob("*.target"):
        if not target.is_symlink():
            shutil.copy(target, root / SYSTEM_UNITS.relative_to("/") / target.name)
    # The command at the path the units name (verify checks that it is there and executable).
    (program,) = {directives(unit)["ExecStart"][0].split()[0] for unit in COMMANDS}
    installed = root / program.lstrip("/")
    installed.parent.mkdir(parents=True)
    shutil.copy(Path(sys.executable).parent / "escalations", installed)
    verify = subprocess.run(
        [analyze, "verify", f"--root={root}", "--man=no", *COMMANDS],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 with a warning for an unknown key or a bad value: any output is a failure here.
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")


@pytest.mark.parametrize("unit", COMMANDS)
def test_each_unit_runs_its_command_as_a_dedicated_user_with_the_usual_hardening(unit: str) -> None:
    given = directives(unit)
    program, *arguments = given["ExecStart"][0].split()
    assert Path(program).name == "escalations" and build_parser().parse_args(arguments).command == COMMANDS[unit]
    assert given["User"] == ["escalations"] and given["Group"] == ["escalations"]
    assert given["NoNewPrivileges"] == ["yes"] and given["ProtectSystem"] == ["strict"]
    assert given["ReadWritePaths"] == [environment(unit)["ESCALATIONS_DATA_DIR"]], "only the data directory"
    assert given["PrivateTmp"] == ["yes"]  # gunicorn's heartbeat files: /tmp is read-only under strict otherwise
    assert given["CapabilityBoundingSet"] == [""]


@pytest.mark.parametrize("unit", COMMANDS)
def test_each_unit_stops_with_sigterm_to_let_work_in_flight_finish_and_restarts_on_failure(unit: str) -> None:
    given = directives(unit)
    assert given["KillSignal"] == ["SIGTERM"]
    # mixed: SIGTERM to the main process alone, which stops its own children in order; SIGKILL to all at the end.
    assert given["KillMode"] == ["mixed"]
    assert int(given["TimeoutStopSec"][0]) > STOP_SECONDS, "longer than the service's own wait for its processes"
    assert given["Restart"] == ["on-failure"] and given["RestartSec"]


def test_the_two_units_serve_their_metrics_on_different_ports() -> None:
    ports = {environment(unit)["METRICS_PORT"] for unit in COMMANDS}
    assert len(ports) == len(COMMANDS)
