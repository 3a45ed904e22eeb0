"""Search: the terms of Zendesk's search syntax that the sandbox honours, for search and search export.

A query is a list of terms; every term must hold (Zendesk ANDs different terms). A
term the sandbox does not honour is refused with 400 rather than ignored, so that
no caller relies on syntax the sandbox does not implement.

- ``GET /api/v2/search``: tickets, 100 a page at most, ``count`` of all matches, and
  no result past the 1,000th (developer.zendesk.com/api-reference/ticketing/ticket-management/search/,
  "Results limit": page 11 at 100 a page answers 422).
- ``GET /api/v2/search/export``: one object type given by ``filter[type]``, never a
  ``type:`` term, results in creation order (spec ExportSearchResults, lines 8950-9033).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from escalations.sandbox.core import Record, parse_time
from escalations.sandbox.errors import SandboxError
from escalations.sandbox.tickets import Tickets

MAX_SEARCH_RESULTS = 1000
EXPORT_TYPES = ("ticket", "user", "organization", "group")

_TERM = re.compile(r"(?P<keyword>\w+)(?P<operator>:|>|<)(?P<value>\S+)")
Match = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class SearchPage:
    """One page of search results, and how many there are in all."""

    results: list[Record]
    count: int
    has_next: bool


def invalid_search(description: str) -> SandboxError:
    return SandboxError(400, "InvalidSearch", description)


class Search(Tickets):
    """Search and search export over the account's tickets, users and groups."""

    def search_tickets(self, query: str) -> list[Record]:
        """Every ticket matching `query` (terms: type:ticket, tags:, status:, created/updated > or <)."""
        matches = _ticket_terms(query, allow_type=True, zone=self.time_zone)
        with self._lock:
            tickets = self._tickets_json(self._live_tickets())
        return [{**ticket, "result_type": "ticket"} for ticket in tickets if all(m(ticket) for m in matches)]

    def search(self, query: str, *, page: int, per_page: int) -> SearchPage:
        """One page of ``GET /api/v2/search``; 422 for a page past the 1,000th result."""
        if page * per_page > MAX_SEARCH_RESULTS:
            raise SandboxError(
                422, "invalid", "Invalid search: Requested response size was greater than Search Response Limits"
            )
        results = self.search_tickets(query)
        start = (page - 1) * per_page
        return SearchPage(results[start : start + per_page], len(results), start + per_page < len(results))

    def search_export(self, query: str, object_type: str) -> list[Record]:
        """Every object of `object_type` matching `query`, oldest first, for ``GET /api/v2/search/export``."""
        if object_type not in EXPORT_TYPES:
            raise invalid_search(f"filter[type] must be one of {', '.join(EXPORT_TYPES)}")
        if object_type == "ticket":
            results = self.search_tickets_for_export(query)
        elif object_type == "user":
            matches = _user_terms(query)
            results = [u for u in self.users() if u["active"] and all(m(u) for m in matches)]
        elif object_type == "group":
            matches = _name_terms(query)
            results = [g for g in self.groups() if all(m(g) for m in matches)]
        else:
            _name_terms(query)
            results = []  # the sandbox has no organizations
        ordered = sorted(results, key=lambda item: (item["created_at"], item["id"]))
        return [{**item, "result_type": object_type} for item in ordered]

    def search_tickets_for_export(self, query: str) -> list[Record]:
        matches = _ticket_terms(query, allow_type=False, zone=self.time_zone)
        with self._lock:
            tickets = self._tickets_json(self._live_tickets())
        return [ticket for ticket in tickets if all(m(ticket) for m in matches)]


def _terms(query: str) -> list[tuple[str, str, str]]:
    terms = []
    for word in query.split():
        term = _TERM.fullmatch(word)
        if term is None:
            raise invalid_search(f"the sandbox's search does not support {word!r}")
        terms.append((term["keyword"].lower(), term["operator"], term["value"]))
    return terms


def _ticket_terms(query: str, *, allow_type: bool, zone: tzinfo) -> list[Match]:
    matches: list[Match] = []
    for keyword, operator, value in _terms(query):
        if keyword == "type" and operator == ":":
            if not allow_type:
                # "Searches with type in the query string will result in an error" (spec, ExportSearchResults).
                raise invalid_search("search export takes the type in filter[type], not in the query")
            if value != "ticket":
                raise invalid_search(f"the sandbox searches tickets only, not {value!r}")
        elif keyword == "tags" and operator == ":":
            matches.append(_has_tag(value))
        elif keyword == "status" and operator == ":":
            matches.append(_equals("status", value.lower()))
        elif keyword in ("created", "updated") and operator in "<>":
            matches.append(_time_term(f"{keyword}_at", operator, value, zone))
        else:
            raise invalid_search(
                "the sandbox's search supports type:ticket, tags:, status:, created> created< updated> updated<, "
                f"not {keyword}{operator}{value}"
            )
    return matches


def _time_term(attribute: str, operator: str, value: str, zone: tzinfo) -> Match:
    """`created>2026-11-27` (after that day in the account's time zone `zone`) or
    `updated<2026-11-27T15:00:00Z` (before that second)."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=zone)
            after, before = day + timedelta(days=1), day
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            after, before = moment + timedelta(seconds=1), moment
    except ValueError as error:
        raise invalid_search(f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from error
    if operator == ">":
        return lambda item: parse_time(item[attribute]) >= after
    return lambda item: parse_time(item[attribute]) < before


def _user_terms(query: str) -> list[Match]:
    matches: list[Match] = []
    for keyword, operator, value in _terms(query):
        if keyword == "email" and operator == ":":
            matches.append(_like("email", value))
        elif keyword == "tags" and operator == ":":
            matches.append(_has_tag(value))
        elif keyword == "role" and operator == ":":
            matches.append(_equals("role", value.lower().replace("_", "-")))
        else:
            raise invalid_search(f"the sandbox's user search supports email:, tags: and role:, not {keyword}{operator}")
    return matches


def _name_terms(query: str) -> list[Match]:
    matches: list[Match] = []
    for keyword, operator, value in _terms(query):
        if keyword != "name" or operator != ":":
            raise invalid_search(f"the sandbox's search supports name: here, not {keyword}{operator}")
        matches.append(_like("name", value))
    return matches


def _has_tag(tag: str) -> Match:
    wanted = tag.lower()
    return lambda item: wanted in item["tags"]


def _equals(attribute: str, value: str) -> Match:
    return lambda item: item[attribute] == value


def _like(attribute: str, pattern: str) -> Match:
    """Case-insensitive match, `*` standing for any characters (`email:*@example.com`)."""
    wanted = pattern.lower()
    return lambda item: fnmatch.fnmatchcase(str(item[attribute] or "").lower(), wanted)
