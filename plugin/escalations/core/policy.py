"""The escalation policy: what happens when a customer writes the phrase.

Everything here is pure. Given a snapshot of a ticket (its fields, tags, group,
people and newest comments), the policy settings and the current time, `decide`
returns the updates to make, in order. The shell writes each update with
Zendesk's collision protection and, on a conflict, reads the ticket again and
asks again; because the ticket itself records what has been handled, asking
twice never does anything twice.

The rules, read top to bottom in `decide`:
1. A comment counts as an escalation attempt when it is public, new (after
   the newest comment already answered, and after the service was switched
   on), not the ticket's opening description, written by the requester (or,
   when allowed, an end-user copied on the ticket) and contains the phrase in
   the author's own words, not negated.
2. A closed ticket is read-only in Zendesk; nothing is done.
3. The first attempt with a reason escalates: the escalation is recorded in
   the ticket fields, the ticket is tagged and moved to the managers' group
   with an internal note for them, then the customer gets one confirmation.
   Further attempts read in the same batch are covered by that confirmation.
4. Attempts on a ticket that is already escalated are refused politely, once
   per batch of comments, and counted; nothing else changes.
5. An attempt without a reason on a ticket that is not escalated gets a
   request for the reason and does not use up the escalation. The ticket then
   waits for the reason: the next public comment of that customer with words of
   their own, within `REASON_WINDOW` of their attempt, is the reason, as people
   answer such a question. A comment after the window is an ordinary one and
   ends the wait; another attempt without a reason asks again.
6. With notifications for managers switched on, the write that makes an event
   (escalated, refused, acknowledged, overdue, resolved) also marks its
   notification as owed on the ticket, and a later write of the same decision
   claims it by removing the mark: the customer's confirmation when one
   follows, else a tags-only write at the end. The shell sends a notification
   only once the write claiming it has succeeded, so it is sent once, after
   the write it announces; a mark left by a run that stopped is claimed by
   the next decision.
7. A ticket kept out of the process (it carries one of the excluded tags, or
   belongs to an excluded brand) gets no answer to an attempt, whichever way
   the comment arrives (the trigger or the catch-up sweep); an escalation
   recorded before the ticket was kept out is still confirmed and followed up.
8. Each brand's escalations go to its own managers' group when one is set,
   to the managers' group otherwise; the messages can name the ticket's brand.
9. Customers read replies in their language: the Help Center page's when they
   wrote with the form there (it says so in the comment), else their profile's;
   times in their profile's time zone, else the working calendar's, named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from escalations.core import fields
from escalations.core.calendar import response_due
from escalations.core.replies import confirmation_update, new_contact_details, reason_request_update, refusal_update
from escalations.core.text import (
    asks_for_escalation,
    own_words,
    reason_for_escalation,
    without_contact_line,
)
from escalations.core.tickets import (
    IGNORED,
    Comment,
    Decision,
    Message,
    Notification,
    PolicySettings,
    TicketSnapshot,
    TicketUpdate,
    iso,
    optional_time,
    owed_notifications,
    owing,
    with_tags,
    without_tags,
)


def is_excluded(ticket: TicketSnapshot, settings: PolicySettings) -> bool:
    """Whether the ticket is kept out of the process: an excluded tag on it, or an excluded brand."""
    return bool(settings.excluded_tags.intersection(ticket.tags)) or (
        ticket.brand_id is not None and ticket.brand_id in settings.excluded_brand_ids
    )


def may_escalate(ticket: TicketSnapshot, author_id: int, settings: PolicySettings) -> bool:
    """The requester may escalate, and end-users copied on the ticket unless switched off."""
    if author_id == settings.service_user_id:
        return False
    author = ticket.people.get(author_id)
    if author is None or author.role != "end-user":
        return False
    if author_id == ticket.requester_id:
        return True
    return settings.allow_copied_end_users and author_id in ticket.copied_ids


def new_comments(ticket: TicketSnapshot, settings: PolicySettings) -> tuple[Comment, ...]:
    """Comments the service has not answered yet, after it was switched on."""
    return tuple(
        comment
        for comment in ticket.comments
        if comment.id > ticket.handled_through
        and comment.id != ticket.first_comment_id
        and (settings.active_since is None or comment.created_at >= settings.active_since)
    )


def escalation_attempts(ticket: TicketSnapshot, settings: PolicySettings) -> tuple[Comment, ...]:
    """New public comments by an allowed end-user that ask for an escalation."""
    return tuple(
        comment
        for comment in new_comments(ticket, settings)
        if comment.public
        and may_escalate(ticket, comment.author_id, settings)
        and asks_for_escalation(comment.body, settings.phrases)
    )


def decide(ticket: TicketSnapshot, settings: PolicySettings, now: datetime) -> Decision:
    """Everything the service does to a ticket, as data: answer the customer, then follow up."""
    if ticket.status == "closed":
        return IGNORED
    answer = _answer_customer(ticket, settings, now)
    follow_up = _follow_up(ticket, settings, now, _tags_after(ticket, answer.updates))
    decision = answer
    if follow_up is not None:
        outcome = answer.outcome if answer.updates else follow_up.purpose
        decision = Decision(outcome, (*answer.updates, follow_up), answer.attempts)
    return _with_claims(decision, ticket, settings, now) if settings.notify_events else decision


def _tags_after(ticket: TicketSnapshot, updates: tuple[TicketUpdate, ...]) -> tuple[str, ...]:
    """The ticket's tags once `updates` are written: each update with tags replaces the whole list."""
    return next((u.tags for u in reversed(updates) if u.tags is not None), ticket.tags)


