"""The benchmark: `escalations serve` against the sandbox Zendesk, side by side with a baseline, in one run.

    .venv/bin/python -m benchmarks.run               # a few minutes; writes docs/benchmarks.md
    .venv/bin/python -m benchmarks.run --burst 500   # the full burst (about 16 minutes)
    .venv/bin/python -m benchmarks.run --hosts 2     # two services sharing one redis-server, behind a proxy

It starts the sandbox Zendesk in this process (every API call answered after
`--latency`, with the account's rate limits), runs `escalations setup`, then
`escalations serve` as in production and, next to it, the baseline
(`benchmarks/baseline_app.py`, the same gunicorn settings), and measures:

1. API calls per escalation, per refused repeat, per ignored comment and per
   comment the trigger filters out, and the time from a customer's comment to
   the stored confirmation (comments arrive at `--arrival-rate` a second);
2. escalations on different tickets at once (throughput, parallelism) and the
   same ticket delivered several times at once (serialised, applied once);
3. the webhook's answer time against the baseline's, in rounds that alternate
   which goes first, so that noise from the rest of the machine hits both;
4. a burst of `--burst` escalations against the ticket-update limit: 429
   answers, total time, each applied exactly once;

and the memory (RSS and PSS) of the whole service's process tree throughout.
With `--hosts N` (N > 1) it runs N services with the same settings on one
redis-server (`tests/cluster.py`), each with its own data directory (setup
runs on the first only), behind a round-robin proxy that the webhooks (and
Zendesk's) go through; the baseline then sits behind a proxy of its own, so
that both sides pay for the extra hop. Memory is the first host's.
Steps 2 and 4 start a minute after the last ticket update (`--refill-seconds`),
with Zendesk's update budget and the service's own window empty again, so
that their times do not depend on the step before. The catch-up sweep runs
only at start (ESCALATIONS_RECONCILE_SECONDS=3600) so that it adds no calls;
the managers' roster is read at most every 5 minutes per worker process, and
appears under "calls not tied to a ticket".
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.measure import (
    Call,
    Memory,
    MemorySampler,
    Signer,
    TimedSandbox,
    post_webhook,
    process_tree,
    summary,
    wait_for,
)
from benchmarks.report import render, write_report
from tests.cluster import RoundRobinProxy, redis_server
from tests.support.local_service import LocalService, free_port, service_environment

ROOT = Path(__file__).resolve().parents[1]
_TICKET_PATH = re.compile(r"/api/v2/tickets/(\d+)((?:/[a-z_]+)*)(\.json)?$")
PHRASE_BODY = "Escalation request: case {n} has been failing for a week and nobody answers."
REPEAT_BODY = "Escalation request again for case {n}: still no news."
NEGATED_BODY = "This is not an escalation request, just a question about invoice {n}."


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--latency", type=float, default=0.1, help="seconds the sandbox waits before answering each API call (0.1)")
    add("--requests-per-minute", type=int, default=700, help="the account's API budget (700, Suite Enterprise)")
    add("--updates-per-minute", type=int, default=100, help="the account's ticket-update budget (100)")
    add("--workers", type=int, default=None, help="serve --workers (default: its own); the baseline follows")
    add("--hosts", type=int, default=1, help="services sharing one redis-server behind a round-robin proxy (1)")
    add("--escalations", type=int, default=20, help="escalations whose calls and latency are measured (20)")
    add("--arrival-rate", type=float, default=1.0, help="escalation comments per second in step 1 (1)")
    add("--refusals", type=int, default=10, help="refused repeats (10)")
    add("--ignored", type=int, default=10, help="comments the policy ignores, and comments the trigger filters (10)")
    add("--parallel", type=int, default=20, help="escalations on different tickets delivered at once (20)")
    add("--duplicates", type=int, default=5, help="tickets whose webhook is delivered several times at once (5)")
    add("--deliveries", type=int, default=3, help="deliveries of each of those webhooks (3)")
    add("--webhooks", type=int, default=300, help="webhooks fired at each of the service and the baseline (300)")
    add("--rounds", type=int, default=10, help="alternating rounds the webhooks are split into (10)")
    add("--concurrency", type=int, default=8, help="webhooks in flight at once (8)")
    add("--burst", type=int, default=100, help="escalations in the burst; 500 for the full burst (100)")
    add("--settle-seconds", type=float, default=1.5, help="quiet time that means the worker is done (1.5)")
    add("--refill-seconds", type=float, default=61.0, help="pause without updates before steps 2 and 4 (61; 0: none)")
    add("--output", type=Path, default=ROOT / "docs" / "benchmarks.md", help="the report to update")
    add("--no-output", action="store_true", help="print the report only")
    add("--json", type=Path, default=None, help="also write the figures as JSON here")
    add("--keep", action="store_true", help="keep the working directory (logs, queue) for inspection")
    return parser.parse_args(argv)


def healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def gunicorn_arguments(serve_pid: int) -> list[str]:
    """The arguments `escalations serve` gave gunicorn, from the app onwards (`escalations.service.web:...`, …)."""
    for pid in process_tree(serve_pid):
        with contextlib.suppress(OSError):
            argv = [part.decode() for part in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if part]
            if "escalations.service.web:create_app()" in argv and "--bind" in argv:
                return argv[argv.index("escalations.service.web:create_app()") :]
    raise RuntimeError("escalations serve started no gunicorn for escalations.service.web")


def ticket_of(call: Call) -> tuple[int, str] | None:
    """The ticket a call is about and the endpoint it used (`GET /api/v2/tickets/{id}/comments.json`)."""
    match = _TICKET_PATH.match(call.path)
    if match is None:
        return None
    endpoint = f"/api/v2/tickets/{{id}}{match.group(2)}{match.group(3) or ''}"
    return int(match.group(1)), f"{call.method} {endpoint}"


def endpoint_of(call: Call) -> str:
    path = re.sub(r"/\d+", "/{id}", call.path)
    return f"{call.method} {path}"


def max_overlap(intervals: Sequence[tuple[float, float]]) -> int:
    """The most intervals open at one moment."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    best = current = 0
    for _, step in events:
        current += step
        best = max(best, current)
    return best


