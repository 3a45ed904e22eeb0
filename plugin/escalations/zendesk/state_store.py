"""Where the account state lives, and how every process follows it without a restart.

One host keeps it in the data directory (`state.json`, mode 0600). Several
hosts sharing a Redis (REDIS_URL) keep it there, under one key, so that a
host with an empty data directory serves at once and no file holding the
signing secret is copied between machines. `escalations setup` and
`escalations rotate-secret` write it; every process reads it through
`CurrentState`, which looks again at most every REFRESH_SECONDS (a GET, or a
read of a small file) and parses it only when it changed: a new signing secret
reaches every host within seconds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

from escalations.config import ConfigError, Settings
from escalations.zendesk.state import AccountState, forget_state, rotation_begun, save_state, with_new_secret

log = logging.getLogger(__name__)

STATE_KEY = "escalations.account"
REFRESH_SECONDS = 1.0


class StoreUnreachable(ConfigError):
    """The store cannot be read or written just now (Redis down or restarting)."""


class StateStore(Protocol):
    """Where the state's JSON document is kept."""

    @property
    def where(self) -> str: ...
    @property
    def missing(self) -> str: ...
    def raw(self) -> bytes | None: ...
    def write(self, state: AccountState) -> None: ...
    def create(self, state: AccountState) -> bool: ...
    def forget(self) -> None: ...


class FileStateStore:
    """The state in a file of the data directory: one host."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        return str(self.path)

    @property
    def missing(self) -> str:
        return f"{self.path} does not exist: run 'escalations setup' first"

    def raw(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def write(self, state: AccountState) -> None:
        save_state(self.path, state)

    def create(self, state: AccountState) -> bool:
        if self.path.exists():
            return False
        self.write(state)
        return True

    def forget(self) -> None:
        """Remove the state, after an uninstall: it served a webhook that is gone."""
        forget_state(self.path)


class RedisStateStore:
    """The state under one Redis key: every host sharing the Redis reads it."""

    def __init__(self, url: str, key: str = STATE_KEY) -> None:
        import redis  # only where the state is in Redis: the client weighs more than the rest of a small process

        self.key = key
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._errors = redis.exceptions.RedisError

    @property
    def where(self) -> str:
        return f"Redis (key {self.key})"

    @property
    def missing(self) -> str:
        return f"the account state is not in Redis (key {self.key}): run 'escalations setup' first"

    def raw(self) -> bytes | None:
        with self._reached():
            value = self.client.get(self.key)
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)

    def write(self, state: AccountState) -> None:
        with self._reached():
            self.client.set(self.key, _document(state))

    def create(self, state: AccountState) -> bool:
        """Store `state` unless a state is there already (another host rebuilt it, or setup ran meanwhile)."""
        with self._reached():
            return bool(self.client.set(self.key, _document(state), nx=True))

    def forget(self) -> None:
        """Remove the state, after an uninstall: it served a webhook that is gone."""
        with self._reached():
            self.client.delete(self.key)

    @contextlib.contextmanager
    def _reached(self) -> Iterator[None]:
        try:
            yield
        except self._errors as error:
            raise StoreUnreachable(
                f"Redis at REDIS_URL cannot be reached ({error.__class__.__name__}): {error}"
            ) from None


def _document(state: AccountState) -> bytes:
    return json.dumps(state.to_dict(), sort_keys=True).encode()


def open_state_store(settings: Settings) -> StateStore:
    """Redis when REDIS_URL is set, else the data directory's state.json."""
    if settings.redis_url:
        return RedisStateStore(settings.redis_url)
    return FileStateStore(settings.state_file)


def parse_state(raw: bytes, where: str) -> AccountState:
    try:
        return AccountState.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(
            f"{where} is unreadable ({error.__class__.__name__}): run 'escalations setup' again"
        ) from None


def read_state(store: StateStore) -> AccountState:
    """The state as stored; ConfigError when there is none or the store cannot be reached."""
    raw = store.raw()
    if raw is None:
        raise ConfigError(store.missing)
    return parse_state(raw, store.where)


def read_or_rebuild(store: StateStore, rebuild: Callable[[], AccountState]) -> AccountState:
    """The state as stored; when it is gone, first `rebuild` it (from the account, reading only) and store it."""
    if store.raw() is None:
        log.warning("%s: rebuilding the account state from Zendesk (reading only)", store.missing.split(":")[0])
        if store.create(rebuild()):
            log.info("account state rebuilt and stored in %s", store.where)
    return read_state(store)


class CurrentState:
    """The account state as stored now, read again at most every `refresh` seconds and parsed when it changed.

    Calling it gives the state; `fresh=True` looks at the store at once (a
    webhook whose signature matches no known secret: a rotation may have
    stored a new one since). While the store cannot be read (Redis
    restarting, the key lost) the last state read is kept.
    """

    def __init__(
        self, store: StateStore, refresh: float = REFRESH_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.refresh = refresh
        self.clock = clock
        self._lock = threading.Lock()
        self._raw: bytes | None = None
        self._state: AccountState | None = None
        self._read_at = -float("inf")

    def __call__(self, fresh: bool = False) -> AccountState:
        state = self._state
        if state is not None and not fresh and self.clock() - self._read_at < self.refresh:
            return state
        with self._lock:
            return self._read()

    def _read(self) -> AccountState:
        try:
            raw = self.store.raw()
        except StoreUnreachable as error:
            if self._state is None:
                raise
            log.warning("%s; keeping the account state read before", error)
            return self._state
        self._read_at = self.clock()
        if raw is None:
            if self._state is None:
                raise ConfigError(self.store.missing)
            log.warning("%s; keeping the one read before", self.store.missing.split(":")[0])
            return self._state
        if raw != self._raw or self._state is None:
            self._state, self._raw = parse_state(raw, self.store.where), raw
        return self._state


def rotate_secret(
    store: StateStore, reset: Callable[[str], str], now: Callable[[], datetime], grace_seconds: float
) -> AccountState:
    """Reset the webhook's signing secret in Zendesk (`reset`: webhook id → the new secret) and store it, keeping
    the previous one accepted for `grace_seconds`.

    The state says a rotation is under way before Zendesk is asked: a delivery
    signed with the new secret before it is stored is then asked to come again
    (503) instead of being refused. Should the reset fail, the state is put back.
    """
    state = read_state(store)
    store.write(rotation_begun(state, now()))
    try:
        secret = reset(state.webhook_id)
    except BaseException:
        store.write(state)
        raise
    rotated = with_new_secret(state, secret, now(), grace_seconds)
    store.write(rotated)
    return rotated
