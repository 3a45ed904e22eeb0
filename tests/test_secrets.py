"""Secrets stay secret: not in logs (even at DEBUG), not in command output, not readable by others."""

from __future__ import annotations

import json
import stat

from tests.conftest import Service, wait_until
from tests.test_end_to_end import ALICE, settled


def test_no_secret_appears_in_any_log_or_output_of_the_whole_flow_at_debug(service_env: Service) -> None:
    service_env.env["LOG_LEVEL"] = "DEBUG"
    setup = service_env.run("setup")
    service_env.start()
    try:
        service_env.zendesk.add_comment(1, author_id=ALICE, body="Escalation request: charged twice.")
        wait_until(lambda: settled(service_env, 1, 1), what="the confirmation")
        doctor = service_env.run("doctor", check=False)
    finally:
        service_env.stop()
    state_file = service_env.data_dir / "state.json"
    secrets = [service_env.env["ZENDESK_API_TOKEN"], json.loads(state_file.read_text())["signing_secret"]]
    outputs = {
        "setup": setup.stdout + setup.stderr,
        "doctor": doctor.stdout + doctor.stderr,
        "serve": service_env.logs(),
    }
    assert "DEBUG" in outputs["serve"]  # the flow really ran at DEBUG
    for name, text in outputs.items():
        for secret in secrets:
            assert secret not in text, f"a secret appears in the {name} output"
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600


def test_doctor_warns_when_dotenv_is_readable_by_others(service_env: Service) -> None:
    service_env.run("setup")
    dotenv = service_env.data_dir.parent / ".env"
    dotenv.write_text("LOG_LEVEL=INFO\n")
    dotenv.chmod(0o644)
    doctor = service_env.run("doctor", check=False)
    assert "readable by others" in doctor.stdout and "chmod 600" in doctor.stdout
