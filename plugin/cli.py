"""The `escalations` command: setup, serve, doctor, sandbox."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from plugin import logs
from plugin.config import (
    ConfigError,
    Settings,
    check_notify_urls,
    has_zendesk_credentials,
    load_log_settings,
    load_settings,
)
from plugin.state import load_state, save_state

if TYPE_CHECKING:
    from plugin.zendesk import ZendeskGateway

# Zenpy and the rest of the Zendesk side are imported only by the commands that talk to
# Zendesk: `serve` stays a small supervisor process.

log = logging.getLogger("escalations")

# gunicorn's access log, after the time, level and logger every line starts with: who, what, the answer,
# how long it took, and the webhook invocation it answered.
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms invocation=%({x-zendesk-webhook-invocation-id}i)s'


def _gateway(settings: Settings, field_ids: dict[str, int] | None = None, budget: int = 60) -> ZendeskGateway:
    from plugin.zendesk import ZendeskGateway, make_client

    return ZendeskGateway(settings, field_ids or {}, make_client(settings, ratelimit_budget=budget))


def cmd_setup(args: argparse.Namespace) -> int:
    from plugin.provisioning import provision

    settings = load_settings()
    state, report = provision(_gateway(settings), settings)
    save_state(settings.state_file, state)
    for line in report.lines:
        print(line)
    print(f"saved      ids and signing secret: {settings.state_file}")
    print(f"webhook    {settings.public_url}/webhooks/zendesk")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run gunicorn and the queue worker side by side; stop both cleanly on SIGTERM or Ctrl-C."""
    settings = check_notify_urls(load_settings())
    load_state(settings.state_file)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    web = [
        sys.executable,
        "-m",
        "gunicorn",
        "plugin.web:create_app()",
        "--bind",
        f"{args.host}:{args.port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        "gthread",
        "--threads",
        "8",
        "--graceful-timeout",
        "10",  # webhook requests take milliseconds
        "--access-logfile",
        "-",
        "--access-logformat",
        ACCESS_LOG_FORMAT,
        "--logger-class",
        "plugin.gunicorn_logging.GunicornLogger",
        "--no-control-socket",
        "--log-level",
        settings.log_level.lower(),
    ]
    worker = [sys.executable, "-m", "plugin.cli", "worker"]
    # Every process counts its own metrics into this folder; /metrics adds them up.
    metrics_dir = settings.data_dir / f"metrics-{args.port}"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    children = [subprocess.Popen(web, env=environment), subprocess.Popen(worker, env=environment)]
    log.info("serving on http://%s:%s (webhook: /webhooks/zendesk)", args.host, args.port)

    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while not stopping:
        if any(child.poll() is not None for child in children):
            status = 1
            log.error("a service process stopped; stopping the others")
            break
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return status


SANDBOX_ENV = {
    "ZENDESK_SUBDOMAIN": "sandbox",
    "ZENDESK_EMAIL": "admin@sandbox.test",
    "ZENDESK_API_TOKEN": "sandbox-token",
}


def cmd_start(args: argparse.Namespace) -> int:
    """Set up and serve: the real account when .env has credentials, otherwise a local sandbox."""
    from plugin.config import read_environment

    sandbox = None
    if not has_zendesk_credentials(read_environment()):
        from plugin.sandbox import SandboxServer, SandboxZendesk

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the sandbox page polls every second
        sandbox = SandboxServer(SandboxZendesk(), port=args.sandbox_port).start()
        os.environ.update(SANDBOX_ENV)
        os.environ["ZENDESK_API_URL"] = sandbox.url
        os.environ.setdefault("ESCALATIONS_DATA_DIR", str(Path("var") / "sandbox"))
        os.environ["PUBLIC_URL"] = f"http://{args.host}:{args.port}"
        os.environ.setdefault("ESCALATION_HELP_CENTER_URL", f"{sandbox.url}/hc")  # where the form is installed
        print(f"No Zendesk credentials in .env: using the local sandbox at {sandbox.url}", flush=True)
    try:
        cmd_setup(args)
        if sandbox is not None:
            _install_theme_in_sandbox(sandbox.url)
            print(
                f"\nTry it: open {sandbox.url}/ , pick a customer's ticket and comment "
                "'Escalation request: our exports fail since Monday'.\n",
                flush=True,
            )
        return cmd_serve(args)
    finally:
        if sandbox is not None:
            sandbox.stop()


def _install_theme_in_sandbox(sandbox_url: str) -> None:
    """Give the sandbox's Help Center the theme files `package-theme` builds from this configuration."""
    import requests

    from plugin.theme_package import build_theme

    settings = load_settings()
    files = build_theme(load_state(settings.state_file), settings)
    requests.put(f"{sandbox_url}/__sandbox__/hc/theme", json={"files": files}, timeout=10).raise_for_status()


def cmd_worker(args: argparse.Namespace) -> int:
    from plugin.worker import main as worker_main

    worker_main()
    return 0


def cmd_package_app(args: argparse.Namespace) -> int:
    from plugin.app_package import main as package_main

    options = ["--source", args.source] + (["--dist", args.dist] if args.dist else [])
    return package_main(options)


