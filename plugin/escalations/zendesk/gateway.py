"""The Zendesk gateway: Zenpy used the safe way, a snapshot in, collision-protected writes out.

Zenpy is constructed without its object cache (it hands out shared mutable
tickets), with a plain requests session (its default one retries PUTs, which
can post a comment several times) and with a bounded budget for waiting out
429 answers. One client serves one job: Zenpy objects are not thread-safe.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from zenpy import Zenpy
from zenpy.lib.api_objects import Ticket
from zenpy.lib.exception import APIException, RatelimitBudgetExceeded

from escalations.config import ConfigError, Settings
from escalations.core.calendar import WorkingCalendar
from escalations.core.fields import recorded_values
from escalations.core.tickets import Comment, Person, TicketSnapshot, TicketUpdate, parse_iso
from escalations.zendesk.api_calls import count_api_call
from escalations.zendesk.pacing import PacedSession, shared_pacer

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 15.0
RATE_LIMIT_BUDGET = 120  # seconds one job may spend waiting out 429 answers


class ZendeskError(Exception):
    """Zendesk did not do what was asked; the message says why in one line."""


class ZendeskUnavailable(ZendeskError):
    """A passing fault (5xx, timeout, connection, rate-limit budget spent): retry later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpdateConflict(ZendeskError):
    """409: the ticket changed since it was read; read it again and decide again."""


class NotFound(ZendeskError):
    """404: what was asked for does not exist (any more)."""


class TicketGone(NotFound):
    """404 on a ticket: it was deleted; nothing to do."""


class ZendeskRefused(ZendeskError):
    """401, 403, 422 or another 4xx: retrying the same request will not help.

    A 422 on a ticket write usually means the ticket was closed meanwhile; the
    worker parks the ticket and the next sweep reads it again (and, finding it
    closed, leaves it alone).
    """