def _with_claims(decision: Decision, ticket: TicketSnapshot, settings: PolicySettings, now: datetime) -> Decision:
    """Claim every owed notification: each write that removes a mark claims it; marks still left at the
    end are claimed by one more, tags-only write. Marks of events no longer wanted are cleared unsent."""
    updates = list(decision.updates)
    final = _tags_after(ticket, decision.updates)
    if any(tag in final for tag in fields.NOTIFICATION_TAGS):
        updates.append(TicketUpdate("notification_claim", None, tags=without_tags(final, fields.NOTIFICATION_TAGS)))
    tags, escalation = ticket.tags, dict(ticket.escalation)
    claimed: list[TicketUpdate] = []
    for update in updates:
        escalation |= update.fields
        after = update.tags if update.tags is not None else tags
        removed = set(owed_notifications(tags)) - set(owed_notifications(after))
        notifications = tuple(
            _notification(event, ticket, escalation, now)
            for event in fields.NOTIFY_EVENTS
            if event in removed and event in settings.notify_events
        )
        claimed.append(replace(update, claims=notifications) if notifications else update)
        tags = after
    outcome = decision.outcome if decision.updates or not updates else "notification_claimed"
    return Decision(outcome, tuple(claimed), decision.attempts)


def _notification(event: str, ticket: TicketSnapshot, escalation: Mapping[str, Any], now: datetime) -> Notification:
    """The managers' notification of `event`, from the escalation as recorded once the decision is written."""
    customer_id = escalation.get(fields.REQUESTED_BY)
    customer = ticket.people.get(int(customer_id) if customer_id else ticket.requester_id)
    due = optional_time(escalation.get(fields.RESPONSE_DUE))
    acknowledger_id = escalation.get(fields.ACKNOWLEDGED_BY)
    acknowledger = ticket.people.get(int(acknowledger_id)) if acknowledger_id else None
    return Notification(
        event=event,
        ticket_id=ticket.id,
        subject=ticket.subject,
        customer_name=customer.name if customer is not None else f"user {customer_id or ticket.requester_id}",
        reason=str(escalation.get(fields.REASON) or ""),
        response_due=due,
        overdue_by=now - due if event == "overdue" and due is not None and now > due else None,
        acknowledged_by=(acknowledger.name if acknowledger else f"user {acknowledger_id}") if acknowledger_id else "",
    )


def _answer_customer(ticket: TicketSnapshot, settings: PolicySettings, now: datetime) -> Decision:
    """Escalate, refuse a repeat, ask for the reason, take the answer as the reason, or finish a confirmation
    still owed."""

    owed = _owed_confirmation(ticket, settings)
    attempts = escalation_attempts(ticket, settings)
    attempt_ids = tuple(comment.id for comment in attempts)
    if is_excluded(ticket, settings):
        if owed:
            return Decision("confirmation_resent", (owed,))
        return Decision("excluded") if attempts else IGNORED

    if ticket.is_escalated:
        if not attempts:
            return Decision("confirmation_resent", (owed,)) if owed else IGNORED
        handled_through = str(max(attempt_ids))
        refusal = refusal_update(
            ticket, attempts, handled_through, owed.tags if owed and owed.tags else ticket.tags, settings, now
        )
        updates = (owed, refusal) if owed else (refusal,)
        return Decision("refused", updates, attempt_ids)

    waiting = _waiting_for_reason(ticket, settings)
    phrase_only: list[Comment] = []
    for comment in _customer_comments(ticket, settings):
        asks = comment.id in attempt_ids
        if asks and not reason_for_escalation(comment.body, settings.phrases):
            phrase_only.append(comment)
            waiting = comment
        elif asks or _answers(comment, waiting, settings):
            covered = max((comment.id, *attempt_ids))
            record = _escalation_record(ticket, comment, settings, now, str(covered))
            confirmation = confirmation_update(ticket, record.fields, record.tags or (), settings, comment)
            return Decision("escalated", (record, confirmation), attempt_ids)

    if phrase_only:
        handled_through = str(max(comment.id for comment in phrase_only))
        return Decision(
            "reason_requested",
            (reason_request_update(ticket, phrase_only[-1], handled_through, settings),),
            attempt_ids,
        )
    if fields.TAG_REASON_REQUESTED in ticket.tags and (
        waiting is None or now > waiting.created_at + settings.reason_window
    ):
        ended = TicketUpdate("reason_wait_ended", None, tags=without_tags(ticket.tags, (fields.TAG_REASON_REQUESTED,)))
        return Decision("reason_wait_ended", (ended,))
    return IGNORED


