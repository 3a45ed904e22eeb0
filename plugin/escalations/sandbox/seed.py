"""The sandbox's starting account: a small support team, a few customers and their open tickets."""

from __future__ import annotations

from escalations.sandbox.core import Record
from escalations.sandbox.ticket_changes import CommentInput, html_body_for
from escalations.sandbox.tickets import Tickets


class SeedData(Tickets):
    """Fills a new account; only called from the account's constructor, under its lock."""

    def _seed(self) -> None:
        """A small support team with a few customers and their open tickets."""
        support = self._add_group("Support", description="Front-line support", default=True)
        managers = self._add_group("Support Managers", description="Escalations are handled here")
        globex = self._add_brand("Globex", f"{self.subdomain}-globex")
        priya = self._add_user(name="Priya Natarajan", email="priya@sandbox.test", role="agent")
        tom = self._add_user(name="Tom Becker", email="tom@sandbox.test", role="agent")
        self._add_membership(priya["id"], support["id"])
        self._add_membership(tom["id"], managers["id"])
        alice = self._add_user(
            name="Alice Moreau", email="alice.moreau@example.com", role="end-user", phone="+33 6 12 34 56 78"
        )
        bob = self._add_user(name="Bob Lindqvist", email="bob.lindqvist@example.com", role="end-user")
        carmen = self._add_user(name="Carmen Ortiz", email="carmen.ortiz@example.com", role="end-user")
        deepak = self._add_user(name="Deepak Rao", email="deepak.rao@example.com", role="end-user")
        seed_tickets: tuple[tuple[Record, str, str, list[int], int | None], ...] = (
            (
                alice,
                "Charged twice for my March invoice",
                "Hello, my card was charged twice for invoice INV-2031. Could you refund one charge?",
                [],
                None,
            ),
            (
                bob,
                "Cannot log in after resetting my password",
                "Since I reset my password this morning the login page says my account is locked.",
                [],
                None,
            ),
            (
                carmen,
                "CSV export times out",
                "Exporting last quarter's orders to CSV fails after a minute, every time.",
                [deepak["id"]],
                None,
            ),
            (
                deepak,
                "Parcel arrived damaged",
                "Order 55812 arrived with the box crushed and the lamp inside broken.",
                [],
                globex["id"],
            ),
            (
                alice,
                "Please update my billing address",
                "We moved offices: the new billing address is 12 rue des Lilas, 69003 Lyon.",
                [],
                None,
            ),
        )
        for requester, subject, description, cc_ids, brand_id in seed_tickets:
            self._open_ticket(
                {
                    "subject": subject,
                    "status": "open",
                    "group_id": support["id"],
                    "assignee_id": priya["id"],
                    "email_cc_ids": cc_ids,
                    **({"brand_id": brand_id} if brand_id is not None else {}),
                },
                CommentInput(requester, description, html_body_for(description), public=True),
                requester=requester,
                actor=requester,
                channel="web",
            )
