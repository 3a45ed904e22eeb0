"""Search: tickets found by the terms of Zendesk's search syntax that the sandbox honours."""

from __future__ import annotations

from plugin.sandbox.core import Record
from plugin.sandbox.errors import SandboxError
from plugin.sandbox.tickets import Tickets


class Search(Tickets):
    """`GET /api/v2/search` for tickets."""

    def search_tickets(self, query: str) -> list[Record]:
        """Tickets matching a search query: the `type:ticket`, `tags:` and `status:` terms only.

        Every term must hold (Zendesk ANDs different terms). Any other term is
        refused with 400 rather than silently ignored, so a caller cannot rely
        on search syntax the sandbox does not honour.
        """
        wanted_tags: list[str] = []
        wanted_status: list[str] = []
        for term in query.split():
            keyword, _, value = term.partition(":")
            if keyword == "type" and value == "ticket":
                continue
            if keyword == "tags" and value:
                wanted_tags.append(value.lower())
            elif keyword == "status" and value:
                wanted_status.append(value.lower())
            else:
                raise SandboxError(
                    400, "InvalidSearch", f"the sandbox's search supports type:ticket, tags: and status:, not {term!r}"
                )
        return [
            {**ticket, "result_type": "ticket"}
            for ticket in self.tickets()
            if all(tag in ticket["tags"] for tag in wanted_tags)
            and all(ticket["status"] == status for status in wanted_status)
        ]