def _customer_comments(ticket: TicketSnapshot, settings: PolicySettings) -> tuple[Comment, ...]:
    """New public comments by end-users who may escalate, oldest first."""
    return tuple(
        comment
        for comment in new_comments(ticket, settings)
        if comment.public and may_escalate(ticket, comment.author_id, settings)
    )


def _waiting_for_reason(ticket: TicketSnapshot, settings: PolicySettings) -> Comment | None:
    """The attempt without a reason whose answer the ticket waits for (the newest one answered), if it does."""
    if fields.TAG_REASON_REQUESTED not in ticket.tags:
        return None
    return next((comment for comment in ticket.comments if comment.id == ticket.handled_through), None)


def _answers(comment: Comment, asked: Comment | None, settings: PolicySettings) -> bool:
    """Whether a comment without the phrase is the reason the ticket waits for: by the customer asked,
    within the window, with words of their own (a bare "thanks" is not a reason), and not declining ("this
    is not an escalation request" names the phrase only to say no)."""
    return (
        asked is not None
        and comment.author_id == asked.author_id
        and comment.created_at <= asked.created_at + settings.reason_window
        and settings.phrases.pattern.search(own_words(comment.body)) is None
        and bool(reason_for_escalation(comment.body, settings.phrases))
    )


def staff_replies(ticket: TicketSnapshot, service_user_id: int | None = None) -> tuple[Comment, ...]:
    """The public replies by staff other than the service since a requested escalation was made: one of them
    may be the managers'. None: deciding need not know who the managers are."""
    requested_at = optional_time(ticket.escalation.get(fields.REQUESTED_AT))
    if ticket.escalation.get(fields.STATUS) != fields.status_tag(fields.STATUS_REQUESTED) or requested_at is None:
        return ()
    return tuple(
        comment
        for comment in ticket.comments
        if comment.public
        and comment.created_at >= requested_at
        and comment.author_id != service_user_id
        and (person := ticket.people.get(comment.author_id)) is not None
        and person.role != "end-user"
    )


def manager_reply(ticket: TicketSnapshot, settings: PolicySettings) -> Comment | None:
    """The first public reply by a member of the managers' group since the escalation; never the service's own
    (its user may be in that group: often the admin's)."""
    requested_at = optional_time(ticket.escalation.get(fields.REQUESTED_AT))
    if requested_at is None:
        return None
    return next(
        (
            comment
            for comment in ticket.comments
            if comment.public
            and comment.author_id in settings.manager_ids
            and comment.author_id != settings.service_user_id
            and comment.created_at >= requested_at
        ),
        None,
    )


def _follow_up(
    ticket: TicketSnapshot, settings: PolicySettings, now: datetime, tags: tuple[str, ...]
) -> TicketUpdate | None:
    """Keep an escalation's state true: acknowledged by a manager's reply, overdue, resolved on solve.

    Only an escalation recorded before this decision is followed up; the
    follow-up starts from the tags the earlier updates of the same decision
    leave, because a ticket update replaces the whole tag list.
    """
    status = ticket.escalation.get(fields.STATUS)
    if status not in (fields.status_tag(fields.STATUS_REQUESTED), fields.status_tag(fields.STATUS_ACKNOWLEDGED)):
        return None
    changes: dict[str, Any] = {}
    purpose, message, events = "", None, []
    reply = manager_reply(ticket, settings) if status == fields.status_tag(fields.STATUS_REQUESTED) else None
    if reply is not None:
        status = fields.status_tag(fields.STATUS_ACKNOWLEDGED)
        changes = {
            fields.STATUS: status,
            fields.ACKNOWLEDGED_AT: iso(reply.created_at),
            fields.ACKNOWLEDGED_BY: str(reply.author_id),
        }
        purpose = "acknowledged"
        events.append(purpose)
    if ticket.status == "solved":
        changes |= {fields.STATUS: fields.status_tag(fields.STATUS_RESOLVED), fields.RESOLVED_AT: iso(now)}
        purpose = "resolved"
        events.append(purpose)
    elif status == fields.status_tag(fields.STATUS_REQUESTED) and fields.TAG_OVERDUE not in tags:
        due = optional_time(ticket.escalation.get(fields.RESPONSE_DUE))
        if due is not None and now >= due:
            purpose = "overdue"
            events.append(purpose)
            message = Message(
                "overdue_note",
                public=False,
                context={
                    "ticket_id": ticket.id,
                    "response_due": due,
                    "overdue_by": now - due,
                    "brand": settings.brand_name(ticket),
                },
                timezone=settings.calendar.timezone.key,
            )
    if not purpose:
        return None
    new_status = changes.get(fields.STATUS, status)
    status_tags = tuple(fields.status_tag(name) for name in fields.STATUSES)
    new_tags = with_tags(without_tags(tags, status_tags), (new_status,))  # a drop-down's value is its tag
    if purpose == "overdue":
        new_tags = with_tags(new_tags, (fields.TAG_OVERDUE,))
    return TicketUpdate(purpose, message, tags=owing(new_tags, tuple(events), settings), fields=changes)


