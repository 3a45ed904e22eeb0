"""The `escalations` command: setup, serve (or web and worker apart), doctor, uninstall, sandbox and the rest.

Running the service (serve, web, worker, healthcheck) is in `serve`; this module parses and dispatches.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from escalations.admin.command import reporting, zendesk_gateway
from escalations.admin.serve import cmd_healthcheck, cmd_serve, cmd_web, cmd_worker, reachable, web_settings
from escalations.config import (
    ConfigError,
    Settings,
    has_zendesk_credentials,
    load_log_settings,
    load_settings,
)
from escalations.service import logs
from escalations.zendesk.state import AccountState, after_setup
from escalations.zendesk.state_store import open_state_store, read_state

# Zenpy and the rest of the Zendesk side are imported only by the commands that talk to
# Zendesk: `serve` stays a small supervisor process.

log = logging.getLogger("escalations")


def _previous_state(settings: Settings) -> AccountState | None:
    """What the last setup stored, when it can be read: the ids it found and what it wrote."""
    with contextlib.suppress(ConfigError):
        return read_state(open_state_store(settings))
    return None


def cmd_setup(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from escalations.zendesk.installation import read_account
    from escalations.zendesk.provisioning import apply_plan, describe_plan
    from escalations.zendesk.setup_plan import plan_setup

    settings = load_settings()
    gateway = zendesk_gateway(settings)
    previous = _previous_state(settings)
    plan = plan_setup(read_account(gateway), settings, previous)
    if getattr(args, "dry_run", False):
        for line in describe_plan(plan):
            print(line)
        return 0
    state, report = apply_plan(gateway, plan, settings)
    store = open_state_store(settings)
    store.write(after_setup(state, previous, datetime.now(UTC), settings.secret_grace_seconds))
    for line in report.lines:
        print(line)
    print(f"saved      ids and signing secret: {store.where}")
    print(f"webhook    {settings.public_url}/webhooks/zendesk")
    return 0


def _confirmed(question: str, expected: tuple[str, ...] = ("y", "yes")) -> bool:
    """Ask on the terminal; True for an expected answer (no answer at all is a no)."""
    try:
        return input(question).strip().lower() in expected
    except EOFError:
        print()
        return False


def cmd_uninstall(args: argparse.Namespace) -> int:
    """Remove the service's triggers, webhook and views; keep the fields (unless asked) and the groups."""
    from escalations.admin.uninstall import MANUAL_STEPS, escalated_ticket_count, plan_uninstall, remove
    from escalations.zendesk.installation import find_installation, read_account

    settings = load_settings()
    gateway = zendesk_gateway(settings)
    found = find_installation(read_account(gateway), settings, _previous_state(settings))
    plan = plan_uninstall(found, args.delete_fields)
    where = settings.zendesk_base_url
    if not plan.removals:
        open_state_store(settings).forget()
        print(f"the escalation service is not installed on {where}: nothing to remove")
        return 0
    for removal in plan.removals:
        print(f"{'remove':<10} {removal.kind}: {removal.name}")
    for kept in plan.kept:
        print(f"{'keep':<10} {kept}")
    if args.dry_run:
        print("dry run: nothing was removed")
        return 0
    if not args.yes and not _confirmed(f"Remove these {len(plan.removals)} objects from {where}? [y/N] "):
        print("nothing was removed")
        return 1
    if args.delete_fields:
        tickets = escalated_ticket_count(gateway)
        question = (
            f"{tickets} tickets hold an escalation record in these fields; deleting the fields deletes the record "
            "for good. Type 'delete' to delete them: "
        )
        if not _confirmed(question, ("delete",)):
            print("nothing was removed")
            return 1
    for line in remove(gateway, plan):
        print(line)
    open_state_store(settings).forget()
    for kept in plan.kept:
        print(f"{'kept':<10} {kept}")
    print("left to do by hand:")
    for step in MANUAL_STEPS:
        print(f"  - {step}")
    print("'escalations setup' installs the service again; escalations recorded before still count")
    return 0


SANDBOX_ENV = {
    "ZENDESK_SUBDOMAIN": "sandbox",
    "ZENDESK_EMAIL": "admin@sandbox.test",
    "ZENDESK_API_TOKEN": "sandbox-token",
}


