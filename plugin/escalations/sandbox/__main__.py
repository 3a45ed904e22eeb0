"""Run the Zendesk sandbox in the foreground: ``python -m escalations.sandbox --port 8089``."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from escalations.sandbox.server import SandboxServer
from escalations.sandbox.zendesk import SandboxZendesk

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(port: int, host: str = "127.0.0.1", state_file: Path | None = None) -> None:
    """Serve a sandbox account until Ctrl-C, loading and saving `state_file`."""
    saved = state_file is not None and state_file.exists()
    zendesk = SandboxZendesk(seed=not saved)
    if state_file is not None and saved:
        zendesk.import_state(json.loads(state_file.read_text()))
    server = SandboxServer(zendesk, host=host, port=port).start()
    print(f"Zendesk sandbox (a local stand-in, not Zendesk) at {server.url}", flush=True)
    if host not in LOOPBACK:
        print("Warning: the /__sandbox__/ endpoints need no credentials; keep off shared networks.", flush=True)
    print(f"API user: {zendesk.email}/token  API token: {zendesk.api_token}", flush=True)
    customer = next(iter(zendesk.users(roles=["end-user"])), None)
    if customer is not None:
        print(f"The token acts as any verified user too, e.g. {customer['email']}/token (a customer).", flush=True)
    print(f"For Zenpy: ZENPY_FORCE_SCHEME=http ZENPY_FORCE_NETLOC={server.url.removeprefix('http://')}", flush=True)
    print(f"Customers' view (Help Center): {server.url}/hc/", flush=True)
    print(f"Open {server.url}/ to comment as a customer or an agent. Ctrl-C to stop.", flush=True)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("Stopping the sandbox.", flush=True)
    finally:
        server.stop()
        if state_file is not None:
            state_file.write_text(json.dumps(zendesk.export_state(), indent=2))
            print(f"Saved the sandbox's state to {state_file}", flush=True)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    """Stop on SIGTERM as on Ctrl-C, so the state is still saved."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m escalations.sandbox",
        description="Run a local Zendesk sandbox for trying the escalations app without a Zendesk account.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port to listen on (default 8089)")
    parser.add_argument("--state", type=Path, help="JSON file to load the sandbox from and save it to on exit")
    args = parser.parse_args(argv)
    serve(args.port, args.host, args.state)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
