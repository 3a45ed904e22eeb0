"""The escalation report: rows from the tickets themselves, a summary of the promise kept."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from escalations.admin.report import EscalationRow, parse_since, render, row_for, spreadsheet_safe, summarise
from escalations.config import ConfigError
from tests.conftest import Service, wait_until
from tests.test_end_to_end import ALICE, BOB, settled

FIELD_IDS = {
    "status": 1,
    "requested_at": 2,
    "response_due": 3,
    "requested_by": 4,
    "acknowledged_at": 5,
    "acknowledged_by": 6,
    "resolved_at": 7,
    "refused_repeats": 8,
}
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def row(ticket: int, requested: str, due: str, acknowledged: str = "", overdue: bool = False) -> EscalationRow:
    return EscalationRow(
        ticket, "Ana", requested, due, acknowledged, "Maya" if acknowledged else "", overdue, "", 0, "requested"
    )


def test_a_ticket_without_an_escalation_record_has_no_row() -> None:
    assert row_for({"id": 1, "custom_fields": [], "tags": ["escalated"]}, FIELD_IDS) is None


def test_a_row_reads_the_escalation_fields_and_the_overdue_tag() -> None:
    ticket = {
        "id": 9,
        "tags": ["escalated", "escalation_overdue"],
        "custom_fields": [
            {"id": 1, "value": "escalation_status_acknowledged"},
            {"id": 2, "value": "2026-11-20T10:00:00Z"},
            {"id": 3, "value": "2026-11-23T10:00:00Z"},
            {"id": 4, "value": 77},
            {"id": 5, "value": "2026-11-24T09:00:00Z"},
            {"id": 6, "value": 88},
            {"id": 8, "value": 2},
        ],
    }
    assert row_for(ticket, FIELD_IDS) == EscalationRow(
        9,
        "77",
        "2026-11-20T10:00:00Z",
        "2026-11-23T10:00:00Z",
        "2026-11-24T09:00:00Z",
        "88",
        True,
        "",
        2,
        "acknowledged",
    )


def test_the_summary_counts_overdue_share_acknowledgement_percentiles_and_on_time_share() -> None:
    rows = [
        row(1, "2026-11-02T10:00:00Z", "2026-11-03T10:00:00Z", "2026-11-02T12:00:00Z"),  # 2 h, on time
        row(2, "2026-11-03T10:00:00Z", "2026-11-04T10:00:00Z", "2026-11-04T14:00:00Z", overdue=True),  # 28 h, late
        row(3, "2026-11-04T10:00:00Z", "2026-11-05T10:00:00Z", "2026-11-04T14:00:00Z"),  # 4 h, on time
        row(4, "2026-11-05T10:00:00Z", "2026-11-06T10:00:00Z"),  # not acknowledged
    ]
    summary = summarise(rows)
    assert summary.escalations == 4 and summary.overdue_share == 0.25
    assert summary.acknowledge_p50_hours == 4.0 and summary.acknowledge_p90_hours == 28.0
    assert summary.acknowledged_before_due_share == pytest.approx(2 / 3)


def test_an_empty_report_has_an_empty_summary() -> None:
    summary = summarise([])
    assert summary.escalations == 0 and summary.overdue_share is None and summary.acknowledge_p50_hours is None


def test_csv_cells_cannot_become_spreadsheet_formulas() -> None:
    for dangerous in ("=HYPERLINK(1)", "+1", "-1", "@SUM(A1)"):
        assert spreadsheet_safe(dangerous) == "'" + dangerous
    assert spreadsheet_safe("Ana") == "Ana" and spreadsheet_safe(3) == 3
    evil = EscalationRow(1, "=cmd|' /C calc'!A0", "2026-11-02T10:00:00Z", "", "", "", False, "", 0, "requested")
    text = render([evil], summarise([evil]), "csv")
    assert list(csv.reader(io.StringIO(text)))[1][1].startswith("'=")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", datetime(2026, 10, 29, 12, tzinfo=UTC)),
        ("12h", datetime(2026, 11, 28, 0, tzinfo=UTC)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
    ],
)
def test_since_takes_durations_and_dates(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


def test_a_bad_since_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="--since"):
        parse_since("last month", NOW)


def test_the_report_reads_zendesk_and_matches_the_tickets(service: Service) -> None:
    for ticket_id, customer in ((1, ALICE), (2, BOB)):
        service.zendesk.add_comment(ticket_id, author_id=customer, body="Escalation request: it is all broken.")
        wait_until(lambda t=ticket_id: settled(service, t, 1), what="the escalation")
    service.zendesk.add_comment(2, author_id=BOB, body="Escalation request: again!")
    wait_until(lambda: settled(service, 2, 2), what="the refusal")

    report = json.loads(service.run("report", "--format", "json").stdout)
    rows = {row["ticket"]: row for row in report["escalations"]}
    assert set(rows) == {1, 2}
    assert rows[1]["requester"] == "Alice Moreau" and rows[2]["refused_repeats"] == 1
    assert rows[1]["status"] == "requested" and not rows[1]["overdue"]
    assert report["summary"]["escalations"] == 2 and report["summary"]["refused_repeats"] == 1

    table = service.run("report").stdout
    assert "Alice Moreau" in table and "escalations: 2" in table
    rows_csv = list(csv.DictReader(io.StringIO(service.run("report", "--format", "csv", "--since", "1d").stdout)))
    assert [int(r["ticket"]) for r in rows_csv] == sorted(rows, key=lambda t: rows[t]["requested_at"])
    bad = service.run("report", "--since", "whenever", check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("escalations: --since")


def test_a_report_over_5000_escalations_is_complete(service_env: Service) -> None:
    """Zendesk's plain search stops at 1,000 results; the report reads them all through the search export."""
    service_env.run("setup")
    field_ids = json.loads((service_env.data_dir / "state.json").read_text())["field_ids"]
    zendesk = service_env.zendesk
    zendesk.webhook_delivery_enabled = False
    requested = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for number in range(5000):
        customer = (ALICE, BOB)[number % 2]
        zendesk.api_create_ticket(
            {
                "subject": f"Escalated case {number}",
                "requester_id": customer,
                "comment": {"body": "Escalation request: nothing works."},
                "tags": ["escalated"],
                "custom_fields": [
                    {"id": field_ids["status"], "value": "escalation_status_requested"},
                    {"id": field_ids["requested_at"], "value": requested},
                    {"id": field_ids["response_due"], "value": requested},
                    {"id": field_ids["requested_by"], "value": str(customer)},
                ],
            }
        )
    report = json.loads(service_env.run("report", "--format", "json").stdout)
    assert report["summary"]["escalations"] == 5000
    assert len({row["ticket"] for row in report["escalations"]}) == 5000
    assert {row["requester"] for row in report["escalations"]} == {"Alice Moreau", "Bob Lindqvist"}
    exports = [e for e in zendesk.requests_log() if e["path"] == "/api/v2/search/export.json"]
    assert len(exports) >= 50 and all(e["status"] == 200 for e in exports)
    assert not any(e["path"] == "/api/v2/search.json" for e in zendesk.requests_log())