class Redirected(HTTPAdapter):
    """Sends the calls Zenpy addresses to the account's zendesk.com host to another base URL instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        parts = urlsplit(base_url)
        self.scheme, self.netloc = parts.scheme, parts.netloc

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        request.url = urlunsplit(urlsplit(request.url or "")._replace(scheme=self.scheme, netloc=self.netloc))
        return super().send(request, *args, **kwargs)


def point_zenpy_at(session: requests.Session, subdomain: str, base_url: str) -> None:
    """Route the session's calls to ZENDESK_API_URL when set (a sandbox or a test double).

    Zenpy always builds https://{subdomain}.zendesk.com/... (its only other way, the ZENPY_FORCE_*
    variables, would change the environment of the whole process); the session sends them on.
    """
    parts = urlsplit(base_url)
    if parts.hostname and parts.hostname.endswith(".zendesk.com"):
        return
    session.mount(f"https://{subdomain}.zendesk.com/", Redirected(base_url))


def make_client(
    settings: Settings,
    ratelimit_budget: int = RATE_LIMIT_BUDGET,
    session: PacedSession | None = None,
    on_behalf_of: str | None = None,
) -> Zenpy:
    """A Zenpy client for one job; `session` paces its calls (the process's pacer by default).

    With an OAuth token (Zenpy sends it as `Authorization: Bearer`), `on_behalf_of`
    names an end-user by email to act as (`X-On-Behalf-Of`, which needs the token's
    `impersonate` scope); with an API token, the email in the credentials does that.
    """
    if session is None:
        session = PacedSession(shared_pacer(settings.ticket_updates_per_minute, settings.redis_url))
    if settings.zendesk_api_url:
        point_zenpy_at(session, settings.zendesk_subdomain, settings.zendesk_api_url)
    session.hooks["response"].append(count_api_call)
    if settings.uses_oauth:
        if on_behalf_of is not None:
            session.headers["X-On-Behalf-Of"] = on_behalf_of
        credentials: dict[str, str] = {"oauth_token": settings.zendesk_oauth_token}
    else:
        credentials = {"email": on_behalf_of or settings.zendesk_email, "token": settings.zendesk_api_token}
    return Zenpy(
        subdomain=settings.zendesk_subdomain,
        session=session,
        timeout=REQUEST_TIMEOUT,
        ratelimit_budget=ratelimit_budget,
        disable_cache=True,
        **credentials,
    )


@dataclass
class ZendeskGateway:
    """Reads ticket snapshots and writes policy updates for one job."""

    settings: Settings
    field_ids: Mapping[str, int]
    client: Zenpy

    def request_json(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Call an API path through Zenpy's session, 429 handling and error mapping; return the JSON."""
        api = self.client.tickets
        url = f"{self.settings.zendesk_base_url}{path}"
        with translated_errors():
            response = api._call_api(
                getattr(api.session, method.lower()),
                url,
                params=params,
                json=payload,
                timeout=api.timeout,
            )
        if response.status_code == 204 or not response.content:
            return {}
        body: dict[str, Any] = response.json()
        return body

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.request_json("GET", path, params)

    def read_snapshot(self, ticket_id: int) -> TicketSnapshot:
        """Two reads: the ticket with its people and group, and its newest comments with their authors."""
        ticket = self.get_json(f"/api/v2/tickets/{ticket_id}.json", {"include": "users,groups"})
        page = self.get_json(
            f"/api/v2/tickets/{ticket_id}/comments.json",
            {"include": "users", "sort": "-created_at", "page[size]": 100},
        )
        return snapshot_from_json(ticket, page, self.field_ids)

    def business_calendar(self, schedule: str) -> WorkingCalendar:
        """The working time of the account's business-hours schedule named `schedule` (or with that id)."""
        schedules = self.get_json("/api/v2/business_hours/schedules.json").get("schedules") or []
        chosen = next((s for s in schedules if schedule in (str(s.get("name")), str(s.get("id")))), None)
        if chosen is None:
            names = ", ".join(repr(str(s.get("name"))) for s in schedules) or "none"
            raise ConfigError(f"ESCALATION_SCHEDULE: no schedule named {schedule!r} in Zendesk (there are: {names})")
        holidays = self.get_json(f"/api/v2/business_hours/schedules/{chosen['id']}/holidays.json")
        try:
            return WorkingCalendar.from_zendesk_schedule(chosen, holidays.get("holidays") or [])
        except ValueError as error:
            raise ConfigError(f"ESCALATION_SCHEDULE: {error}") from None

    def brand_names(self) -> dict[int, str]:
        """The account's brands, by id."""
        return {
            int(brand["id"]): str(brand.get("name") or "") for brand in all_items(self, "/api/v2/brands.json", "brands")
        }

    def group_member_ids(self, group_id: int) -> frozenset[int]:
        memberships = all_items(self, f"/api/v2/groups/{group_id}/memberships.json", "group_memberships")
        return frozenset(int(membership["user_id"]) for membership in memberships)

    def apply(self, ticket_id: int, update: TicketUpdate, body: str | None, stamp: str) -> str:
        """Write one update with collision protection; return the ticket's new updated_at."""
        change = Ticket(id=ticket_id, safe_update=True, updated_stamp=stamp)
        if update.message is not None and body is not None:
            change.comment = {"body": body, "public": update.message.public}
        if update.tags is not None:
            change.tags = list(update.tags)
        if update.fields:
            change.custom_fields = [{"id": self.field_ids[key], "value": value} for key, value in update.fields.items()]
        if update.group_id is not None:
            change.group_id = update.group_id
        if update.clear_assignee:
            change.assignee_id = None
        with translated_errors():
            audit = self.client.tickets.update(change)
        return str(audit.ticket.updated_at)


class translated_errors:
    """Map Zenpy's and requests' exceptions to the kinds of ZendeskError the callers act on."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> None:
        if error is None or isinstance(error, ZendeskError):
            return
        if isinstance(error, RatelimitBudgetExceeded):
            raise ZendeskUnavailable("rate limited for longer than the job's budget") from error
        if isinstance(error, APIException | requests.HTTPError):
            response = getattr(error, "response", None)
            raise error_for_status(getattr(response, "status_code", None), response) from error
        if isinstance(error, requests.RequestException):
            raise ZendeskUnavailable(f"Zendesk unreachable: {error.__class__.__name__}") from error


def error_for_status(status: int | None, response: requests.Response | None) -> ZendeskError:
    """The kind of failure an HTTP status means for us."""
    detail = _error_detail(response)
    if status == 409:
        return UpdateConflict("the ticket changed since it was read")
    if status == 404:
        return TicketGone(f"Zendesk answered 404{detail}")
    if status in (401, 403):
        return ZendeskRefused(
            f"Zendesk refused the credentials ({status}{detail}): check ZENDESK_EMAIL and ZENDESK_API_TOKEN, "
            "or ZENDESK_OAUTH_TOKEN and its scopes"
        )
    if status is None or status == 429 or status >= 500:
        return ZendeskUnavailable(f"Zendesk answered {status}", _retry_after(response))
    return ZendeskRefused(f"Zendesk answered {status}{detail}")


def _retry_after(response: requests.Response | None) -> float | None:
    value = response.headers.get("Retry-After", "") if response is not None else ""
    return float(value) if value.strip().isdigit() else None


def _error_detail(response: requests.Response | None) -> str:
    try:
        body = response.json() if response is not None else None
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    detail = body.get("description") or body.get("error") or ""
    return f": {str(detail)[:200]}" if detail else ""


def snapshot_from_json(
    ticket_page: Mapping[str, Any], comment_page: Mapping[str, Any], field_ids: Mapping[str, int]
) -> TicketSnapshot:
    """Build the policy's view of a ticket from the API's JSON."""
    ticket = ticket_page["ticket"]
    escalation = recorded_values(ticket.get("custom_fields") or [], field_ids)
    people = {
        user["id"]: Person(
            id=user["id"],
            name=user.get("name") or "",
            email=user.get("email"),
            role=user.get("role") or "end-user",
            phone=user.get("phone"),
            locale=user.get("locale"),
            time_zone=user.get("iana_time_zone") or None,
        )
        for user in [*(ticket_page.get("users") or []), *(comment_page.get("users") or [])]
    }
    comments = sorted(
        (
            Comment(
                id=item["id"],
                author_id=item["author_id"],
                body=item.get("plain_body") or item.get("body") or "",
                public=bool(item.get("public")),
                created_at=parse_iso(item["created_at"]),
            )
            for item in comment_page.get("comments") or []
        ),
        key=lambda comment: comment.id,
    )
    has_more = bool((comment_page.get("meta") or {}).get("has_more"))
    copied = set(ticket.get("email_cc_ids") or []) | set(ticket.get("collaborator_ids") or [])
    return TicketSnapshot(
        id=ticket["id"],
        status=ticket.get("status") or "open",
        subject=ticket.get("subject") or "",
        requester_id=ticket["requester_id"],
        copied_ids=frozenset(copied),
        group_id=ticket.get("group_id"),
        assignee_id=ticket.get("assignee_id"),
        tags=tuple(ticket.get("tags") or ()),
        escalation=escalation,
        comments=tuple(comments),
        people=people,
        updated_at=ticket["updated_at"],
        first_comment_id=comments[0].id if comments and not has_more else None,
        group_names={group["id"]: str(group.get("name") or "") for group in ticket_page.get("groups") or []},
        brand_id=ticket.get("brand_id"),
    )


def paged(gateway: ZendeskGateway, path: str, params: Mapping[str, Any], key: str) -> Iterator[dict[str, Any]]:
    """Follow a time-based incremental export to its end, one page at a time.

    Each request repeats our own parameters with the next page's `start_time`:
    Zendesk's documented `next_page` carries only `start_time`, so following it
    as given would drop `include=comment_events` from the second page on.
    """
    query = dict(params)
    page = gateway.get_json(path, query)
    while True:
        yield page
        start_time = _next_start_time(page)
        if page.get("end_of_stream") or start_time is None or not page.get(key):
            return
        query["start_time"] = start_time
        page = gateway.get_json(path, query)


def _next_start_time(page: Mapping[str, Any]) -> str | None:
    next_page = page.get("next_page")
    start = dict(parse_qsl(urlsplit(next_page).query)).get("start_time") if next_page else None
    if start is None and page.get("end_time") is not None:
        start = str(page["end_time"])
    return start


def cursor_pages(
    gateway: ZendeskGateway, path: str, key: str, params: Mapping[str, Any] | None = None
) -> Iterator[list[dict[str, Any]]]:
    """The items of a list endpoint, page by page, with cursor pagination (or offset, where that is all there is).

    The next request is our own parameters plus `page[after]`, whatever the
    `links.next` URL carries; an offset-paginated answer's `next_page` is followed as given.
    """
    query = dict(params) if params is not None else {"page[size]": 100}
    page = gateway.get_json(path, query)
    for _ in range(100_000):
        yield list(page.get(key) or [])
        meta = page.get("meta") or {}
        if meta.get("after_cursor") is not None or "has_more" in meta:
            if not meta.get("has_more") or not meta.get("after_cursor"):
                return
            query["page[after]"] = meta["after_cursor"]
            page = gateway.get_json(path, query)
            continue
        next_page = page.get("next_page")
        if not next_page:
            return
        page = gateway.get_json(urlsplit(next_page).path, dict(parse_qsl(urlsplit(next_page).query)))


def all_items(
    gateway: ZendeskGateway, path: str, key: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every item of a list endpoint."""
    return [item for page in cursor_pages(gateway, path, key, params) for item in page]


SEARCH_EXPORT_PATH = "/api/v2/search/export.json"
SEARCH_EXPORT_PAGE_SIZE = 100  # Zendesk recommends 100; pages of up to 1,000 can time out


def search_export(gateway: ZendeskGateway, query: str, kind: str = "ticket") -> Iterator[list[dict[str, Any]]]:
    """Every result of a search, page by page, through the export endpoint.

    The plain search stops at 1,000 results (a page past them answers 422); the
    export has no ceiling, takes the object type in `filter[type]` (a `type:`
    term in the query is an error there) and pages with cursors.
    """
    params = {"query": query, "filter[type]": kind, "page[size]": SEARCH_EXPORT_PAGE_SIZE}
    yield from cursor_pages(gateway, SEARCH_EXPORT_PATH, "results", params)
