"""TODO: command."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from escalations.admin.serve import reachable, cmd_healthcheck, cmd_serve, cmd_web, cmd_worker, web_settings
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


def gateway(settings: Settings, field_ids: dict[str, int] | None = None, budget: int = 60) -> ZendeskGateway:
    from escalations.zendesk.gateway import ZendeskGateway, make_client

    return ZendeskGateway(settings, field_ids or {}, make_client(settings, ratelimit_budget=budget))

def reporting(run: Callable[[], int]) -> int:
    """The status of `run`; a configuration or Zendesk error is one line on stderr, never a traceback."""
    try:
        return run()
    except ConfigError as error:
        print(f"escalations: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        from escalations.zendesk.gateway import ZendeskError

        if not isinstance(error, ZendeskError):
            raise
        print(f"escalations: Zendesk: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