def _escalation_record(
    ticket: TicketSnapshot,
    attempt: Comment,
    settings: PolicySettings,
    now: datetime,
    handled_through: str,
) -> TicketUpdate:
    """The escalation written to the ticket, with the managers' internal note; `attempt` gives the reason."""
    requested_at = now.astimezone(UTC)
    due = response_due(requested_at, settings.calendar)
    customer = ticket.people[attempt.author_id]
    requester = ticket.people.get(ticket.requester_id)
    reason = reason_for_escalation(attempt.body, settings.phrases)
    recorded = {
        fields.STATUS: fields.status_tag(fields.STATUS_REQUESTED),
        fields.REASON: reason,
        fields.REQUESTED_AT: iso(requested_at),
        fields.REQUESTED_BY: str(customer.id),
        fields.RESPONSE_DUE: iso(due),
        fields.HANDLED_THROUGH: handled_through,
    }
    tags = with_tags(
        without_tags(
            ticket.tags, (*(fields.status_tag(status) for status in fields.STATUSES), fields.TAG_REASON_REQUESTED)
        ),
        (fields.TAG_ESCALATED, fields.status_tag(fields.STATUS_REQUESTED), fields.TAG_CONFIRMATION_PENDING),
    )
    tags = owing(tags, ("escalated",), settings)
    previous_assignee = ticket.people.get(ticket.assignee_id) if ticket.assignee_id else None
    note = Message(
        "manager_note",
        public=False,
        context={
            "customer_name": customer.name,
            "customer_email": customer.email or "",
            "customer_phone": customer.phone or "",
            "customer_is_requester": customer.id == ticket.requester_id,
            "requester_name": requester.name if requester else "",
            "requester_email": (requester.email or "") if requester else "",
            "requester_phone": (requester.phone or "") if requester else "",
            "requested_at": requested_at,
            "reason": without_contact_line(reason),
            "response_due": due,
            "previous_group_id": ticket.group_id,
            "previous_group_name": ticket.group_names.get(ticket.group_id, "") if ticket.group_id else "",
            "previous_assignee_name": previous_assignee.name if previous_assignee else "",
            "previous_assignee_id": ticket.assignee_id,
            "new_contact_details": new_contact_details(ticket, attempt),
            "timezone": settings.calendar.timezone.key,
            "brand": settings.brand_name(ticket),
        },
        timezone=settings.calendar.timezone.key,
    )
    return TicketUpdate(
        "escalation_record",
        note,
        tags=tags,
        fields=recorded,
        group_id=settings.managers_group_id(ticket),
        clear_assignee=True,
    )


def _owed_confirmation(ticket: TicketSnapshot, settings: PolicySettings) -> TicketUpdate | None:
    """The confirmation still owed when a previous run stopped after recording the escalation."""
    if fields.TAG_CONFIRMATION_PENDING not in ticket.tags or not ticket.is_escalated:
        return None
    return confirmation_update(ticket, ticket.escalation, ticket.tags, settings, _escalating_comment(ticket, settings))


def _escalating_comment(ticket: TicketSnapshot, settings: PolicySettings) -> Comment | None:
    """The comment whose reason the escalation recorded, when it is among the comments read."""
    author = str(ticket.escalation.get(fields.REQUESTED_BY) or "")
    reason = ticket.escalation.get(fields.REASON)
    return next(
        (
            comment
            for comment in reversed(ticket.comments)
            if comment.id <= ticket.handled_through
            and str(comment.author_id) == author
            and reason_for_escalation(comment.body, settings.phrases) == reason
        ),
        None,
    )
