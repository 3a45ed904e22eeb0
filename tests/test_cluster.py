"""Many hosts, one service: two `escalations serve` sharing one real redis-server behind a round-robin proxy.

Both hosts have the same settings and REDIS_URL, each its own data directory
(the second one empty); Zendesk's webhook points at the proxy, which hands
each delivery to the next host. `setup` runs once, on the first host, and
stores the account state in Redis. Leases are 2 s (ESCALATIONS_LEASE_SECONDS)
so that what a killed host held comes back within seconds.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import redis
import requests

from escalations.sandbox import SandboxServer, SandboxZendesk
from tests.cluster import RoundRobinProxy
from tests.conftest import Service, free_port, metrics_page_with, wait_until
from tests.support.local_service import service_environment
from tests.test_end_to_end import ALICE, BOB, CARMEN, emails_for, internal_notes, settled

RECOVERED = "job(s) taken by a worker that stopped are back on the queue"


@dataclass
class Cluster:
    zendesk: SandboxZendesk
    proxy: RoundRobinProxy
    hosts: list[Service]
    redis_url: str

    def start(self) -> None:
        for host in self.hosts:
            host.start()

    def escalate(self, count: int) -> list[int]:
        """`count` new tickets, each escalated by its requester in a comment; their ids."""
        customers = [ALICE, BOB, CARMEN]
        tickets = []
        for n in range(count):
            requester = customers[n % len(customers)]
            ticket = self.zendesk.create_ticket(requester_id=requester, subject=f"Order {n} stuck", description="Help")
            tickets.append(int(ticket["id"]))
        threads = [
            threading.Thread(
                target=self.zendesk.add_comment,
                args=(ticket_id,),
                kwargs={"author_id": self.zendesk.ticket(ticket_id)["requester_id"], "body": escalation(ticket_id)},
            )
            for ticket_id in tickets
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return tickets

    def host_of_consumer(self, consumer: str) -> Service:
        """The host whose worker takes jobs as `consumer` (it says so in its log when it starts)."""
        return next(host for host in self.hosts if f"taking jobs as consumer {consumer}" in host.logs())

    def holder_of(self, ticket_id: int) -> str | None:
        """The consumer holding the job of `ticket_id`, read from the shared queue in Redis."""
        shared = redis.Redis.from_url(self.redis_url)
        for raw in shared.smembers("huey.consumers.escalations"):
            consumer = raw.decode()
            for data in shared.lrange(f"huey.processing.escalations.{consumer}", 0, -1):
                job = json.loads(data)["$job"]
                if job["name"] == "plugin.queue.process_ticket" and job["args"][0] == ticket_id:
                    return consumer
        return None


def escalation(ticket_id: int) -> str:
    return f"Escalation request: order {ticket_id} is blocking our shipments."


@pytest.fixture
def cluster(zendesk: tuple[SandboxZendesk, SandboxServer], redis_url: str, tmp_path: Path) -> Iterator[Cluster]:
    account, server = zendesk
    ports = [free_port(), free_port()]
    proxy = RoundRobinProxy(ports).start()
    hosts = []
    for number, port in enumerate(ports, start=1):
        workdir = tmp_path / f"host-{number}"
        workdir.mkdir()
        env = service_environment(
            zendesk_url=server.url,
            email=account.email,
            api_token=account.api_token,
            port=port,
            data_dir=workdir / "var",
            REDIS_URL=redis_url,
            ESCALATIONS_RECONCILE_SECONDS="3600",
            ESCALATIONS_LEASE_SECONDS="2",
            LOG_LEVEL="INFO",
        )
        env["PUBLIC_URL"] = proxy.url  # where Zendesk's webhook calls: the load balancer
        hosts.append(Service(env, port, workdir, zendesk=account))
    hosts[0].run("setup")
    try:
        yield Cluster(account, proxy, hosts, redis_url)
    finally:
        for host in hosts:
            host.stop()
        proxy.stop()


def test_a_second_host_with_an_empty_data_directory_serves_at_once(cluster: Cluster) -> None:
    first, second = cluster.hosts
    assert not (first.data_dir / "state.json").exists()  # setup stored the account state in Redis
    first.start()
    began = time.monotonic()
    second.start()  # no file copied, no setup run there
    print(f"the second host answered and swept {time.monotonic() - began:.1f} s after it was started")
    zendesk = cluster.zendesk
    zendesk.add_comment(1, author_id=ALICE, body=escalation(1), deliver_webhooks=False)
    body = json.dumps({"ticket_id": "1", "actor_id": str(ALICE)}).encode()
    assert second.deliver(body).status_code == 202
    wait_until(lambda: settled(second, 1, 1), what="the escalation delivered to the second host")
    assert len(emails_for(zendesk, 1)) == 1 and len(internal_notes(zendesk, 1)) == 1
    assert not (second.data_dir / "state.json").exists()
    # The host that swept last, as both read it from the shared queue, and as /metrics names it.
    (swept_by,) = {host.queue_status()["sweep"]["host"] for host in (first, second)}
    assert re.fullmatch(r".+ \(pid \d+\)", swept_by)
    metrics_page_with(f"{second.metrics_url}/metrics", f'escalations_sweep_last_host_info{{host="{swept_by}"}} 1.0')


def test_a_host_that_finds_the_shared_state_gone_rebuilds_it_by_reading_the_account_only(cluster: Cluster) -> None:
    first, second = cluster.hosts
    stored = first.account_state()
    redis.Redis.from_url(cluster.redis_url).delete("escalations.account")  # a Redis without persistence restarted
    cluster.zendesk.reset_requests_log()
    second.serve("--workers", "1")
    wait_until(second.healthy, timeout=20, what="the second host to serve")
    assert second.account_state() == stored
    assert {entry["method"] for entry in cluster.zendesk.requests_log()} == {"GET"}  # nothing written in Zendesk
    assert "rebuilding the account state from Zendesk (reading only)" in second.logs()


def test_a_host_that_cannot_rebuild_the_shared_state_says_in_one_line_to_run_setup(cluster: Cluster) -> None:
    first, _ = cluster.hosts
    webhook_id = first.account_state().webhook_id
    redis.Redis.from_url(cluster.redis_url).delete("escalations.account")
    cluster.zendesk.delete_webhook(webhook_id)
    result = first.run("serve", "--port", str(first.port), check=False, timeout=30)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "rebuilding the account state from Zendesk (reading only)" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"escalations: the webhook '{cluster.proxy.url}/webhooks/zendesk' is missing in Zendesk: "
        "run 'escalations setup'"
    )


def test_ten_escalations_at_once_each_delivered_to_both_hosts_are_applied_once(cluster: Cluster) -> None:
    cluster.start()
    zendesk = cluster.zendesk
    tickets = cluster.escalate(10)
    zendesk.wait_for_deliveries(timeout=30)
    first, second = cluster.hosts
    # The proxy gave each delivery to one host; each is delivered again, as it was, to the other.
    escalations = [d for d in zendesk.deliveries() if int(json.loads(d["body"])["ticket_id"]) in tickets]
    for delivery in escalations:
        took_it = first if f"invocation={delivery['invocation_id']}" in first.logs() else second
        other = second if took_it is first else first
        assert other.deliver(str(delivery["body"]).encode()).status_code in (200, 202)
    took = {
        host.port for host in (first, second) for d in escalations if f"invocation={d['invocation_id']}" in host.logs()
    }
    assert len(took) == 2  # both hosts took deliveries from Zendesk
    wait_until(lambda: all(settled(first, t, 1) for t in tickets), timeout=60, what="all ten")
    wait_until(first.idle, timeout=30, what="the shared queue to drain")
    for ticket_id in tickets:
        assert len(emails_for(zendesk, ticket_id)) == 1, ticket_id
        assert len(internal_notes(zendesk, ticket_id)) == 1, ticket_id


def test_when_a_host_is_killed_the_other_applies_new_escalations_and_what_the_dead_one_had_taken(
    cluster: Cluster,
) -> None:
    cluster.start()
    zendesk = cluster.zendesk
    zendesk.inject_fault(status="hang", method="GET", path_regex=r"/tickets/1/comments")  # the job stops half way
    zendesk.add_comment(1, author_id=ALICE, body=escalation(1))
    consumer = wait_until(lambda: cluster.holder_of(1), what="a worker to take ticket 1's job")
    dead = cluster.host_of_consumer(consumer)
    survivor = next(host for host in cluster.hosts if host is not dead)
    dead.stop(signal.SIGKILL)
    zendesk.clear_faults()
    zendesk.add_comment(2, author_id=BOB, body=escalation(2))  # the proxy finds only the survivor now
    zendesk.add_comment(3, author_id=CARMEN, body=escalation(3))
    wait_until(lambda: all(settled(survivor, t, 1) for t in (1, 2, 3)), timeout=30, what="all three")
    assert RECOVERED in survivor.logs()  # ticket 1 came back from the dead host's hands
    wait_until(survivor.idle, what="the shared queue to drain")
    zendesk.wait_for_deliveries()  # those the service's own replies caused, answered before they are read
    for ticket_id in (1, 2, 3):
        assert len(emails_for(zendesk, ticket_id)) == 1 and len(internal_notes(zendesk, ticket_id)) == 1
    assert all(d["final_status"] in (200, 202) for d in zendesk.deliveries())


def test_rotating_the_secret_while_deliveries_flow_refuses_none_that_zendesk_signed_and_every_forged_one(
    cluster: Cluster,
) -> None:
    cluster.start()
    zendesk = cluster.zendesk
    first, second = cluster.hosts
    before = first.account_state().signing_secret
    rotated = threading.Event()
    commented: list[int] = []
    forged: list[int] = []

    def customers_and_a_forger() -> None:
        """Escalations one after the other until five after the rotation, each followed by a forged delivery."""
        after = 0
        while after < 5 and len(commented) < 200:
            after += rotated.is_set()
            ticket_id = int(zendesk.create_ticket(requester_id=ALICE, subject="Case", description="Help")["id"])
            zendesk.add_comment(ticket_id, author_id=ALICE, body=escalation(ticket_id))
            commented.append(ticket_id)
            body = json.dumps({"ticket_id": str(ticket_id), "actor_id": str(ALICE)}).encode()
            headers = first.webhook_headers(body, secret="not-the-signing-secret")
            forged.append(
                requests.post(f"{cluster.proxy.url}/webhooks/zendesk", data=body, headers=headers).status_code
            )

    flow = threading.Thread(target=customers_and_a_forger)
    flow.start()
    wait_until(lambda: len(commented) >= 3, what="the first deliveries")
    rotation = first.run("rotate-secret")
    rotated.set()
    flow.join()
    # The service's own replies call the webhook too: their deliveries begin once its jobs are done.
    wait_until(first.idle, timeout=30, what="the shared queue to drain")
    zendesk.wait_for_deliveries(timeout=30)

    after = first.account_state()
    assert after.signing_secret != before and after.previous_signing_secret == before
    assert zendesk.signing_secret(after.webhook_id)["secret"] == after.signing_secret
    assert (
        before not in rotation.stdout + rotation.stderr
        and after.signing_secret not in rotation.stdout + rotation.stderr
    )
    assert len(commented) > 5  # escalations came before, during and after the rotation
    statuses = [d["final_status"] for d in zendesk.deliveries() if int(json.loads(d["body"])["ticket_id"]) in commented]
    assert statuses and set(statuses) <= {200, 202}  # none Zendesk signed was refused, old secret or new
    assert forged and set(forged) <= {401, 503}  # 503 only while a rotation may be signing with the unknown new one
    wait_until(lambda: all(settled(first, t, 1) for t in commented), timeout=60, what="every escalation")
    for host in (first, second):  # the previous secret stays accepted for its grace period, by every host
        body = json.dumps({"ticket_id": str(commented[0]), "actor_id": str(ALICE)}).encode()
        assert host.deliver(body, secret=before).status_code == 202
    wait_until(first.idle, what="the shared queue to drain")
    for ticket_id in commented:
        assert len(emails_for(zendesk, ticket_id)) == 1 and len(internal_notes(zendesk, ticket_id)) == 1


def busiest_minute(moments: list[datetime]) -> int:
    ordered, best, first = sorted(moments), 0, 0
    for last, moment in enumerate(ordered):
        while (moment - ordered[first]).total_seconds() >= 60:
            first += 1
        best = max(best, last - first + 1)
    return best


def test_two_hosts_sweeping_every_three_seconds_keep_every_minute_of_exports_and_updates_under_the_limits(
    cluster: Cluster,
) -> None:
    zendesk = cluster.zendesk
    zendesk.set_rate_limit(updates_per_minute=10)  # the sandbox answers 429 past 10 ticket updates a minute
    for host in cluster.hosts:
        host.env.update(ESCALATIONS_RECONCILE_SECONDS="3", ZENDESK_TICKET_UPDATES_PER_MINUTE="10")
    cluster.start()
    zendesk.reset_requests_log()
    tickets = cluster.escalate(6)  # 12 updates, on both hosts at once: more than a minute allows

    def moments(matches: str, method: str = "GET") -> list[datetime]:
        return [
            datetime.fromisoformat(e["at"].replace("Z", "+00:00"))
            for e in zendesk.requests_log()
            if e["method"] == method and re.fullmatch(matches, e["path"])
        ]

    exports_path, updates_path = r"/api/v2/incremental/ticket_events(\.json)?", r"/api/v2/tickets/\d+(\.json)?"
    wait_until(lambda: all(settled(cluster.hosts[0], t, 1) for t in tickets), timeout=150, what="all six")
    wait_until(lambda: len(moments(exports_path)) > 8, timeout=150, what="more exports than a minute allows")
    wait_until(lambda: len(moments(updates_path, "PUT")) >= 12, what="the last updates")
    log = zendesk.requests_log()
    exports, updates = moments(exports_path), moments(updates_path, "PUT")
    print(f"busiest minute: {busiest_minute(exports)} exports, {busiest_minute(updates)} ticket updates")
    assert [e for e in log if e["status"] == 429] == []
    assert len(updates) == 12 and busiest_minute(updates) <= 8  # 10 a minute less the reserve, for both hosts
    assert len(exports) > 8 and busiest_minute(exports) <= 8  # the export's 10 a minute, less the reserve
    for ticket_id in tickets:
        assert len(emails_for(zendesk, ticket_id)) == 1 and len(internal_notes(zendesk, ticket_id)) == 1


def test_on_one_host_with_the_state_in_its_data_directory_a_rotation_takes_effect_without_a_restart(
    service: Service,
) -> None:
    zendesk = service.zendesk
    before = service.account_state().signing_secret
    rotation = service.run("rotate-secret")
    after = service.account_state()
    assert after.signing_secret != before and before not in rotation.stdout + rotation.stderr
    assert after.signing_secret not in rotation.stdout + rotation.stderr
    zendesk.add_comment(1, author_id=ALICE, body=escalation(1))  # signed with the new secret
    zendesk.wait_for_deliveries()
    assert [d["final_status"] for d in zendesk.deliveries()][:1] == [202]
    wait_until(lambda: settled(service, 1, 1), what="the confirmation")
    body = json.dumps({"ticket_id": "1", "actor_id": str(ALICE)}).encode()
    assert service.deliver(body, secret=before).status_code == 202  # signed before the reset: within the grace
    assert service.deliver(body, secret="forged").status_code == 401
    doctor = service.run("doctor", check=False)
    assert doctor.returncode == 0 and "the previous signing secret is accepted until" in doctor.stdout
