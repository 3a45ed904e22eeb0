"""Running the service: `serve` supervises gunicorn and the queue worker; `web`, `worker` and `healthcheck` apart.

`serve` stays a small supervisor process: Zenpy and the rest of the Zendesk side are imported only where a
command talks to Zendesk.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType

from escalations.admin.command import reporting, zendesk_gateway
from escalations.config import (
    Settings,
    WebSettings,
    load_private_listener_settings,
    load_settings,
    load_web_settings,
)
from escalations.zendesk.state import AccountState
from escalations.zendesk.state_store import open_state_store, read_or_rebuild, read_state

log = logging.getLogger("escalations")


# gunicorn's access log, after the time, level and logger every line starts with: who, what, the answer,
# how long it took, and the webhook invocation it answered.
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms invocation=%({x-zendesk-webhook-invocation-id}i)s'


def web_settings(args: argparse.Namespace) -> WebSettings:
    """The web front's settings from the environment, each overridden by its flag when given."""
    flags = {
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "threads": args.threads,
        "timeout": args.timeout,
        "graceful_timeout": args.graceful_timeout,
        "keepalive": args.keep_alive,
    }
    return replace(load_web_settings(), **{name: value for name, value in flags.items() if value is not None})


def gunicorn_command(web: WebSettings, log_level: str) -> list[str]:
    """gunicorn serving the web app as `web` says, logging in the service's one format."""
    host = f"[{web.host}]" if ":" in web.host else web.host
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "escalations.service.web:create_app()",
        "--bind",
        f"{host}:{web.port}",
        "--workers",
        str(web.workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(web.threads),
        "--timeout",
        str(web.timeout),
        "--graceful-timeout",
        str(web.graceful_timeout),
        "--keep-alive",
        str(web.keepalive),
        "--access-logfile",
        "-",
        "--access-logformat",
        ACCESS_LOG_FORMAT,
        "--logger-class",
        "escalations.service.gunicorn_logging.GunicornLogger",
        "--no-control-socket",
        "--log-level",
        log_level.lower(),
    ]


def metrics_dir() -> tempfile.TemporaryDirectory[str]:
    """An empty folder, removed at the end, that every process of this service counts its metrics into; /metrics
    adds them up. A temporary one of its own, never in the data directory: containers or hosts sharing that
    directory would mix their processes' counts."""
    return tempfile.TemporaryDirectory(prefix="escalations-metrics-")


STOP_SECONDS = 30  # how long the processes get to finish their work in flight before they are killed


def supervise(commands: Sequence[Sequence[str]], environment: dict[str, str]) -> int:
    """Run the commands side by side until SIGTERM or Ctrl-C, or until one of them stops; then stop the others
    with SIGTERM, which lets each finish its work in flight. 0 after a signal, 1 when a process stopped."""
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    children = [subprocess.Popen(list(command), env=environment) for command in commands]
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
    deadline = time.monotonic() + STOP_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return status


def account_state(settings: Settings) -> AccountState:
    """The stored account state; with Redis, rebuilt first by reading the account when the shared copy is gone."""
    store = open_state_store(settings)
    if not settings.redis_url:
        return read_state(store)
    from escalations.zendesk.provisioning import recover_state

    return read_or_rebuild(store, lambda: recover_state(zendesk_gateway(settings), settings))


def _in_a_child(work: Callable[[], object]) -> None:
    """Run `work` in a child process and raise SystemExit with its status if it fails (its message printed).

    For work that loads more than a supervisor needs (Redis's client, Zenpy):
    `serve` and `web` keep only what they need to start and stop the others.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        status = 1
        try:
            status = reporting(lambda: (work(), 0)[1])
        except BaseException:
            log.exception("the account state could not be checked")
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    _, wait_status = os.waitpid(child, 0)
    status = os.waitstatus_to_exitcode(wait_status)
    if status != 0:
        raise SystemExit(status)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run gunicorn and the queue worker side by side; stop both cleanly on SIGTERM or Ctrl-C.

    The worker serves the private listener (/metrics, /readyz) for both: its
    page adds up every process's metrics from the shared folder.
    """
    from escalations.service.notify import check_notify_urls  # Apprise, loaded only where the URLs are used

    settings = check_notify_urls(load_settings())
    _in_a_child(lambda: account_state(settings))  # with Redis, rebuilt here first if the shared copy is gone
    web = web_settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with metrics_dir() as counts:
        environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": counts}
        log.info("serving on http://%s:%s (webhook: /webhooks/zendesk)", web.host, web.port)
        worker = [sys.executable, "-m", "escalations.admin.cli", "worker"]
        return supervise([gunicorn_command(web, settings.log_level), worker], environment)


def cmd_web(args: argparse.Namespace) -> int:
    """Run gunicorn alone (the worker runs elsewhere), with the private listener for its processes' metrics."""
    from escalations.service.private_listener import start_private_listener

    settings = load_settings()
    _in_a_child(lambda: account_state(settings))
    web = web_settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with metrics_dir() as counts:
        listener = start_private_listener(settings, Path(counts))
        try:
            log.info("serving the webhook on http://%s:%s/webhooks/zendesk", web.host, web.port)
            environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": counts}
            return supervise([gunicorn_command(web, settings.log_level)], environment)
        finally:
            listener.stop()


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Exit 0 when /healthz answers 200: the webhook's port, or with --private the private listener's."""
    import urllib.error
    import urllib.request

    if args.private:
        listener = load_private_listener_settings()
        host, port = listener.bind, listener.port
    else:
        web = load_web_settings()
        host, port = web.host, web.port
    url = f"http://{reachable(host)}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as answer:
            healthy = answer.status == 200
    except (urllib.error.URLError, OSError) as error:
        print(f"escalations: {url}: {getattr(error, 'reason', error)}", file=sys.stderr)
        return 1
    if not healthy:
        print(f"escalations: {url} answered {answer.status}", file=sys.stderr)
    return 0 if healthy else 1


def reachable(host: str) -> str:
    """The address to call a listener bound to `host` on from this machine."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def cmd_worker(args: argparse.Namespace) -> int:
    from escalations.service.private_listener import start_private_listener
    from escalations.service.runtime import service_queues
    from escalations.service.worker import main as worker_main

    listener = start_private_listener(load_settings(), queues=service_queues())
    try:
        worker_main()
    finally:
        listener.stop()
    return 0
