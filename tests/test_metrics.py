"""The metrics name every outcome the service knows, so each series exists from a process's start."""

from __future__ import annotations

import inspect
import re

from escalations.core.tickets import Decision
from escalations.service import web
from escalations.service.metrics import DECISION_OUTCOMES, WEBHOOK_OUTCOMES


def test_the_known_decision_outcomes_are_the_ones_the_policy_documents() -> None:
    comment = " ".join(re.findall(r"^\s*# (.*)$", inspect.getsource(Decision), re.MULTILINE))
    documented = re.search(r"(escalated, .*) or ignored", comment)
    assert documented is not None
    assert set(DECISION_OUTCOMES) == {*documented.group(1).split(", "), "ignored"}


def test_the_known_webhook_outcomes_are_every_answer_the_route_counts() -> None:
    source = inspect.getsource(web)
    counted = set(re.findall(r'rejected\(\d+, "([a-z_]+)"', source))
    counted |= set(re.findall(r'WebhookRejected\(\d+, "([a-z_]+)"', source))
    counted |= set(re.findall(r'WEBHOOKS\.labels\(outcome="([a-z_]+)"\)', source))
    assert counted == set(WEBHOOK_OUTCOMES)
