"""gunicorn's logger class for `escalations serve`, in a module of its own.

gunicorn's master process imports the logger class, so it lives apart from the
web app: the master then loads logging, not Flask and the app (about 20 MB).
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger as _GunicornLogger

from escalations.config import load_log_settings
from escalations.service import logs


class GunicornLogger(_GunicornLogger):  # type: ignore[misc]
    """gunicorn's error and access logs, and the app's own records, in the service's one log format."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        settings = load_log_settings()
        logs.configure(settings, process="web")
        logs.adopt(self.error_log, settings, process="web")
        logs.adopt(self.access_log, settings, process="web")
