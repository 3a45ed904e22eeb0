"""The shipped benchmark runs end to end and writes its report; tiny numbers, no timing asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.report import markers, write_report
from tests.skips import require_tool

ROOT = Path(__file__).resolve().parents[1]


def test_the_benchmark_runs_with_tiny_numbers_and_writes_its_report(tmp_path: Path) -> None:
    report, figures = tmp_path / "benchmarks.md", tmp_path / "figures.json"
    begin, end = markers("burst of 3")
    report.write_text(f"# Benchmarks\n\nHow to read this.\n\n{begin}\nold figures\n{end}\n\nNotes stay.\n")
    tiny = "--latency 0 --escalations 3 --arrival-rate 20 --refusals 1 --ignored 1 --parallel 3 --duplicates 1"
    tiny += " --workers 1 --deliveries 2 --webhooks 8 --rounds 2 --concurrency 4 --burst 3"
    tiny += " --settle-seconds 0.5 --refill-seconds 0"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *tiny.split(), "--output", str(report), "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    data = json.loads(figures.read_text())
    assert data["calls"]["escalation"]["items"] == 3 and data["calls"]["escalation"]["mean"] > 0
    assert data["calls"]["filtered"]["max"] == 0
    assert data["burst"]["applied"] == 3 and data["burst"]["exactly_once"]
    assert data["parallel"]["exactly_once"]
    assert data["webhook_latency"]["ours"]["count"] == data["webhook_latency"]["baseline"]["count"] == 8
    assert data["memory"]["load_rss_kb"] > 0

    text = report.read_text()
    assert text.startswith("# Benchmarks\n\nHow to read this.") and text.rstrip().endswith("Notes stay.")
    assert "old figures" not in text and "| Webhook answer p99 within 1.5× the baseline's |" in text
    assert "--burst 3" in text  # the command, to rerun and compare


def test_the_benchmark_runs_two_hosts_sharing_a_redis_server_behind_a_proxy(tmp_path: Path) -> None:
    require_tool("redis-server", "redis-server")
    report, figures = tmp_path / "benchmarks.md", tmp_path / "figures.json"
    tiny = "--hosts 2 --latency 0 --escalations 2 --arrival-rate 20 --refusals 1 --ignored 1 --parallel 3"
    tiny += " --duplicates 1 --deliveries 2 --webhooks 8 --rounds 2 --concurrency 4 --burst 4"
    tiny += " --settle-seconds 0.5 --refill-seconds 0"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *tiny.split(), "--output", str(report), "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    data = json.loads(figures.read_text())
    assert data["settings"]["hosts"] == 2
    assert data["burst"]["applied"] == 4 and data["burst"]["exactly_once"] and data["parallel"]["exactly_once"]
    assert data["webhook_latency"]["statuses"]["ours"] == {"202": 8}  # through the proxy, to both hosts
    assert "burst of 4, 2 hosts" in report.read_text() and "2 hosts: `escalations serve` 2 times" in report.read_text()


def test_each_kind_of_run_keeps_its_own_figures_in_the_report(tmp_path: Path) -> None:
    report = tmp_path / "docs" / "benchmarks.md"
    (short_begin, short_end), (full_begin, full_end) = markers("burst of 100"), markers("burst of 500")
    write_report(report, "short run\n", "burst of 100")
    assert report.read_text() == f"# Benchmarks\n\n{short_begin}\nshort run\n{short_end}\n"
    write_report(report, "full run\n", "burst of 500")
    write_report(report, "newer short run\n", "burst of 100")
    assert report.read_text() == (
        f"# Benchmarks\n\n{short_begin}\nnewer short run\n{short_end}\n\n{full_begin}\nfull run\n{full_end}\n"
    )
