"""What the live check concludes from what it reads on the account: pure, so that each finding is tested alone.

The trigger definitions' gaps, an escalation's problems on the ticket, Zendesk's webhook activity read into
deliveries (and what they say went wrong), and the escalation fields a customer sees.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from escalations.core import fields
from escalations.zendesk.desired import TRIGGER_TITLE

REASON = "live check of the escalation service; this ticket is deleted when the check ends"


@dataclass(frozen=True)
class Expectation:
    """What the service must have written for one escalation (ids as Zendesk gives them)."""

    requester_id: int
    manager_group_id: int
    service_user_id: int


def definition_gaps(triggers: Iterable[Mapping[str, Any]], definitions: Mapping[str, Any]) -> list[str]:
    """Conditions and actions of `triggers` that the account's trigger definitions do not offer.

    `definitions` is the `definitions` object of `GET /api/v2/triggers/definitions`:
    `conditions_all` and `conditions_any` (each with `subject`, `operators` and,
    for lists, `values`) and `actions` (each with `subject`).
    """
    offered_actions = {str(action.get("subject")) for action in definitions.get("actions") or []}
    gaps: list[str] = []
    for trigger in triggers:
        title = trigger.get("title", "")
        for group in ("all", "any"):
            offered = {str(item.get("subject")): item for item in definitions.get(f"conditions_{group}") or []}
            for condition in (trigger.get("conditions") or {}).get(group) or []:
                gap = _condition_gap(condition, offered.get(str(condition.get("field"))))
                if gap:
                    gaps.append(f"trigger '{title}': {gap}")
        for action in trigger.get("actions") or []:
            if str(action.get("field")) not in offered_actions:
                gaps.append(f"trigger '{title}': the action '{action.get('field')}' is not offered")
    return gaps


def _condition_gap(condition: Mapping[str, Any], definition: Mapping[str, Any] | None) -> str | None:
    subject, operator, value = condition.get("field"), condition.get("operator"), condition.get("value")
    if definition is None:
        return f"the condition '{subject}' is not offered"
    operators = {str(item.get("value")) for item in definition.get("operators") or []}
    if operators and str(operator) not in operators:
        return f"the condition '{subject}' has no operator '{operator}' (offered: {', '.join(sorted(operators))})"
    values = {str(item.get("value")) for item in definition.get("values") or [] if item.get("enabled", True)}
    if values and definition.get("type") == "list" and str(value) not in values:
        return f"the condition '{subject} {operator}' has no value '{value}' (offered: {', '.join(sorted(values))})"
    return None


def escalation_problems(
    ticket: Mapping[str, Any],
    comments: Sequence[Mapping[str, Any]],
    field_ids: Mapping[str, int],
    expected: Expectation,
) -> list[str]:
    """What is missing from a ticket the service should have escalated and confirmed (empty: all there)."""
    recorded = fields.recorded_values(ticket.get("custom_fields") or [], field_ids)
    tags = set(ticket.get("tags") or [])
    # The description (the first comment) is the admin's too when the service's account opened the ticket.
    ours = [c for c in comments[1:] if c.get("author_id") == expected.service_user_id]
    problems = []
    if recorded.get(fields.STATUS) != fields.status_tag(fields.STATUS_REQUESTED):
        problems.append(f"the status field is {recorded.get(fields.STATUS)!r}, not requested")
    if not str(recorded.get(fields.REASON) or "").startswith(REASON[:40]):
        problems.append("the reason field does not hold the customer's reason")
    if str(recorded.get(fields.REQUESTED_BY) or "") != str(expected.requester_id):
        problems.append(f"'requested by' is {recorded.get(fields.REQUESTED_BY)!r}, not {expected.requester_id}")
    missing_tags = {fields.TAG_ESCALATED, fields.status_tag(fields.STATUS_REQUESTED)} - tags
    if missing_tags:
        problems.append(f"tags missing: {', '.join(sorted(missing_tags))}")
    if fields.TAG_CONFIRMATION_PENDING in tags:
        problems.append("the confirmation is still owed")
    if ticket.get("group_id") != expected.manager_group_id:
        problems.append(f"the ticket is in group {ticket.get('group_id')}, not the managers' group")
    if ticket.get("assignee_id") is not None:
        problems.append(f"the ticket is still assigned to {ticket.get('assignee_id')}")
    if not any(not c.get("public") for c in ours):
        problems.append("no internal note for the managers")
    if not any(c.get("public") for c in ours):
        problems.append("no confirmation to the customer")
    return problems


# Invocation and attempt statuses as the Webhooks API names them (a public description of its reference).
SUCCEEDED = frozenset({"success"})
FAILED = frozenset({"failed", "timeout", "circuit broken", "throttled", "client error", "server error"})
IN_FLIGHT = frozenset({"accepted"})


@dataclass(frozen=True)
class Delivery:
    """What Zendesk's webhook activity says about one invocation, in whichever shape it came."""

    outcome: str  # success, failed, in_flight or unknown
    http_status: int | None
    at: str  # when it completed (or was created), as given
    raw: Mapping[str, Any]

    @property
    def refused_for_good(self) -> bool:
        """A failure Zendesk does not retry: no answer, or a 4xx other than 409 and 429."""
        if self.outcome != "failed":
            return False
        return self.http_status is None or (400 <= self.http_status < 500 and self.http_status not in (409, 429))


