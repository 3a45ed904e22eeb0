"""`escalations demo`: the scripted tour runs the real service against the sandbox and tells the story."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from tests.conftest import ROOT


def test_the_demo_tells_the_whole_story_and_exits_cleanly() -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ZENDESK_", "ESCALATION", "ZENPY_", "REDIS_URL", "PUBLIC_URL"))
    }
    env["PYTHONPATH"] = str(ROOT)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "plugin.cli", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    elapsed = time.monotonic() - started
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert elapsed < 30, f"the demo took {elapsed:.1f} s"

    expected_in_order = [
        "`escalations setup` provisioned it",
        "`escalations serve` is answering webhooks",
        "Step 1",
        'Alice Moreau comments: "Escalation request"',
        "we need one more thing: the reason",
        "Not escalated yet",
        "Step 2",
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

    assert 35 <= len(out.splitlines()) <= 62, out
    assert "Traceback" not in out + result.stderr
    assert " 200 -" not in result.stderr, "the sandbox's request log leaks into the tour"
