"""Each brand's escalations go to its own managers' group, and the messages name the ticket's brand.

The sandbox has two brands, Acme (the default) and Globex (ticket 4's).
"""

from __future__ import annotations

import json
import re

from escalations.core import fields
from escalations.sandbox import SandboxZendesk
from tests.conftest import Service, wait_until
from tests.test_end_to_end import ALICE, DEEPAK, PRIYA, emails_for, settled

TOM = 10012  # an agent of the default managers' group, Support Managers


def status_of(zendesk: SandboxZendesk, service: Service, ticket_id: int) -> str | None:
    state = json.loads((service.data_dir / "state.json").read_text())
    values = fields.recorded_values(zendesk.ticket(ticket_id)["custom_fields"], state["field_ids"])
    return values.get(fields.STATUS)


def test_two_brands_route_to_two_managers_groups_with_their_own_roster_and_report(service_env: Service) -> None:
    service = service_env.set_up_and_start(ESCALATION_GROUP_BY_BRAND="Globex=Globex Managers")
    zendesk = service.zendesk
    groups = {group["name"]: group["id"] for group in zendesk.groups()}
    assert zendesk.ticket(1)["brand_id"] != zendesk.ticket(4)["brand_id"]

    zendesk.add_comment(1, author_id=ALICE, body="Escalation request: we were charged twice.")
    zendesk.add_comment(4, author_id=DEEPAK, body="Escalation request: the lamp arrived broken.")
    wait_until(lambda: settled(service, 1, 1) and settled(service, 4, 1), what="both escalations confirmed")
    assert zendesk.ticket(1)["group_id"] == groups["Support Managers"]
    assert zendesk.ticket(4)["group_id"] == groups["Globex Managers"]
    assert emails_for(zendesk, 1)[0]["body"].rstrip().endswith("Support Management, Acme")
    assert emails_for(zendesk, 4)[0]["body"].rstrip().endswith("Support Management, Globex")
    note = next(c for c in zendesk.comments(4) if not c["public"])
    assert "Brand: Globex" in note["body"]

    # The acknowledgement counts the managers of the ticket's own group: Tom manages Acme's escalations only.
    zendesk.create_group_membership({"user_id": PRIYA, "group_id": groups["Globex Managers"]})
    zendesk.add_comment(4, author_id=TOM, body="Hello Deepak, Tom here from support management.")
    zendesk.wait_for_deliveries()
    reply = zendesk.deliveries()[-1]["invocation_id"]  # the staff-reply trigger's call for Tom's reply

    def decided_on_the_reply() -> list[str]:
        return re.findall(rf"invocation={reply}\]: ticket 4: ([a-z_]+) \(", service.logs())

    assert wait_until(decided_on_the_reply, what="the worker to decide on Tom's reply") == ["ignored"]
    assert status_of(zendesk, service, 4) == fields.status_tag(fields.STATUS_REQUESTED)
    zendesk.add_comment(4, author_id=PRIYA, body="Hello Deepak, I manage Globex escalations and I am on it.")
    wait_until(
        lambda: status_of(zendesk, service, 4) == fields.status_tag(fields.STATUS_ACKNOWLEDGED),
        what="the Globex manager's acknowledgement",
    )

    report = json.loads(service.run("report", "--format", "json").stdout)
    assert {row["ticket"]: row["group"] for row in report["escalations"]} == {
        1: "Support Managers",
        4: "Globex Managers",
    }
    assert report["by_group"]["Globex Managers"]["escalations"] == 1
    assert report["by_group"]["Support Managers"]["escalations"] == 1
    table = service.run("report").stdout
    assert re.search(r"^Globex Managers:$", table, re.MULTILINE)
