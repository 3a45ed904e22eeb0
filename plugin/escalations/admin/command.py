"""What every admin command shares: a Zendesk gateway with the command's budget, and errors told in one line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from escalations.config import ConfigError, Settings

if TYPE_CHECKING:
    from escalations.zendesk.gateway import ZendeskGateway


def zendesk_gateway(settings: Settings, field_ids: dict[str, int] | None = None, budget: int = 60) -> ZendeskGateway:
    """A gateway for one command; Zenpy is imported only by the commands that talk to Zendesk."""
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
