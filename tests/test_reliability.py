"""Nothing lost, nothing twice: real processes, real faults, real Redis.

Each test runs `escalations serve` against the sandbox Zendesk, breaks
something (Zendesk answers 5xx or 429, a ticket cannot be written, the service
is stopped mid-job, two instances share the work) and then checks that every
escalation was applied exactly once.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import replace

import redis

from tests.conftest import Service, free_port, wait_until
from tests.test_end_to_end import (
    ALICE,
    BOB,
    CARMEN,
    api_calls,
    emails_for,
    field_values,
    internal_notes,
    settled,
    zendesk_busy,
)


def test_zendesk_down_for_a_few_seconds_then_back_applies_the_escalation_once(service: Service) -> None:
    zendesk = service.zendesk
    zendesk.inject_fault(status=503, seconds=3, retry_after=None)
    zendesk.add_comment(1, author_id=ALICE, body="Escalation request: charged twice for March.")
    wait_until(lambda: settled(service, 1, 1), timeout=40, what="the confirmation once Zendesk is back")
    assert len(emails_for(zendesk, 1)) == 1 and len(internal_notes(zendesk, 1)) == 1
    assert any(entry["status"] == 503 for entry in zendesk.requests_log())


def test_rate_limited_answers_are_waited_out_as_retry_after_says(service: Service) -> None:
    zendesk = service.zendesk
    zendesk.inject_fault(status=429, count=2, retry_after=1, path_regex=r"/tickets/2")
    zendesk.add_comment(2, author_id=BOB, body="Escalation request: locked out for a week.")
    wait_until(lambda: settled(service, 2, 1), timeout=20, what="the confirmation after the 429s")
    statuses = [entry["status"] for entry in zendesk.requests_log() if "/tickets/2" in entry["path"]]
    assert statuses.count(429) == 2
    assert len(emails_for(zendesk, 2)) == 1 and len(internal_notes(zendesk, 2)) == 1


def test_a_429_on_the_sweeps_export_holds_back_only_the_sweep_and_five_escalations_go_through(
    service_env: Service,
) -> None:
    service_env.run("setup")
    zendesk = service_env.zendesk
    service_env.start(ESCALATIONS_RECONCILE_SECONDS="1")
    # Zendesk's incremental exports have their own limit (10 a minute) and answer 429 with their own Retry-After.
    zendesk.inject_fault(status=429, count=1, path_regex=r"/incremental/", retry_after=30)
    try:
        wait_until(lambda: any(e["status"] == 429 for e in zendesk.requests_log()), what="the export's 429")
        for ticket_id in range(1, 6):
            requester = zendesk.ticket(ticket_id)["requester_id"]
            zendesk.add_comment(ticket_id, author_id=requester, body="Escalation request: nothing works since Monday.")
        wait_until(lambda: all(settled(service_env, t, 1) for t in range(1, 6)), timeout=20, what="all five")
        for ticket_id in range(1, 6):
            assert len(emails_for(zendesk, ticket_id)) == 1 and len(internal_notes(zendesk, ticket_id)) == 1
    finally:
        service_env.stop(signal.SIGKILL)  # the sweep sits out its 30 s; nothing in flight needs to finish


def test_a_ticket_that_cannot_be_written_is_parked_and_the_others_flow(service_env: Service) -> None:
    service_env.env["ESCALATIONS_RECONCILE_SECONDS"] = "2"
    service_env.run("setup")
    service_env.start()
    zendesk = service_env.zendesk
    try:
        zendesk.inject_fault(status=422, seconds=60, method="PUT", path_regex=r"/tickets/1\.json", retry_after=None)
        zendesk.add_comment(1, author_id=ALICE, body="Escalation request: charged twice.")
        zendesk.add_comment(3, author_id=CARMEN, body="Escalation request: exports time out.")
        wait_until(lambda: settled(service_env, 3, 1), what="the healthy ticket's confirmation")
        wait_until(lambda: service_env.queue_status()["parked"], what="the ticket to be parked")
        doctor = service_env.run("doctor", check=False)
        assert doctor.returncode == 1 and "ticket 1 parked" in doctor.stdout and "422" in doctor.stdout
        assert emails_for(zendesk, 1) == []

        zendesk.clear_faults()  # the admin fixes whatever blocked the ticket; the next sweep retries it
        wait_until(lambda: settled(service_env, 1, 1), timeout=20, what="the sweep to retry the parked ticket")
        wait_until(lambda: not service_env.queue_status()["parked"], what="the ticket released")
        assert len(emails_for(zendesk, 1)) == 1 and len(internal_notes(zendesk, 1)) == 1
    finally:
        service_env.stop()


def test_sigterm_lets_the_job_in_flight_finish(service_env: Service) -> None:
    service_env.run("setup")
    service_env.start()
    zendesk = service_env.zendesk
    zendesk.latency = 0.4  # four calls: the job takes well over a second
    zendesk.add_comment(2, author_id=BOB, body="Escalation request: locked out for a week.")
    wait_until(lambda: any("/tickets/2.json" in e["path"] for e in zendesk.requests_log()), what="the job to start")
    service_env.stop(signal.SIGTERM)
    assert settled(service_env, 2, 1), service_env.logs()[-3000:]
    assert len(emails_for(zendesk, 2)) == 1 and len(internal_notes(zendesk, 2)) == 1


def queue_empty(service: Service) -> bool:
    return service.idle()


LEASE_SECONDS = "2"  # short leases: what a killed worker held comes back within seconds
RECOVERY_SECONDS = 10.0  # after a restart, what a crash left unfinished is applied within this, either backend
RECOVERED = "job(s) taken by a worker that stopped are back on the queue"


def test_a_service_killed_mid_job_gets_the_job_back_from_the_queue_after_restart(
    service_env: Service, queue_env: dict[str, str]
) -> None:
    service_env.env.update(queue_env)
    service_env.env["ESCALATIONS_LEASE_SECONDS"] = LEASE_SECONDS
    service_env.run("setup")
    zendesk = service_env.zendesk
    process = service_env.start(ESCALATIONS_RECONCILE_SECONDS="1")
    # From here to the end the sweep hangs on Zendesk's export (holding the sweep lock when the service dies):
    # whatever is applied after the restart comes back from the queue, never from the sweep.
    zendesk.inject_fault(status="hang", path_regex=r"/incremental/")
    zendesk.reset_requests_log()
    wait_until(lambda: any("/search" in entry["path"] for entry in zendesk.requests_log()), what="the next sweep")
    zendesk.latency = 0.5
    zendesk.add_comment(2, author_id=BOB, body="Escalation request: locked out for a week.")
    zendesk.wait_for_deliveries()
    assert zendesk.deliveries()[0]["final_status"] == 202
    wait_until(lambda: "GET /api/v2/tickets/2.json" in api_calls(zendesk, 2), what="the job to read the ticket")
    service_env.stop(signal.SIGKILL)
    assert process.poll() is not None
    assert emails_for(zendesk, 2) == [] and RECOVERED not in service_env.logs()
    zendesk.latency = 0
    restarted, logged_before = time.monotonic(), len(service_env.logs())
    service_env.serve("--workers", "1")
    try:
        wait_until(lambda: settled(service_env, 2, 1), timeout=RECOVERY_SECONDS * 3, what="the confirmation")
        recovered_after = time.monotonic() - restarted
        print(f"recovered {recovered_after:.1f} s after the restart ({'redis' if queue_env else 'sqlite'})")
        assert recovered_after <= RECOVERY_SECONDS
        since_restart = service_env.logs()[logged_before:]
        assert RECOVERED in since_restart  # the job came back from the queue
        assert "sweep done" not in since_restart  # and no sweep got through meanwhile
        zendesk.clear_faults()  # the sweeps go on now, and find nothing left to do
        wait_until(lambda: queue_empty(service_env), what="the queue to drain")
        assert len(emails_for(zendesk, 2)) == 1
        assert len(internal_notes(zendesk, 2)) == 1
    finally:
        zendesk.clear_faults()
        service_env.stop()


def test_two_instances_sharing_redis_apply_fifty_escalations_exactly_once(service_env: Service, redis_url: str) -> None:
    zendesk = service_env.zendesk
    customers = [ALICE, BOB, CARMEN]
    tickets = [
        zendesk.create_ticket(requester_id=customers[n % 3], subject=f"Order {n} stuck", description="Help please")[
            "id"
        ]
        for n in range(50)
    ]
    service_env.env["REDIS_URL"] = redis_url
    # 100 updates in all: with the account's default 100 a minute, shared by both instances, the last fifth
    # would wait for the next minute; an account with the High Volume add-on has 300.
    service_env.env["ZENDESK_TICKET_UPDATES_PER_MINUTE"] = "300"
    service_env.run("setup")
    first = service_env
    # Another machine in production: here, another webhook port and metrics port on this one.
    second = replace(
        service_env, port=free_port(), processes=[], env={**service_env.env, "METRICS_PORT": str(free_port())}
    )
    try:
        first.start()
        second.start()
        # Both workers take their jobs from the one Redis queue; nothing is queued in the data directory.
        shared = redis.Redis.from_url(redis_url)
        assert shared.scard("huey.consumers.escalations") == 2
        assert not (service_env.data_dir / "queue.sqlite3").exists()
        threads = [
            threading.Thread(
                target=zendesk.add_comment,
                args=(ticket_id,),
                kwargs={
                    "author_id": zendesk.ticket(ticket_id)["requester_id"],
                    "body": f"Escalation request: order {ticket_id} is blocking our shipments.",
                },
            )
            for ticket_id in tickets
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        zendesk.wait_for_deliveries(timeout=30)
        # Every delivery goes to the first instance's web front; replay each to the second one as well,
        # so both fronts take webhooks and every escalation arrives twice.
        for delivery in zendesk.deliveries():
            _replay(second, delivery)
        wait_until(lambda: all(settled(service_env, t, 1) for t in tickets), timeout=90, what="all fifty")
        wait_until(lambda: not zendesk_busy(service_env), timeout=30, what="the queue to drain")
        for ticket_id in tickets:
            assert len(emails_for(zendesk, ticket_id)) == 1, ticket_id
            assert len(internal_notes(zendesk, ticket_id)) == 1, ticket_id
            assert field_values(service_env, ticket_id)["status"] == "escalation_status_requested"
        escalated = [line for line in service_env.logs().splitlines() if ": escalated (2 writes)" in line]
        assert len(escalated) == 50
    finally:
        second.stop()
        first.stop()


def _replay(service: Service, delivery: dict[str, object]) -> None:
    response = service.deliver(str(delivery["body"]).encode())
    assert response.status_code in (200, 202)  # 200: a change by the service itself, not queued