def _http_status(attempt: Mapping[str, Any]) -> int | None:
    response = attempt.get("response")
    for value in (
        attempt.get("response_code"),
        attempt.get("status_code"),
        response.get("status") if isinstance(response, Mapping) else None,
    ):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def read_invocation(invocation: Mapping[str, Any], attempt: Mapping[str, Any] | None = None) -> Delivery:
    """One invocation, read in both spellings: `status` and `latest_completed_at` with attempts' `status`
    and `response_code`, or an inline `latest_completed_attempt` with `status_code` and `completed_at`."""
    inline = invocation.get("latest_completed_attempt")
    attempt = attempt if attempt is not None else (inline if isinstance(inline, Mapping) else {})
    http_status = _http_status(attempt)
    words = {str(value).lower() for value in (invocation.get("status"), attempt.get("status")) if value}
    at = str(
        invocation.get("latest_completed_at")
        or attempt.get("completed_at")
        or attempt.get("created_at")
        or invocation.get("created_at")
        or ""
    )
    if words & SUCCEEDED or (http_status is not None and 200 <= http_status < 300):
        outcome = "success"
    elif words & FAILED or (http_status is not None and http_status >= 400):
        outcome = "failed"
    elif words & IN_FLIGHT:
        outcome = "in_flight"
    else:
        outcome = "unknown"
    return Delivery(outcome, http_status, at, invocation)


def delivery_diagnosis(deliveries: Sequence[Delivery], public_url: str) -> str:
    """What Zendesk's webhook activity says about a missing escalation, as a thing to fix."""
    if not deliveries:
        return (
            f"the trigger '{TRIGGER_TITLE}' did not call the webhook: check that it is active "
            "(run 'escalations setup' again) and that no other trigger changed the ticket first"
        )
    latest = deliveries[-1]
    if latest.outcome in ("unknown", "in_flight"):
        shown = json.dumps(latest.raw, sort_keys=True, default=str)[:400]
        state = "still in flight" if latest.outcome == "in_flight" else "in a shape this check cannot read"
        return (
            f"Zendesk's record of the webhook call is {state} ({shown}): see Admin Center > Apps and "
            "integrations > Webhooks > the webhook's activity, and the service's log"
        )
    status = latest.http_status
    if latest.outcome == "success":
        return (
            "Zendesk delivered the webhook and the service accepted it, but the ticket was not escalated: "
            "run 'escalations doctor' (parked tickets) and read the service's log"
        )
    if status is None:
        return (
            f"Zendesk could not reach {public_url}/webhooks/zendesk: make PUBLIC_URL reachable from the "
            "internet over HTTPS (behind your TLS proxy) and check that 'escalations serve' runs"
        )
    if status == 401:
        return (
            "the service rejected Zendesk's signature: run 'escalations setup' again, then restart 'escalations serve'"
        )
    if status == 403:
        return "the service does not know this webhook's id: run 'escalations setup' again, then restart the service"
    return f"the service answered Zendesk {status}: read the service's log"


def request_field_problems(request: Mapping[str, Any], field_ids: Mapping[str, int]) -> tuple[list[str], list[str]]:
    """The escalation fields a customer reads on their request (Requests API): those meant for them that show,
    and the problems (a field not meant for customers that shows)."""
    shown = {item.get("id") for item in request.get("custom_fields") or []}
    visible = [f for f in fields.ESCALATION_FIELDS if f.customer_visible and field_ids.get(f.key) in shown]
    private = [f for f in fields.ESCALATION_FIELDS if not f.customer_visible and field_ids.get(f.key) in shown]
    problems = [
        f"the customer can read '{f.title}' through the API: run 'escalations setup' (it keeps that field from "
        "customers), then check the field in Admin Center"
        for f in private
    ]
    return [f.title for f in visible], problems