def cmd_package_theme(args: argparse.Namespace) -> int:
    from plugin.theme_package import DETAILS_SNIPPET, SNIPPET, build_theme, write_theme

    settings = load_settings()
    written = write_theme(build_theme(load_state(settings.state_file), settings), Path(args.output))
    print(f"wrote the Help Center snippets to {args.output}")
    for path, size in written:
        print(f"  {path:<32} {size:>7,} bytes")
    print(
        "These are snippets to paste into your theme, not a theme to import. In Guide > Customize design > your "
        "theme > Edit code: add the two files under assets/ as assets; in templates/request_page.hbs, paste "
        f"{SNIPPET} just before the comment form and replace the {{{{#each custom_fields}}}} block of the request "
        f"sidebar with {DETAILS_SNIPPET}; publish."
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from plugin.demo import main as demo_main

    return demo_main([])


def cmd_report(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from plugin.report import collect, parse_since, render, summarise

    settings = load_settings()
    state = load_state(settings.state_file)
    gateway = _gateway(settings, state.field_ids, budget=120)
    rows = collect(gateway, state.field_ids, parse_since(args.since, datetime.now(UTC)))
    sys.stdout.write(render(rows, summarise(rows), args.format))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from plugin.doctor import run_doctor

    if not args.live:
        return run_doctor()
    from plugin.live_check import LiveCheck

    settings = load_settings()
    if not settings.public_url:
        raise ConfigError("PUBLIC_URL is not set: the live check needs the address Zendesk calls")
    return LiveCheck(settings, load_state(settings.state_file), sys.stdout, wait_seconds=args.wait).run()


def cmd_notify_test(args: argparse.Namespace) -> int:
    """Send one test message to each ESCALATION_NOTIFY target; once all take it, forget past failures."""
    from plugin import notify
    from plugin.queue import NotificationDeliveries, notifications

    settings = check_notify_urls(load_settings())
    if not settings.notify_urls:
        raise ConfigError("ESCALATION_NOTIFY is not set: there is no notification target to test")
    events = ", ".join(event for event in notify.NOTIFY_EVENTS if event in settings.notify_events)
    title = "Test: escalation notifications"
    body = f"A test message from the escalation service for {settings.zendesk_base_url}. Notified here: {events}."
    total, failed = len(settings.notify_urls), 0
    for position, url in enumerate(settings.notify_urls, start=1):
        sent = notify.deliver(url, title, body)
        failed += not sent
        print(f"{'sent  ' if sent else 'FAILED'} target {position} of {total}: {notify.describe(url)}")
    if failed:
        return 1
    cleared = NotificationDeliveries(notifications).forget_failures()
    if cleared:
        print(f"cleared {cleared} failed notification(s) from doctor's report")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from plugin.sandbox.__main__ import main as sandbox_main

    return sandbox_main(["--port", str(args.port), "--host", args.host]) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="escalations", description="Once-only customer escalation requests for Zendesk."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "setup", help="create or update the Zendesk fields, group, webhook, triggers and views"
    ).set_defaults(run=cmd_setup)
    serve = commands.add_parser("serve", help="run the webhook service and its worker")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="gunicorn worker processes, 8 threads each (default 1)")
    serve.set_defaults(run=cmd_serve)
    doctor = commands.add_parser("doctor", help="check configuration, credentials and Zendesk objects")
    doctor.add_argument(
        "--live",
        action="store_true",
        help="run the whole loop on the account with a temporary customer and ticket, then delete them",
    )
    doctor.add_argument("--wait", type=float, default=120.0, help="seconds to wait for each step (default 120)")
    doctor.set_defaults(run=cmd_doctor)
    start = commands.add_parser("start", help="set up and serve; with no credentials in .env, against a local sandbox")
    start.add_argument("--host", default="127.0.0.1")
    start.add_argument("--port", type=int, default=8000)
    start.add_argument("--workers", type=int, default=1, help="gunicorn worker processes, 8 threads each (default 1)")
    start.add_argument("--sandbox-port", type=int, default=8089)
    start.set_defaults(run=cmd_start)
    commands.add_parser("worker", help="run only the queue worker (serve starts it for you)").set_defaults(
        run=cmd_worker
    )
    package = commands.add_parser("package-app", help="check the sidebar app and build the zip to upload")
    package.add_argument("--source", default=".", help="the app's folder (default: the current one)")
    package.add_argument("--dist", default=None, help="where to write the zip (default: SOURCE/dist)")
    package.set_defaults(run=cmd_package_app)
    theme = commands.add_parser(
        "package-theme",
        help="write the Help Center snippets for this account, to paste into your theme (escalate from a request page)",
    )
    theme.add_argument(
        "--output", default=str(Path("dist") / "help-center"), help="a folder (default: dist/help-center)"
    )
    theme.set_defaults(run=cmd_package_theme)
    commands.add_parser("demo", help="a scripted tour against the sandbox, no browser needed").set_defaults(
        run=cmd_demo
    )
    report = commands.add_parser("report", help="every escalation with its timings, and a summary")
    report.add_argument("--since", default="30d", help="30d, 12h, 2w or a date such as 2026-11-01 (default 30d)")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.set_defaults(run=cmd_report)
    commands.add_parser(
        "notify-test", help="send one test message to each notification target (ESCALATION_NOTIFY)"
    ).set_defaults(run=cmd_notify_test)
    sandbox = commands.add_parser("sandbox", help="run a local Zendesk-compatible sandbox")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8089)
    sandbox.set_defaults(run=cmd_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        logs.configure(load_log_settings(), process=args.command)
        return int(args.run(args))
    except ConfigError as error:
        print(f"escalations: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        from plugin.zendesk import ZendeskError

        if not isinstance(error, ZendeskError):
            raise
        print(f"escalations: Zendesk: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
