"""`escalations report`: every escalation with its timings, and how well the promise was kept.

It reads Zendesk (search), not local state, so it is right on a fresh machine;
only which managers' group takes each brand's escalations comes from the state
setup stored. The rows are computed by pure functions from the tickets' JSON,
and the summary is given for all of them and, when brands have their own
managers' groups, for each group.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from escalations.config import ConfigError
from escalations.core import fields
from escalations.core.tickets import parse_iso
from escalations.zendesk.gateway import ZendeskGateway, all_items, search_export


@dataclass(frozen=True)
class EscalationRow:
    ticket: int
    requester: str
    requested_at: str
    due: str
    acknowledged_at: str
    acknowledged_by: str
    overdue: bool
    resolved_at: str
    refused_repeats: int
    status: str
    group: str = ""  # the managers' group the escalation went to (its brand's, else the default one)


@dataclass(frozen=True)
class Summary:
    escalations: int
    refused_repeats: int
    overdue_share: float | None
    acknowledge_p50_hours: float | None
    acknowledge_p90_hours: float | None
    acknowledged_before_due_share: float | None


def parse_since(text: str, now: datetime) -> datetime:
    """'30d', '12h', '2w' or an ISO date; a bad value is a one-line error."""
    match = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", text)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - timedelta(hours=amount * {"h": 1, "d": 24, "w": 168}[unit])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--since must look like 30d, 12h, 2w or 2026-11-01, not {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def row_for(ticket: Mapping[str, Any], field_ids: Mapping[str, int], group: str = "") -> EscalationRow | None:
    """One row per escalated ticket (people as user ids); None when it carries no escalation record."""
    recorded = fields.recorded_values(ticket.get("custom_fields") or [], field_ids)

    def value(key: str) -> Any:
        return recorded.get(key)

    requested_at = value(fields.REQUESTED_AT)
    if not requested_at:
        return None
    requester = value(fields.REQUESTED_BY)
    acknowledged_by = value(fields.ACKNOWLEDGED_BY)
    return EscalationRow(
        ticket=int(ticket["id"]),
        requester=str(requester or ""),
        requested_at=str(requested_at),
        due=str(value(fields.RESPONSE_DUE) or ""),
        acknowledged_at=str(value(fields.ACKNOWLEDGED_AT) or ""),
        acknowledged_by=str(acknowledged_by or ""),
        overdue=fields.TAG_OVERDUE in (ticket.get("tags") or []),
        resolved_at=str(value(fields.RESOLVED_AT) or ""),
        refused_repeats=int(value(fields.REFUSED_REPEATS) or 0),
        status=str(value(fields.STATUS) or "").removeprefix("escalation_status_"),
        group=group,
    )


def _percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def summarise(rows: Sequence[EscalationRow]) -> Summary:
    acknowledged = [row for row in rows if row.acknowledged_at]
    hours = [
        (parse_iso(row.acknowledged_at) - parse_iso(row.requested_at)).total_seconds() / 3600 for row in acknowledged
    ]
    before_due = [row for row in acknowledged if row.due and parse_iso(row.acknowledged_at) <= parse_iso(row.due)]
    return Summary(
        escalations=len(rows),
        refused_repeats=sum(row.refused_repeats for row in rows),
        overdue_share=(sum(row.overdue for row in rows) / len(rows)) if rows else None,
        acknowledge_p50_hours=_percentile(hours, 0.5),
        acknowledge_p90_hours=_percentile(hours, 0.9),
        acknowledged_before_due_share=(len(before_due) / len(acknowledged)) if acknowledged else None,
    )


def summarise_by_group(rows: Sequence[EscalationRow]) -> dict[str, Summary]:
    """The summary of each managers' group's escalations, when there is more than one group."""
    groups = sorted({row.group for row in rows})
    if len(groups) < 2:
        return {}
    return {group: summarise([row for row in rows if row.group == group]) for group in groups}


def spreadsheet_safe(value: object) -> object:
    """Keep a cell from being read as a formula by spreadsheet software."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def render(
    rows: Sequence[EscalationRow], summary: Summary, form: str, by_group: Mapping[str, Summary] | None = None
) -> str:
    by_group = by_group or {}
    if form == "json":
        document = {
            "escalations": [asdict(r) for r in rows],
            "summary": asdict(summary),
            "by_group": {group: asdict(group_summary) for group, group_summary in by_group.items()},
        }
        return json.dumps(document, indent=2) + "\n"
    if form == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        names = list(EscalationRow.__dataclass_fields__)
        writer.writerow(names)
        for row in rows:
            writer.writerow([spreadsheet_safe(getattr(row, name)) for name in names])
        return out.getvalue()
    groups = "".join(f"\n{group}:\n{_summary_lines(group_summary)}" for group, group_summary in by_group.items())
    return _table(rows, bool(by_group)) + "\n" + _summary_lines(summary) + groups


