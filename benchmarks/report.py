"""The benchmark's figures as Markdown, the targets they are checked against, and docs/benchmarks.md."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

RSS_TARGET_MB = 150.0  # megabytes of 10^6 bytes


def ms(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def secs(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds:.2f} s"


def mb(kilobytes: float) -> float:
    """Kibibytes, as /proc reports them, in megabytes (10^6 bytes)."""
    return kilobytes * 1024 / 1e6


def targets(results: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """Each target of the issue: (what, met, the figures behind the verdict)."""
    rows: list[tuple[str, bool, str]] = []
    latency = results.get("webhook_latency")
    if latency:
        ratio = latency["ratio"].get("p99", math.inf)
        rows.append(
            (
                "Webhook answer p99 within 1.5× the baseline's",
                ratio <= 1.5,
                f"{ms(latency['ours']['p99'])} vs {ms(latency['baseline']['p99'])}: {ratio:.2f}×",
            )
        )
    calls = results.get("calls")
    if calls:
        escalation, refusal = calls["escalation"], calls["refusal"]
        ignored, filtered = calls["ignored"], calls["filtered"]
        rows += [
            (
                "At most 4 API calls per escalation",
                escalation["max"] <= 4,
                f"{escalation['mean']:.2f} on average, {escalation['max']} at most",
            ),
            (
                "At most 3 API calls per refused repeat",
                refusal["max"] <= 3,
                f"{refusal['mean']:.2f} on average, {refusal['max']} at most",
            ),
            (
                "No call for a comment the trigger filters out",
                filtered["max"] == 0 and calls["filtered_deliveries"] == 0,
                f"{calls['filtered_deliveries']} webhooks, {filtered['max']} calls",
            ),
            (
                "No write for a comment the policy ignores",
                ignored["writes_per_item"] == 0,
                f"{ignored['mean']:.2f} calls, {ignored['writes_per_item']:.2f} writes each",
            ),
        ]
    burst = results.get("burst")
    if burst:
        rows += [
            (
                "Burst: under 1 % of API requests answered 429",
                burst["share_429"] < 0.01,
                f"{burst['answered_429']} of {burst['requests']} ({burst['share_429']:.2%})",
            ),
            (
                f"Burst: all {burst['escalations']} applied exactly once",
                burst["exactly_once"] and burst["applied"] == burst["escalations"],
                f"{burst['applied']} applied; replies per ticket {burst['replies_per_ticket']}, "
                f"internal notes per ticket {burst['notes_per_ticket']}",
            ),
        ]
    parallel = results.get("parallel")
    if parallel:
        rows += [
            (
                "Escalations on different tickets proceed in parallel",
                parallel["tickets_in_flight_max"] >= 2,
                f"up to {parallel['tickets_in_flight_max']} tickets handled at once",
            ),
            (
                f"At most 4 API calls per escalation with {parallel['escalations']} at once",
                parallel["calls_per_escalation"]["mean"] <= 4,
                f"{parallel['calls_per_escalation']['mean']:.2f} on average, "
                f"{parallel['calls_per_escalation']['max']} at most; {parallel['conflicts']} answered 409",
            ),
            (
                "Per ticket they are serialised (and applied once)",
                parallel["same_ticket_in_flight_max"] <= 1 and parallel["exactly_once"],
                f"at most {parallel['same_ticket_in_flight_max']} call in flight per ticket with "
                f"{parallel['deliveries_each']} deliveries at once; exactly once: {parallel['exactly_once']}",
            ),
        ]
    memory = results.get("memory")
    if memory:
        rows += [
            (
                "Whole service under 150 MB RSS at rest",
                mb(max(memory["rest_rss_kb"], memory["after_rss_kb"])) < RSS_TARGET_MB,
                f"{mb(memory['rest_rss_kb']):.0f} MB after start, {mb(memory['after_rss_kb']):.0f} MB after the load",
            ),
            (
                "Whole service under 150 MB RSS under load",
                mb(memory["load_rss_kb"]) < RSS_TARGET_MB,
                f"{mb(memory['load_rss_kb']):.0f} MB at the peak",
            ),
        ]
    return rows


def _endpoints(group: dict[str, Any]) -> str:
    return "; ".join(f"{name} × {count:g}" for name, count in group["by_endpoint"].items()) or "none"


def render(results: dict[str, Any]) -> str:
    """The figures and the verdicts, as the Markdown block of docs/benchmarks.md."""
    machine, settings = results["machine"], results["settings"]
    hosts = settings.get("hosts", 1)
    queue = f"queue (SQLite) on {machine['queue_filesystem']}" if hosts <= 1 else "queue in redis-server"
    lines = [
        f"### Run of {results['date']}",
        "",
        f"- Command: `{results['command']}` ({results.get('seconds', 0) / 60:.1f} minutes)",
        f"- Machine: {machine['cpu']}, {machine['cpus']} CPUs, {machine['memory_gb']} GB, {machine['platform']}, "
        f"Python {machine['python']}; {queue}; load average "
        f"{machine['load_average_start'][0]:.2f} at the start, "
        f"{machine.get('load_average_end', (math.nan,))[0]:.2f} at the end (the machine is shared)",
        f"- Sandbox Zendesk: {settings['latency_ms']:.0f} ms per API call, {settings['requests_per_minute']} "
        f"requests and {settings['updates_per_minute']} ticket updates a minute; steps 2 and 4 start "
        f"{settings.get('refill_seconds', 0):.0f} s after the last ticket update",
        f"- `{settings.get('serve', 'escalations serve')}` ran gunicorn with `{settings.get('gunicorn', '?')}`; "
        "the baseline ran with the same arguments (and its own app and port)",
    ]
    if hosts > 1:
        lines.append(
            f"- {hosts} hosts: `escalations serve` {hosts} times with the same settings on one redis-server, each "
            "with its own data directory, behind a round-robin proxy that every webhook went through (the "
            "baseline behind a proxy of its own); memory is the first host's"
        )
    lines += [
        "",
        "| Target | Result | |",
        "| --- | --- | --- |",
    ]
    for what, met, figures in targets(results):
        lines.append(f"| {what} | {figures} | {'met' if met else '**missed**'} |")

    latency = results.get("webhook_latency")
    if latency:
        lines += [
            "",
            f"**Webhook answer time** — {latency['per_round'] * latency['rounds']} signed webhooks to each, "
            f"{latency['concurrency']} at a time, in {latency['rounds']} rounds alternating which goes first "
            f"(statuses: ours {latency['statuses']['ours']}, baseline {latency['statuses']['baseline']}; "
            f"the worker then read each ticket, done {latency['worker_drained_seconds']:.0f} s after the first)",
            "",
            "| | p50 | p95 | p99 | max |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name in ("ours", "baseline"):
            row = latency[name]
            lines.append(f"| {name} | {ms(row['p50'])} | {ms(row['p95'])} | {ms(row['p99'])} | {ms(row['max'])} |")
        ratio = latency["ratio"]
        lines.append(
            "| ratio | "
            + " | ".join(f"{ratio[k]:.2f}×" if k in ratio else "–" for k in ("p50", "p95", "p99", "max"))
            + " |"
        )

    applied = results.get("applied_latency")
    if applied:
        lines += [
            "",
            f"**Comment to applied** (the customer's comment stored → the confirmation stored; "
            f"{applied['applied']} of {applied['expected']} escalations, {applied['arrival_rate']:g} comment a "
            f"second): p50 {secs(applied['p50'])}, p95 {secs(applied['p95'])}, max {secs(applied['max'])}",
        ]

    calls = results.get("calls")
    if calls:
        lines += [
            "",
            "**Zendesk API calls**",
            "",
            "| Case | Cases | Calls each (mean / max) | Writes each | By method and endpoint (per case) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for key, label in (
            ("escalation", "escalation"),
            ("refusal", "refused repeat"),
            ("ignored", "comment the policy ignores (negated phrase)"),
            ("filtered", "comment the trigger filters out (agent, internal note, no phrase)"),
        ):
            group = calls[key]
            lines.append(
                f"| {label} | {group['items']} | {group['mean']:.2f} / {group['max']} | "
                f"{group['writes_per_item']:.2f} | {_endpoints(group)} |"
            )
        other = "; ".join(f"{name} × {count}" for name, count in calls["other"].items()) or "none"
        lines.append(f"\nCalls not tied to a ticket during these cases: {other}.")

    parallel = results.get("parallel")
    if parallel:
        repeat = parallel["calls_per_duplicated_ticket"]
        lines += [
            "",
            f"**Parallel and serialised** — {parallel['escalations']} escalations on different tickets delivered at "
            f"once: all applied in {secs(parallel['seconds'])} ({parallel['per_minute']:.0f} a minute), up to "
            f"{parallel['tickets_in_flight_max']} tickets and {parallel['calls_in_flight_max']} API calls in flight "
            f"at once. {parallel['duplicated_tickets']} tickets whose webhook arrived {parallel['deliveries_each']} "
            f"times at once: at most {parallel['same_ticket_in_flight_max']} call in flight per ticket, "
            f"{repeat['mean']:.1f} calls per ticket ({_endpoints(repeat)}), exactly once: {parallel['exactly_once']}; "
            f"webhook answers {parallel['webhook_statuses']}.",
        ]

    burst = results.get("burst")
    if burst:
        late = burst["applied_latency"]
        lines += [
            "",
            f"**Burst** — {burst['escalations']} escalation comments in {burst['comments_added_seconds']:.1f} s "
            f"against {settings['updates_per_minute']} ticket updates a minute: all applied after "
            f"{burst['seconds'] / 60:.1f} minutes ({burst['per_minute']:.1f} escalations a minute); "
            f"{burst['requests']} API requests, {burst['answered_429']} answered 429 ({burst['share_429']:.2%}); "
            f"{burst['updates']} ticket updates, at most {burst['updates_in_any_minute_max']} in any minute; "
            f"webhook deliveries {burst['deliveries']}; comment to applied p50 {secs(late['p50'])}, "
            f"p95 {secs(late['p95'])}, max {secs(late['max'])}.",
        ]

    memory = results.get("memory")
    if memory:
        parts = ", ".join(f"{name} {mb(kb):.0f}" for name, kb in memory["peak_breakdown"])
        lines += [
            "",
            f"**Memory of the whole service** (the `escalations serve` process tree, MB of 10^6 bytes): RSS "
            f"{mb(memory['rest_rss_kb']):.0f} after start, {mb(memory['load_rss_kb']):.0f} at the peak, "
            f"{mb(memory['after_rss_kb']):.0f} after the load; PSS (shared pages counted once) "
            f"{mb(memory['rest_pss_kb']):.0f} / {mb(memory['load_pss_kb']):.0f} / {mb(memory['after_pss_kb']):.0f}. "
            f"At the peak: {parts}. The baseline's tree peaked at {mb(memory['baseline_load_rss_kb']):.0f} MB RSS.",
        ]
    return "\n".join(lines) + "\n"


def markers(key: str) -> tuple[str, str]:
    """The comments around the figures of one kind of run (one block per burst size) in the report."""
    return (
        f"<!-- benchmark results ({key}): begin, written by python -m benchmarks.run -->",
        f"<!-- benchmark results ({key}): end -->",
    )


def write_report(path: Path, block: str, key: str) -> None:
    """Put `block` between the markers for `key` in `path`, keeping the rest; append them when missing."""
    begin, end = markers(key)
    wrapped = f"{begin}\n{block}{end}"
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + wrapped + rest.split(end, 1)[1]
    else:
        text = (text or "# Benchmarks\n").rstrip("\n") + "\n\n" + wrapped + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