def cmd_start(args: argparse.Namespace) -> int:
    """Set up and serve: the real account when .env has credentials, otherwise a local sandbox."""
    from escalations.config import read_environment

    sandbox = None
    if not has_zendesk_credentials(read_environment()):
        from escalations.sandbox import SandboxServer, SandboxZendesk

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the sandbox page polls every second
        sandbox = SandboxServer(SandboxZendesk(), port=args.sandbox_port).start()
        os.environ.update(SANDBOX_ENV)
        os.environ["ZENDESK_API_URL"] = sandbox.url
        os.environ.setdefault("ESCALATIONS_DATA_DIR", str(Path("var") / "sandbox"))
        web = web_settings(args)
        os.environ["PUBLIC_URL"] = f"http://{reachable(web.host)}:{web.port}"
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

    from escalations.admin.theme_package import build_theme

    settings = load_settings()
    files = build_theme(read_state(open_state_store(settings)), settings)
    requests.put(f"{sandbox_url}/__sandbox__/hc/theme", json={"files": files}, timeout=10).raise_for_status()


def cmd_package_app(args: argparse.Namespace) -> int:
    from escalations.admin.app_package import main as package_main

    options = ["--source", args.source] + (["--dist", args.dist] if args.dist else [])
    return package_main(options)


def cmd_package_theme(args: argparse.Namespace) -> int:
    from escalations.admin.theme_package import DETAILS_SNIPPET, SNIPPET, build_theme, write_theme

    settings = load_settings()
    written = write_theme(build_theme(read_state(open_state_store(settings)), settings), Path(args.output))
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
    from escalations.admin.demo import main as demo_main

    return demo_main([])