def max_in_window(moments: Sequence[float], window: float) -> int:
    """The most moments within any `window` seconds."""
    ordered, best, first = sorted(moments), 0, 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


class Bench:
    """One benchmark run: the sandbox, the service, the baseline, and the figures."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.sandbox = TimedSandbox()
        self.zendesk = self.sandbox.zendesk
        self.host_ports = [free_port() for _ in range(max(1, args.hosts))]
        self.baseline_port = free_port()
        # Where webhooks go: the service itself, or the proxy in front of the hosts.
        self.port = self.host_ports[0] if args.hosts <= 1 else free_port()
        self.hosts: list[LocalService] = []
        self.results: dict[str, Any] = {}
        self._stack = contextlib.ExitStack()
        self._customers: list[int] = []
        self._agent = 0
        self._support = 0
        self._made = 0

    # -- starting and stopping --------------------------------------------------------

    def environment(self, workdir: Path, **settings: str) -> dict[str, str]:
        env = service_environment(
            zendesk_url=self.sandbox.url,
            email=self.zendesk.email,
            api_token=self.zendesk.api_token,
            port=self.port,  # PUBLIC_URL: the service, or the proxy in front of the hosts
            data_dir=workdir / "var",
            ESCALATIONS_RECONCILE_SECONDS="3600",
            ZENDESK_TICKET_UPDATES_PER_MINUTE=str(self.args.updates_per_minute),  # as the admin sets it
            LOG_LEVEL="INFO",
            **settings,
        )
        return {key: value for key, value in env.items() if not key.startswith("BENCH_")}

    @property
    def service(self) -> LocalService:
        return self.hosts[0]

    def start(self) -> None:
        self.sandbox.start()
        users = self.zendesk.state()
        self._customers = [user["id"] for user in users["users"] if user["role"] == "end-user"]
        self._agent = next(user["id"] for user in users["users"] if user["role"] == "agent")
        self._support = next(group["id"] for group in users["groups"] if group["name"] == "Support")
        shared: dict[str, str] = {}
        if len(self.host_ports) > 1:
            shared["REDIS_URL"] = self._stack.enter_context(redis_server(self.workdir))
            self.proxy = self._stack.enter_context(_running(RoundRobinProxy(self.host_ports, self.port)))
            self.baseline_proxy = self._stack.enter_context(_running(RoundRobinProxy([self.baseline_port])))
        for number, port in enumerate(self.host_ports, start=1):
            workdir = self.workdir if len(self.host_ports) == 1 else self.workdir / f"host-{number}"
            workdir.mkdir(exist_ok=True)
            self.hosts.append(LocalService(self.environment(workdir, **shared), port, workdir))
        self.service.run("setup", timeout=120)
        state = self.service.account_state()
        self.signer = Signer(state.signing_secret, state.webhook_id)
        self.zendesk.latency = self.args.latency
        self.zendesk.set_rate_limit(
            requests_per_minute=self.args.requests_per_minute, updates_per_minute=self.args.updates_per_minute
        )
        started = time.monotonic()
        workers = ["--workers", str(self.args.workers)] if self.args.workers is not None else []
        self.serve, *_ = [host.serve(*workers) for host in self.hosts]
        if not all(wait_for(lambda h=host: healthy(h.port), timeout=60, interval=0.1) for host in self.hosts):
            raise RuntimeError(f"the service did not start; see {self.workdir}")
        # The baseline runs under exactly the gunicorn command line `escalations serve` used, with its own app.
        web = gunicorn_arguments(self.serve.pid)
        bind = web.index("--bind")
        self.gunicorn = " ".join(web[1:bind] + web[bind + 2 :])
        web[0], web[web.index("--bind") + 1] = "benchmarks.baseline_app:create_app()", f"127.0.0.1:{self.baseline_port}"
        # the baseline app is in benchmarks/, beside the package's source root
        baseline_path = os.pathsep.join(filter(None, [str(ROOT), self.service.env.get("PYTHONPATH")]))
        self.baseline = self.service.spawn(
            [sys.executable, "-m", "gunicorn", *web],
            self.workdir / "baseline.log",
            {**self.service.env, "PYTHONPATH": baseline_path, "BENCH_SIGNING_SECRET": state.signing_secret},
        )
        if len(self.host_ports) > 1:
            self.baseline_port = self.baseline_proxy.port  # the baseline pays for the same hop
        if not wait_for(lambda: healthy(self.baseline_port), timeout=60, interval=0.1):
            raise RuntimeError(f"the baseline did not start; see {self.workdir}")
        swept = wait_for(lambda: any("/incremental/" in c.path for c in self.sandbox.calls.since(started)), 60)
        if not swept:
            raise RuntimeError("the worker's start-up sweep never reached the sandbox")
        self.settle()
        self.memory = Memory(self.serve.pid)
        self.baseline_memory = Memory(self.baseline.pid)
        self.sampler = MemorySampler([self.memory, self.baseline_memory]).start()

    def stop(self) -> None:
        sampler = getattr(self, "sampler", None)
        if sampler is not None:
            sampler.stop()
        for host in self.hosts:
            host.stop()
        self._stack.close()
        self.sandbox.stop()

    # -- helpers ------------------------------------------------------------------------

    def new_tickets(self, count: int) -> list[tuple[int, int]]:
        """Open `count` tickets, customers taking turns as requesters; (ticket id, requester id)."""
        made = []
        for _ in range(count):
            requester = self._customers[self._made % len(self._customers)]
            self._made += 1
            ticket = self.zendesk.create_ticket(
                requester_id=requester,
                subject=f"Benchmark case {self._made}",
                description="The nightly export has failed three times this week.",
                group_id=self._support,
            )
            made.append((int(ticket["id"]), requester))
        return made

    def replies(self, ticket_id: int) -> list[float]:
        return self.zendesk.reply_times.get(ticket_id, [])

    def settle(self, extra: float = 0.0, timeout: float = 300) -> None:
        """Wait until the service has made no API call for `--settle-seconds` (plus `extra`) seconds."""
        quiet = self.args.settle_seconds + extra
        wait_for(lambda: self.sandbox.calls.idle_for() >= quiet, timeout=timeout, interval=0.1)

    def notes(self, ticket_id: int) -> int:
        api_user = self.zendesk.api_user_id
        return sum(1 for c in self.zendesk.comments(ticket_id) if not c["public"] and c["author_id"] == api_user)

    def calls_by_ticket(self, calls: Iterable[Call], tickets: Iterable[int]) -> dict[str, Any]:
        """Per ticket of `tickets`: how many calls, and which, in `calls`."""
        wanted = set(tickets)
        per_ticket: Counter[int] = Counter({ticket: 0 for ticket in wanted})
        endpoints: Counter[str] = Counter()
        writes = 0
        for call in calls:
            found = ticket_of(call)
            if found is None or found[0] not in wanted:
                continue
            per_ticket[found[0]] += 1
            endpoints[found[1]] += 1
            writes += call.method in ("PUT", "POST", "DELETE")
        count = max(1, len(wanted))
        return {
            "items": len(wanted),
            "mean": sum(per_ticket.values()) / count,
            "max": max(per_ticket.values(), default=0),
            "writes_per_item": writes / count,
            "by_endpoint": {name: total / count for name, total in sorted(endpoints.items())},
        }

    def refill(self) -> None:
        """Wait until a minute has passed since the last ticket update: Zendesk's and the pacer's windows are empty."""
        updates = [c.end for c in self.sandbox.calls.since(0.0) if c.method == "PUT" and ticket_of(c) is not None]
        if updates and self.args.refill_seconds > 0:
            time.sleep(max(0.0, updates[-1] + self.args.refill_seconds - time.monotonic()))

    # -- 1. calls and comment-to-applied ----------------------------------------------------

    def phase_calls(self) -> None:
        args = self.args
        began = time.monotonic()
        escalated = self.new_tickets(args.escalations)
        ignored = self.new_tickets(args.ignored)
        filtered = self.new_tickets(args.ignored)

        commented_at = self._comment_at_rate(escalated, PHRASE_BODY)
        wait_for(lambda: all(self.replies(t) for t, _ in escalated), timeout=120 + 10 * len(escalated))
        latencies = [self.replies(t)[0] - commented_at[t] for t, _ in escalated if self.replies(t)]
        self.settle()

        refused = escalated[: args.refusals]
        refusals_began = time.monotonic()
        self._comment_at_rate(refused, REPEAT_BODY)
        wait_for(lambda: all(len(self.replies(t)) >= 2 for t, _ in refused), timeout=120 + 10 * len(refused))
        self.settle()

        ignored_began = time.monotonic()
        self._comment_at_rate(ignored, NEGATED_BODY)
        self.zendesk.wait_for_deliveries(timeout=60)
        wait_for(
            lambda: self.calls_by_ticket(self.sandbox.calls.since(ignored_began), [t for t, _ in ignored])["mean"] >= 2,
            timeout=120,
        )
        self.settle()

        filtered_began = time.monotonic()
        for n, (ticket, requester) in enumerate(filtered):
            self.zendesk.add_comment(ticket, author_id=self._agent, body=PHRASE_BODY.format(n=n))  # an agent
            self.zendesk.add_comment(ticket, author_id=requester, body=PHRASE_BODY.format(n=n), public=False)
            self.zendesk.add_comment(ticket, author_id=requester, body="Thanks, any news on the export?")
        self.zendesk.wait_for_deliveries(timeout=60)
        self.settle(extra=1.0)
        ended = time.monotonic()

        calls = self.sandbox.calls.since(began)
        refusal_calls = [c for c in calls if c.start >= refusals_began]
        escalation_calls = [c for c in calls if c.start < refusals_began]
        mine = {t for t, _ in escalated + ignored + filtered}
        other = Counter(endpoint_of(c) for c in calls if (ticket_of(c) or (0, ""))[0] not in mine)
        self.results["calls"] = {
            "escalation": self.calls_by_ticket(escalation_calls, [t for t, _ in escalated]),
            "refusal": self.calls_by_ticket(refusal_calls, [t for t, _ in refused]),
            "ignored": self.calls_by_ticket(
                [c for c in calls if ignored_began <= c.start < filtered_began], [t for t, _ in ignored]
            ),
            "filtered": self.calls_by_ticket([c for c in calls if c.start >= filtered_began], [t for t, _ in filtered]),
            "filtered_deliveries": sum(
                1
                for d in self.zendesk.deliveries()
                if int(json.loads(d["body"]).get("ticket_id", 0)) in {t for t, _ in filtered}
            ),
            "other": dict(sorted(other.items())),
            "seconds": ended - began,
        }
        self.results["applied_latency"] = {
            **summary(latencies),
            "applied": len(latencies),
            "expected": len(escalated),
            "arrival_rate": args.arrival_rate,
        }

    def _comment_at_rate(self, tickets: list[tuple[int, int]], template: str) -> dict[int, float]:
        """Comment as each ticket's requester, `--arrival-rate` comments a second; when each was added."""
        commented_at: dict[int, float] = {}
        gap = 1.0 / self.args.arrival_rate if self.args.arrival_rate > 0 else 0.0
        start = time.monotonic()
        for n, (ticket, requester) in enumerate(tickets):
            delay = start + n * gap - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            commented_at[ticket] = time.monotonic()
            self.zendesk.add_comment(ticket, author_id=requester, body=template.format(n=n))
        return commented_at

    # -- 2. different tickets in parallel, one ticket serialised ------------------------------

    def phase_parallel(self) -> None:
        args = self.args
        tickets = self.new_tickets(args.parallel)
        for n, (ticket, requester) in enumerate(tickets):
            self.zendesk.add_comment(ticket, author_id=requester, body=PHRASE_BODY.format(n=n), deliver_webhooks=False)
        began = time.monotonic()
        statuses = self._fire([t for t, _ in tickets], len(tickets))
        wait_for(lambda: all(self.replies(t) for t, _ in tickets), timeout=120 + 5 * len(tickets))
        applied = [self.replies(t)[0] for t, _ in tickets if self.replies(t)]
        self.settle()
        calls = self.sandbox.calls.since(began)
        by_ticket: dict[int, list[tuple[float, float]]] = {}
        for call in calls:
            found = ticket_of(call)
            if found is not None:
                by_ticket.setdefault(found[0], []).append((call.start, call.end))
        spans = [(min(s for s, _ in spans), max(e for _, e in spans)) for spans in by_ticket.values()]
        parallel_calls = self.calls_by_ticket(calls, [t for t, _ in tickets])
        conflicts = sum(1 for call in calls if call.status == 409)

        repeated = self.new_tickets(args.duplicates)
        for n, (ticket, requester) in enumerate(repeated):
            self.zendesk.add_comment(ticket, author_id=requester, body=PHRASE_BODY.format(n=n), deliver_webhooks=False)
        repeats_began = time.monotonic()
        ids = [t for t, _ in repeated for _ in range(args.deliveries)]
        statuses += self._fire(ids, len(ids))
        wait_for(lambda: all(self.replies(t) for t, _ in repeated), timeout=120)
        self.settle(extra=1.5)  # duplicates that found the ticket locked are retried a second later
        repeat_calls = self.sandbox.calls.since(repeats_began)
        same_ticket = max(
            (
                max_overlap([(c.start, c.end) for c in repeat_calls if (ticket_of(c) or (0, ""))[0] == ticket])
                for ticket, _ in repeated
            ),
            default=0,
        )
        once = all(len(self.replies(t)) == 1 and self.notes(t) == 1 for t, _ in tickets + repeated)
        self.results["parallel"] = {
            "escalations": len(tickets),
            "applied": len(applied),
            "seconds": (max(applied) - began) if applied else float("nan"),
            "per_minute": 60 * len(applied) / (max(applied) - began) if applied else 0.0,
            "calls_per_escalation": parallel_calls,
            "conflicts": conflicts,
            "tickets_in_flight_max": max_overlap(spans),
            "calls_in_flight_max": max_overlap([(c.start, c.end) for c in calls]),
            "duplicated_tickets": len(repeated),
            "deliveries_each": args.deliveries,
            "same_ticket_in_flight_max": same_ticket,
            "calls_per_duplicated_ticket": self.calls_by_ticket(repeat_calls, [t for t, _ in repeated]),
            "exactly_once": once,
            "webhook_statuses": dict(Counter(statuses)),
        }

    def _fire(self, ticket_ids: list[int], concurrency: int) -> list[int]:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            return [status for _, status in pool.map(lambda t: post_webhook(self.port, self.signer, t), ticket_ids)]

    # -- 3. the webhook's answer time against the baseline --------------------------------------

    def phase_latency(self) -> None:
        args = self.args
        # Tickets with nothing to do: each webhook costs the worker two reads, as an ignored comment does.
        quiet = [t for t, _ in self.new_tickets(max(50, args.concurrency))]
        per_round = max(1, args.webhooks // max(1, args.rounds))
        sides = {"ours": self.port, "baseline": self.baseline_port}
        seconds: dict[str, list[float]] = {"ours": [], "baseline": []}
        statuses: dict[str, Counter[int]] = {"ours": Counter(), "baseline": Counter()}
        began = time.monotonic()
        fired = 0
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            for name, port in sides.items():  # warm up: first requests import and connect lazily
                list(pool.map(lambda t, p=port: post_webhook(p, self.signer, t), quiet[: args.concurrency]))
                fired += args.concurrency if name == "ours" else 0
            for round_number in range(args.rounds):
                order = ["ours", "baseline"] if round_number % 2 == 0 else ["baseline", "ours"]
                for name in order:
                    port = sides[name]
                    ids = [quiet[(round_number * per_round + i) % len(quiet)] for i in range(per_round)]
                    for took, status in pool.map(lambda t, p=port: post_webhook(p, self.signer, t), ids):
                        seconds[name].append(took)
                        statuses[name][status] += 1
                    fired += per_round if name == "ours" else 0
        fired_for = time.monotonic() - began
        expected = 2 * fired
        wait_for(
            lambda: self.calls_by_ticket(self.sandbox.calls.since(began), quiet)["mean"] * len(quiet) >= expected,
            timeout=600,
            interval=0.5,
        )
        drained = time.monotonic() - began
        self.settle()
        ours, base = summary(seconds["ours"]), summary(seconds["baseline"])
        self.results["webhook_latency"] = {
            "ours": ours,
            "baseline": base,
            "ratio": {key: ours[key] / base[key] for key in ("p50", "p95", "p99", "max") if base[key] > 0},
            "statuses": {name: dict(counts) for name, counts in statuses.items()},
            "rounds": args.rounds,
            "per_round": per_round,
            "concurrency": args.concurrency,
            "fired_seconds": fired_for,
            "worker_drained_seconds": drained,
        }

    # -- 4. the burst -------------------------------------------------------------------------

    def phase_burst(self) -> None:
        args = self.args
        tickets = self.new_tickets(args.burst)
        ids = {t for t, _ in tickets}
        began = time.monotonic()
        commented_at: dict[int, float] = {}
        for n, (ticket, requester) in enumerate(tickets):
            commented_at[ticket] = time.monotonic()
            self.zendesk.add_comment(ticket, author_id=requester, body=PHRASE_BODY.format(n=n))
        added = time.monotonic() - began
        expected_minutes = 2 * args.burst / max(1, 0.8 * args.updates_per_minute)
        wait_for(lambda: all(self.replies(t) for t in ids), timeout=180 + 120 * expected_minutes, interval=0.5)
        applied = [self.replies(t)[0] for t in ids if self.replies(t)]
        with contextlib.suppress(TimeoutError):
            self.zendesk.wait_for_deliveries(timeout=60)
        self.settle(extra=1.5)
        calls = self.sandbox.calls.since(began)
        limited = [c for c in calls if c.status == 429]
        updates = [c.start for c in calls if c.method == "PUT" and ticket_of(c) is not None and c.status < 300]
        deliveries = Counter(
            str(d["final_status"])
            for d in self.zendesk.deliveries()
            if int(json.loads(d["body"]).get("ticket_id", 0)) in ids
        )
        replies = Counter(len(self.replies(t)) for t in ids)
        notes = Counter(self.notes(t) for t in ids)
        last = max(applied) if applied else time.monotonic()
        self.results["burst"] = {
            "escalations": args.burst,
            "comments_added_seconds": added,
            "applied": len(applied),
            "exactly_once": replies == Counter({1: len(ids)}) and notes == Counter({1: len(ids)}),
            "replies_per_ticket": {str(k): v for k, v in sorted(replies.items())},
            "notes_per_ticket": {str(k): v for k, v in sorted(notes.items())},
            "deliveries": dict(deliveries),
            "seconds": last - began,
            "per_minute": 60 * len(applied) / (last - began) if applied else 0.0,
            "requests": len(calls),
            "answered_429": len(limited),
            "share_429": len(limited) / len(calls) if calls else 0.0,
            "updates": len(updates),
            "updates_in_any_minute_max": max_in_window(updates, 60.0),
            "applied_latency": summary([self.replies(t)[0] - commented_at[t] for t in ids if self.replies(t)]),
        }

    # -- memory ---------------------------------------------------------------------------------

    def rest(self) -> tuple[int, int]:
        """The service's memory while idle for twice `--settle-seconds`: the highest RSS and PSS sampled, in kB."""
        self.settle()
        start = time.monotonic()
        time.sleep(2 * self.args.settle_seconds)
        samples = self.memory.between(start, time.monotonic()) or [(0.0, *self.memory.sample())]
        return max(s[1] for s in samples), max(s[2] for s in samples)


@contextlib.contextmanager
def _running(proxy: RoundRobinProxy) -> Iterator[RoundRobinProxy]:
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def machine(workdir: Path) -> dict[str, Any]:
    """What the figures were measured on."""

    def lines(path: str) -> list[str]:
        try:
            return Path(path).read_text().splitlines()
        except OSError:
            return []

    cpu = next((line.split(":", 1)[1].strip() for line in lines("/proc/cpuinfo") if line.startswith("model name")), "")
    memory = next((int(line.split()[1]) for line in lines("/proc/meminfo") if line.startswith("MemTotal")), 0)
    filesystem = "?"
    mounts = [line.split() for line in lines("/proc/mounts")]
    if mounts:
        matching = [m for m in mounts if str(workdir).startswith(m[1].rstrip("/") + "/") or str(workdir) == m[1]]
        if matching:
            filesystem = max(matching, key=lambda m: len(m[1]))[2]
    return {
        "platform": platform.platform(),
        "cpu": cpu or platform.processor() or "?",
        "cpus": os.cpu_count(),
        "memory_gb": round(memory / 1024 / 1024, 1),
        "python": platform.python_version(),
        "queue_filesystem": filesystem,
        "load_average_start": os.getloadavg(),
    }


def command_line(argv: Sequence[str] | None) -> str:
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(ROOT)
    words = list(sys.argv[1:] if argv is None else argv)
    return " ".join([str(python), "-m", "benchmarks.run", *words])


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="escalations-bench-"))
    bench = Bench(args, workdir)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(argv),
        "machine": machine(workdir),
        "settings": {
            "hosts": args.hosts,
            "latency_ms": args.latency * 1000,
            "requests_per_minute": args.requests_per_minute,
            "updates_per_minute": args.updates_per_minute,
            "refill_seconds": args.refill_seconds,
        },
    }
    started = time.monotonic()
    try:
        print(f"benchmark: working in {workdir}", flush=True)
        bench.start()
        at_rest = bench.rest()
        phases: dict[str, float] = {"start": time.monotonic() - started}
        for name, phase in (
            ("API calls and comment-to-applied", bench.phase_calls),
            ("a minute without ticket updates, so that the next step starts with the budget full", bench.refill),
            ("different tickets at once, one ticket several times", bench.phase_parallel),
            ("webhook answer time against the baseline", bench.phase_latency),
            ("the update budget full again", bench.refill),
            (f"burst of {args.burst} escalations", bench.phase_burst),
        ):
            print(f"benchmark: {name}…", flush=True)
            began = time.monotonic()
            phase()
            phases[name] = time.monotonic() - began
        after = bench.rest()
        results["phase_seconds"] = phases
        results.update(bench.results)
        results["settings"]["serve"] = "escalations serve" + (f" --workers {args.workers}" if args.workers else "")
        results["settings"]["gunicorn"] = bench.gunicorn
        under_load = max((s[1] for s in bench.memory.samples), default=0)
        results["memory"] = {
            "rest_rss_kb": at_rest[0],
            "rest_pss_kb": at_rest[1],
            "load_rss_kb": under_load,
            "load_pss_kb": max((s[2] for s in bench.memory.samples), default=0),
            "after_rss_kb": after[0],
            "after_pss_kb": after[1],
            "peak_breakdown": bench.memory.peak_breakdown,
            "baseline_load_rss_kb": max((s[1] for s in bench.baseline_memory.samples), default=0),
        }
    finally:
        bench.stop()
        results["seconds"] = time.monotonic() - started
        results["machine"]["load_average_end"] = os.getloadavg()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    text = render(results)
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    if not args.no_output:
        write_report(args.output, text, f"burst of {args.burst}" + (f", {args.hosts} hosts" if args.hosts > 1 else ""))
        print(f"benchmark: figures written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