def _table(rows: Sequence[EscalationRow], with_group: bool = False) -> str:
    header: tuple[str, ...] = (
        "ticket",
        "requester",
        "requested at",
        "due",
        "acknowledged",
        "by",
        "overdue",
        "resolved",
        "refused",
        *(("group",) if with_group else ()),
    )
    lines = [
        (
            str(r.ticket),
            r.requester,
            r.requested_at,
            r.due,
            r.acknowledged_at or "-",
            r.acknowledged_by or "-",
            "yes" if r.overdue else "no",
            r.resolved_at or "-",
            str(r.refused_repeats),
            *((r.group,) if with_group else ()),
        )
        for r in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=False)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in [header, *lines]
    )


def _summary_lines(summary: Summary) -> str:
    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    def hours(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} h"

    return (
        f"escalations: {summary.escalations}   refused repeats: {summary.refused_repeats}   "
        f"overdue: {share(summary.overdue_share)}\n"
        f"time to acknowledge: p50 {hours(summary.acknowledge_p50_hours)}, p90 {hours(summary.acknowledge_p90_hours)}"
        f"   acknowledged before due: {share(summary.acknowledged_before_due_share)}\n"
    )


def collect(
    gateway: ZendeskGateway,
    field_ids: Mapping[str, int],
    since: datetime,
    progress: TextIO = sys.stderr,
    group_of: Callable[[Mapping[str, Any]], str] = lambda ticket: "",
) -> list[EscalationRow]:
    """Escalations requested since `since`, oldest first, with people's names and each one's managers' group."""
    rows = [
        row
        for ticket in _escalated_tickets(gateway, since, progress)
        if (row := row_for(ticket, field_ids, group_of(ticket))) is not None and parse_iso(row.requested_at) >= since
    ]
    names = _names(gateway, rows)
    return sorted(
        (
            replace(
                row,
                requester=names.get(row.requester, row.requester),
                acknowledged_by=names.get(row.acknowledged_by, row.acknowledged_by),
            )
            for row in rows
        ),
        key=lambda row: row.requested_at,
    )


def escalated_since_query(since: datetime) -> str:
    """Tickets tagged escalated and updated since the day before `since`.

    An escalation requested at `since` or later was written to its ticket then,
    so its ticket's `updated_at` is no older; the day's margin covers the
    account's timezone, in which search reads dates.
    """
    day = (since - timedelta(days=1)).date().isoformat()
    return f"tags:{fields.TAG_ESCALATED} updated>{day}"


def _escalated_tickets(gateway: ZendeskGateway, since: datetime, progress: TextIO) -> list[dict[str, Any]]:
    """Every escalated ticket updated since then, through the search export (no 1,000-result ceiling)."""
    tickets: list[dict[str, Any]] = []
    for pages, page in enumerate(search_export(gateway, escalated_since_query(since)), start=1):
        tickets.extend(page)
        if pages > 1:
            print(f"read {len(tickets)} escalated tickets", file=progress, flush=True)
    return tickets


def _names(gateway: ZendeskGateway, rows: Iterable[EscalationRow]) -> dict[str, str]:
    """User id (as text) to name, for the people the rows mention; 100 users a call."""
    ids = sorted({value for row in rows for value in (row.requester, row.acknowledged_by) if value.isdigit()})
    names: dict[str, str] = {}
    for start in range(0, len(ids), 100):
        chunk = ",".join(ids[start : start + 100])
        for user in gateway.get_json("/api/v2/users/show_many.json", {"ids": chunk}).get("users") or []:
            names[str(user["id"])] = str(user.get("name") or user["id"])
    return names


def managers_groups(
    gateway: ZendeskGateway, default_group_id: int, brand_group_ids: Mapping[int, int]
) -> Callable[[Mapping[str, Any]], str]:
    """The name of the managers' group each ticket's escalation goes to, by its brand (one read of the groups)."""
    if not brand_group_ids:
        return lambda ticket: ""
    names = {int(g["id"]): str(g.get("name") or g["id"]) for g in all_items(gateway, "/api/v2/groups.json", "groups")}

    def group_of(ticket: Mapping[str, Any]) -> str:
        group_id = brand_group_ids.get(ticket.get("brand_id") or 0, default_group_id)
        return names.get(group_id, str(group_id))

    return group_of
