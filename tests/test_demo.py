"""`escalations demo`: the scripted tour runs the real service against the sandbox and tells the story."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT
from tests.support.local_service import clean_environment


def test_the_demo_tells_the_three_steps_in_order_and_stops_the_service() -> None:
    env = clean_environment()
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "escalations.admin.cli", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr

    expected_in_order = [
        "`escalations setup` provisioned it",
        "`escalations serve` is answering webhooks",
        "Step 1",
        'Alice Moreau comments: "Escalation request"',
        "please tell us why",
        "Not escalated yet",
        "Step 2 · Alice answers with the reason, without the words",
        "Tags added:  escalated, escalation_status_requested",
        "Group:       Support → Support Managers",
        "Escalation status:",
        "Escalation reason:",
        "Escalation requested by:             10015 (Alice Moreau)",
        "Escalation response due:",
        "Confirmation emailed to alice.moreau@example.com",
        "We have received your request to escalate this case",
        "Internal note for the Support Managers",
        "Escalation received. Please review this case",
        "Step 3",
        "can be escalated only once",
        "Tags added:  escalation_blocked",
        "Refused repeats counted: 1",
        "Group still Support Managers; the recorded escalation is unchanged; no second internal note (1 in all)",
        "Zendesk API calls the service made: ",
        ", 4 in step 2, ",  # two reads and two writes for an escalation
        "The service has stopped.",
    ]
    flat = re.sub(r"\n +│ ", " ", out)  # quoted messages are wrapped: read them as one line
    position = 0
    for line in expected_in_order:
        found = flat.find(line, position)
        assert found >= 0, f"missing (or out of order): {line!r}\n\n{out}"
        position = found + len(line)

    assert "Traceback" not in out + result.stderr
    assert " 200 -" not in result.stderr, "the sandbox's request log leaks into the tour"
