"""`escalations demo`: a scripted tour of the service against the local sandbox, no browser needed.

The sandbox Zendesk runs in this process; the service runs exactly as an admin
runs it (`escalations setup`, then `escalations serve`) as child processes in a
fresh temporary directory, so nothing from the user's `.env` or `var/` is used.
A customer then comments three times and the tour shows what Zendesk records.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from escalations.admin.local_service import CommandFailed, LocalService, free_port, service_environment
from escalations.core.fields import TAG_CONFIRMATION_PENDING
from escalations.sandbox import SandboxServer, SandboxZendesk

TICKET_ID = 1
STEP_TIMEOUT = 20.0
QUIET_SECONDS = 0.4
WIDTH = 92
REASON = "Our invoice exports have failed every night since Monday and month-end closing is blocked."
Record = dict[str, Any]


class DemoError(Exception):
    """A step of the tour did not happen; the message says which."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tour; 0 when every step happened, 1 when one did not, 130 on Ctrl-C."""
    del argv  # the tour takes no options
    started = time.monotonic()
    restore_sigterm = _stop_on_sigterm()
    try:
        with tempfile.TemporaryDirectory(prefix="escalations-demo-") as workdir, _sandbox() as (zendesk, url):
            tour = Tour(zendesk, url, Path(workdir))
            try:
                tour.run()
            finally:
                tour.stop_service()
    except DemoError as error:
        print(f"\nThe demo stopped: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted; the service and the sandbox have been stopped.", flush=True)
        return 130
    finally:
        restore_sigterm()
    print(f"Done in {time.monotonic() - started:.1f} s.", flush=True)
    return 0