def cmd_report(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from escalations.admin.report import collect, managers_groups, parse_since, render, summarise, summarise_by_group

    settings = load_settings()
    state = read_state(open_state_store(settings))
    gateway = zendesk_gateway(settings, state.field_ids, budget=120)
    group_of = managers_groups(gateway, state.manager_group_id, state.brand_group_ids)
    rows = collect(gateway, state.field_ids, parse_since(args.since, datetime.now(UTC)), group_of=group_of)
    sys.stdout.write(render(rows, summarise(rows), args.format, summarise_by_group(rows)))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from escalations.admin.doctor import run_doctor

    if not args.live:
        return run_doctor()
    from escalations.zendesk.live_check import LiveCheck

    settings = load_settings()
    if not settings.public_url:
        raise ConfigError("PUBLIC_URL is not set: the live check needs the address Zendesk calls")
    return LiveCheck(settings, read_state(open_state_store(settings)), sys.stdout, wait_seconds=args.wait).run()


def cmd_notify_test(args: argparse.Namespace) -> int:
    """Send one test message to each ESCALATION_NOTIFY target; once all take it, forget past failures."""
    from escalations.service import notify
    from escalations.service.queue import Queues
    from escalations.service.records import NotificationDeliveries

    settings = notify.check_notify_urls(load_settings())
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
    cleared = NotificationDeliveries(Queues.from_settings(settings).notifications).forget_failures()
    if cleared:
        print(f"cleared {cleared} failed notification(s) from doctor's report")
    return 0


def cmd_rotate_secret(args: argparse.Namespace) -> int:
    """Reset the webhook's signing secret in Zendesk and store the new one where every host reads it."""
    from datetime import UTC, datetime

    from escalations.zendesk.state_store import rotate_secret

    settings = load_settings()
    store = open_state_store(settings)
    gateway = zendesk_gateway(settings)

    def reset(webhook_id: str) -> str:
        answer = gateway.request_json("POST", f"/api/v2/webhooks/{webhook_id}/signing_secret")
        return str(answer["signing_secret"]["secret"])

    rotated = rotate_secret(store, reset, lambda: datetime.now(UTC), settings.secret_grace_seconds)
    print(f"rotated    the webhook's signing secret, stored in {store.where}")
    print("           every running host uses it within seconds; nothing to restart")
    if rotated.previous_secret_until is not None:
        print(f"           the previous secret is accepted until {rotated.previous_secret_until}")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from escalations.sandbox.__main__ import main as sandbox_main

    return sandbox_main(["--port", str(args.port), "--host", args.host]) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="escalations", description="Once-only customer escalation requests for Zendesk."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {release()}")
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser(
        "setup", help="create or update the Zendesk fields, groups, webhook, triggers and views"
    )
    setup.add_argument(
        "--dry-run", action="store_true", help="print what setup would create, update or rename; write nothing"
    )
    setup.set_defaults(run=cmd_setup)
    uninstall = commands.add_parser(
        "uninstall", help="remove the service's triggers, webhook and views (the fields and groups stay)"
    )
    uninstall.add_argument("--dry-run", action="store_true", help="print what would be removed; remove nothing")
    uninstall.add_argument("--yes", action="store_true", help="do not ask before removing")
    uninstall.add_argument(
        "--delete-fields",
        action="store_true",
        help="also delete the escalation ticket fields and the record they hold (asks again, even with --yes)",
    )
    uninstall.set_defaults(run=cmd_uninstall)
    serve = commands.add_parser("serve", help="run the webhook service and its worker")
    _web_options(serve)
    serve.set_defaults(run=cmd_serve)
    web = commands.add_parser("web", help="run only the webhook's web processes (gunicorn), without the worker")
    _web_options(web)
    web.set_defaults(run=cmd_web)
    healthcheck = commands.add_parser(
        "healthcheck", help="exit 0 when the running service answers /healthz (for Docker and other probes)"
    )
    healthcheck.add_argument(
        "--private",
        action="store_true",
        help="ask the private listener (METRICS_BIND, METRICS_PORT) instead of the webhook's port",
    )
    healthcheck.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer (default 5)")
    healthcheck.set_defaults(run=cmd_healthcheck)
    doctor = commands.add_parser("doctor", help="check configuration, credentials and Zendesk objects")
    doctor.add_argument(
        "--live",
        action="store_true",
        help="run the whole loop on the account with a temporary customer and ticket, then delete them",
    )
    doctor.add_argument("--wait", type=float, default=120.0, help="seconds to wait for each step (default 120)")
    doctor.set_defaults(run=cmd_doctor)
    start = commands.add_parser("start", help="set up and serve; with no credentials in .env, against a local sandbox")
    _web_options(start)
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
    commands.add_parser(
        "rotate-secret",
        help="reset the webhook's signing secret in Zendesk and store it for every host (no restart, no lost webhook)",
    ).set_defaults(run=cmd_rotate_secret)
    sandbox = commands.add_parser("sandbox", help="run a local Zendesk-compatible sandbox")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8089)
    sandbox.set_defaults(run=cmd_sandbox)
    return parser


def _web_options(command: argparse.ArgumentParser) -> None:
    """The web front's flags; each defaults to its environment variable, then to the value shown."""
    option = command.add_argument
    option("--host", help="the address to serve the webhook on (ESCALATIONS_HOST, default 127.0.0.1)")
    option("--port", type=_positive, help="the webhook's port (ESCALATIONS_PORT, default 8000)")
    option("--workers", type=_positive, help="gunicorn worker processes (ESCALATIONS_WEB_WORKERS, default 1)")
    option("--threads", type=_positive, help="threads per worker process (ESCALATIONS_WEB_THREADS, default 8)")
    option(
        "--timeout",
        type=_positive,
        help="seconds a silent worker process lives before gunicorn restarts it (ESCALATIONS_WEB_TIMEOUT, default 30)",
    )
    option(
        "--graceful-timeout",
        type=_positive,
        help="seconds requests in flight get when stopping (ESCALATIONS_WEB_GRACEFUL_TIMEOUT, default 10)",
    )
    option(
        "--keep-alive",
        type=_positive,
        help="seconds an idle connection stays open (ESCALATIONS_WEB_KEEPALIVE, default 2)",
    )


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {value!r}")
    return int(value)


DISTRIBUTION = "zendesk-escalations"


def release() -> str:
    """The installed package's version: the one version of the service, its app and its API description."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed: pip install .)"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> int:
        logs.configure(load_log_settings(), process=args.command)
        return int(args.run(args))

    return reporting(run)


if __name__ == "__main__":
    sys.exit(main())