def _stop_on_sigterm() -> Callable[[], object]:
    """Treat SIGTERM like Ctrl-C, so the service is stopped too; returns what restores the old handler."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@contextlib.contextmanager
def _sandbox() -> Iterator[tuple[SandboxZendesk, str]]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the sandbox's request log is not the tour
    zendesk = SandboxZendesk()
    server = SandboxServer(zendesk, port=0).start()
    try:
        yield zendesk, server.url
    finally:
        server.stop()


def say(text: str = "") -> None:
    """One line of the tour, shown immediately."""
    print(text, flush=True)


def quoted(text: str, lines: int, indent: str = "    │ ") -> None:
    """The first `lines` lines of `text` after its greeting, wrapped and set off as a quotation."""
    paragraphs = text.strip().splitlines()
    if paragraphs and paragraphs[0].endswith(",") and len(paragraphs[0]) <= 20:
        paragraphs = paragraphs[1:]  # "Hello," says nothing
    shown: list[str] = []
    for paragraph in paragraphs:
        shown.extend(textwrap.wrap(paragraph, WIDTH - len(indent)))  # blank lines are left out
    for line in shown[:lines]:
        say(f"{indent}{line}".rstrip())
    if len(shown) > lines:
        say(f"{indent}…")


class Tour:
    """The service's processes and the three steps, against one sandbox account."""

    def __init__(self, zendesk: SandboxZendesk, sandbox_url: str, workdir: Path) -> None:
        self.zendesk = zendesk
        self.sandbox_url = sandbox_url
        port = free_port()
        env = service_environment(
            zendesk_url=sandbox_url,
            email=zendesk.email,
            api_token=zendesk.api_token,
            port=port,
            data_dir=workdir / "var",
            LOG_LEVEL="INFO",  # the service's log goes to a file, shown when a step fails
        )
        self.service = LocalService(env, port, workdir)
        self.api_calls: list[tuple[str, int]] = []

    # -- the tour ---------------------------------------------------------------------

    def run(self) -> None:
        """Start everything, then the three steps and the summary."""
        say("Escalation Requests for Zendesk: a guided tour")
        say("Everything runs on this machine against a local sandbox that behaves like Zendesk.")
        say()
        say(f"1. The sandbox Zendesk is up at {self.sandbox_url}")
        self.setup()
        self.start_service()
        ticket = self.zendesk.ticket(TICKET_ID)
        customer = self.zendesk.user(ticket["requester_id"])
        say()
        say(f'Ticket #{ticket["id"]} "{ticket["subject"]}"')
        say(
            f"  requester {customer['name']} <{customer['email']}>, group {self.group_name(ticket['group_id'])}, "
            f"assignee {self.user_name(ticket['assignee_id'])}"
        )
        self.ask_without_reason(customer)
        recorded = self.escalate(customer)
        self.try_again(customer, recorded)
        say()
        counts = ", ".join(f"{count} in {label}" for label, count in self.api_calls)
        say(f"Zendesk API calls the service made: {counts} (its start-up sweep not counted).")

    def ask_without_reason(self, customer: Record) -> None:
        """Step 1: the words alone get a request for the reason, and nothing is used up."""
        say()
        say(f"Step 1 · {customer['name'].split()[0]} writes the words, but no reason")
        self.comment(customer, "Escalation request")
        self.wait(lambda: self.settled(emails=1), "the reply asking for the reason")
        say(f"  The service replies on the ticket (emailed to {self.emails()[-1]['to'][0]}):")
        quoted(self.emails()[-1]["body"], lines=3)
        if "escalated" in self.zendesk.ticket(TICKET_ID)["tags"]:
            raise DemoError("the ticket was escalated without a reason")
        say("  Not escalated yet, and the escalation is not used up: the customer can still give the reason.")

    def escalate(self, customer: Record) -> Record:
        """Step 2: the reason, given in reply without the words, is the reason: the escalation is recorded, handed
        over and confirmed; the ticket after."""
        say()
        say(f"Step 2 · {customer['name'].split()[0]} answers with the reason, without the words")
        before = self.zendesk.ticket(TICKET_ID)
        self.comment(customer, REASON)
        self.wait(
            lambda: self.settled(emails=2) and "escalated" in self.zendesk.ticket(TICKET_ID)["tags"],
            "the escalation and its confirmation",
        )
        after = self.zendesk.ticket(TICKET_ID)
        say(f"  Tags added:  {', '.join(tag for tag in after['tags'] if tag not in before['tags'])}")
        say(f"  Group:       {self.group_name(before['group_id'])} → {self.group_name(after['group_id'])}")
        say(f"  Assignee:    {self.user_name(before['assignee_id'])} → {self.user_name(after['assignee_id'])}")
        say("  Fields:")
        for title, value in self.escalation_fields(after).items():
            label = f"    {title + ':':<36} "
            lines = textwrap.wrap(self.shown(title, value), WIDTH - len(label)) or [""]
            say(label + lines[0])
            for line in lines[1:]:
                say(" " * len(label) + line)
        say(f"  Confirmation emailed to {', '.join(self.emails()[-1]['to'])}:")
        quoted(self.emails()[-1]["body"], lines=3)
        say("  Internal note for the Support Managers:")
        quoted(self.internal_notes()[-1]["body"], lines=3)
        return after

    def try_again(self, customer: Record, recorded: Record) -> None:
        """Step 3: a repeat gets a polite refusal and a tag; the recorded escalation stays as it was."""
        say()
        say(f"Step 3 · {customer['name'].split()[0]} tries to escalate again")
        self.comment(customer, "Escalation request: still nothing, please escalate this again.")
        self.wait(
            lambda: self.settled(emails=3) and "escalation_blocked" in self.zendesk.ticket(TICKET_ID)["tags"],
            "the polite refusal",
        )
        again = self.zendesk.ticket(TICKET_ID)
        say(f"  The service replies (emailed to {self.emails()[-1]['to'][0]}):")
        quoted(self.emails()[-1]["body"], lines=3)
        say(f"  Tags added:  {', '.join(tag for tag in again['tags'] if tag not in recorded['tags'])}")
        values_before, values_after = self.escalation_fields(recorded), self.escalation_fields(again)
        refused = next((v for t, v in values_after.items() if t.endswith("refused repeats")), None)
        say(f"  Refused repeats counted: {refused}")
        unchanged = again["group_id"] == recorded["group_id"] and all(
            values_after.get(title) == value for title, value in values_before.items() if not self.bookkeeping(title)
        )
        say(
            f"  Group still {self.group_name(again['group_id'])}; the recorded escalation is "
            f"{'unchanged' if unchanged else 'CHANGED (unexpected)'}; no second internal note "
            f"({len(self.internal_notes())} in all)."
        )

    # -- the service --------------------------------------------------------------------

    def setup(self) -> None:
        try:
            result = self.service.run("setup")
        except CommandFailed as error:
            raise DemoError(f"`escalations setup` {error}") from None
        created = [line.split(None, 1)[1] for line in result.stdout.splitlines() if line.startswith("created")]
        say(f"2. `escalations setup` provisioned it: {len(created)} objects created")
        kinds: dict[str, int] = {}
        for line in created:
            kind = line.split(":", 1)[0]
            kinds[kind] = kinds.get(kind, 0) + 1
        say("   (" + ", ".join(f"{count} {kind}{'s' if count > 1 else ''}" for kind, count in kinds.items()) + ")")

    def start_service(self) -> None:
        self.service.serve("--workers", "1")
        self.wait(self.swept, "the service to start and run its catch-up sweep")
        self.wait(self.quiet, "the service's start-up calls to finish")
        say(f"3. `escalations serve` is answering webhooks at {self.service.url}/webhooks/zendesk")

    def stop_service(self) -> None:
        """SIGTERM, as a process manager stops it."""
        if self.service.processes:
            self.service.stop(signal.SIGTERM, timeout=25)
            say("The service has stopped.")

    def swept(self) -> bool:
        return any("/incremental/" in entry["path"] for entry in self.zendesk.requests_log())

    def quiet(self) -> bool:
        """No API call for a moment: the service has finished what it was doing."""
        count = len(self.zendesk.requests_log())
        time.sleep(QUIET_SECONDS)
        return len(self.zendesk.requests_log()) == count

    def wait(self, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            if any(process.poll() is not None for process in self.service.processes):
                raise DemoError(f"the service stopped by itself (while waiting for {what}).\n{self.service_tail()}")
            if check():
                return
            time.sleep(0.1)
        raise DemoError(f"timed out after {STEP_TIMEOUT:.0f} s waiting for {what}.\n{self.service_tail()}")

    def service_tail(self, lines: int = 15) -> str:
        tail = self.service.logs().splitlines()[-lines:]
        return "Last lines of the service's log:\n" + "\n".join(f"  {line}" for line in tail)

    # -- the sandbox, read ---------------------------------------------------------------

    def comment(self, author: Record, body: str) -> None:
        """Comment as the customer; count the service's API calls for the step once it settles."""
        wrapped = textwrap.wrap(f'{author["name"]} comments: "{body}"', WIDTH - 2, subsequent_indent="  ")
        for line in wrapped:
            say(f"  {line}")
        self.zendesk.reset_requests_log()
        self.api_calls.append((f"step {len(self.api_calls) + 1}", 0))
        self.zendesk.add_comment(TICKET_ID, author_id=author["id"], body=body)

    def settled(self, *, emails: int) -> bool:
        """The ticket has had `emails` replies, owes nothing more, and the service has gone quiet."""
        ticket = self.zendesk.ticket(TICKET_ID)
        if len(self.emails()) < emails or TAG_CONFIRMATION_PENDING in ticket["tags"] or not self.quiet():
            return False
        calls = [entry for entry in self.zendesk.requests_log() if entry["path"].startswith("/api/v2/")]
        label, _ = self.api_calls[-1]
        self.api_calls[-1] = (label, len(calls))
        return True

    def emails(self) -> list[Record]:
        return [email for email in self.zendesk.emails() if email["ticket_id"] == TICKET_ID]

    def internal_notes(self) -> list[Record]:
        return [c for c in self.zendesk.comments(TICKET_ID) if not c["public"]]

    def group_name(self, group_id: int | None) -> str:
        return next((g["name"] for g in self.zendesk.groups() if g["id"] == group_id), "none")

    def user_name(self, user_id: int | None) -> str:
        return self.zendesk.user(user_id)["name"] if user_id else "none"

    def escalation_fields(self, ticket: Record) -> dict[str, Any]:
        """The ticket's "Escalation …" fields that have a value, by title."""
        titles = {f["id"]: f for f in self.zendesk.ticket_fields() if f["title"].startswith("Escalation")}
        values: dict[str, Any] = {}
        for item in ticket["custom_fields"]:
            field = titles.get(item["id"])
            if field is None or item["value"] in (None, ""):
                continue
            options = {o["value"]: o["name"] for o in field.get("custom_field_options") or []}
            values[field["title"]] = options.get(item["value"], item["value"])
        return values

    def shown(self, title: str, value: Any) -> str:
        if title.endswith("requested by") and isinstance(value, int | str) and str(value).isdigit():
            return f"{value} ({self.user_name(int(value))})"
        return str(value)

    @staticmethod
    def bookkeeping(title: str) -> bool:
        """Fields a refusal is expected to update."""
        return title.endswith(("refused repeats", "handled through comment"))
