"""Where a ModelDict gets the token it compares on every sync.

Two sources, checked in this order:

1. the *backstop*: every ``interval`` seconds (jittered down by up to 25 %, so
   processes started together spread out), one query compares the database's own
   version of the dict with the version its snapshot was loaded at. A bump that never
   reached the cache (a writer killed between commit and its on-commit hook, a
   restarted or flushed cache, a client that swallowed an error) is therefore seen
   within ``interval`` seconds. One query per dict per interval, whatever the number
   of threads: the thread that finds it due takes a lock without waiting, the others
   skip it.
2. the *hint* in the cache (:class:`CacheToken`): one round trip. When the cache
   fails, the hint is "unknown" and the caller keeps its snapshot; the cache is tried
   again after ``retry_interval`` seconds, so an outage costs at most one client
   timeout per interval. One warning when an outage starts, one line when it ends,
   and one reload when it ends: bumps made during the outage may be lost.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from django_durabledict.backends.cachetoken import (
    CacheToken,
    client_errors,
    failed_bumps,
    retry_failed_bumps,
)

logger = logging.getLogger("django_durabledict")


class TokenWatch:
    """The backstop schedule and the cache circuit breaker of one dict."""

    def __init__(
        self,
        owner: Any,
        token: CacheToken,
        db_version: Callable[[], Any] | None,
        interval: float | None,
    ) -> None:
        self.owner = owner  # for log lines and retry_interval
        self.token = token
        #: Reads the database's version; None when the table has none, in which
        #: case the backstop simply reloads every interval.
        self.db_version = db_version
        self.interval = interval
        #: The database version the process-wide snapshot was loaded at.
        self.loaded_version: Any = None
        #: Wall-clock time the cache stopped answering, None while it answers.
        self.unavailable_since: float | None = None
        self._retry_at = 0.0
        self._answering_since: float | None = None
        self._backstop_lock = threading.Lock()
        self._health_lock = threading.Lock()
        self._next_backstop = self._schedule()

    # -- The backstop ---------------------------------------------------------

    def _schedule(self) -> float:
        if self.interval is None:
            return float("inf")
        return time.monotonic() + self.interval * random.uniform(0.75, 1.0)

    def backstop_says_changed(self) -> bool:
        """True when the backstop is due and the database moved since the load."""
        if time.monotonic() < self._next_backstop:
            return False
        if not self._backstop_lock.acquire(blocking=False):
            return False  # another thread is checking right now
        try:
            if time.monotonic() < self._next_backstop:
                return False  # another thread checked while we got here
            self._next_backstop = self._schedule()
            if self.db_version is None:
                return True
            return self.db_version() != self.loaded_version
        finally:
            self._backstop_lock.release()

    def backstop_now(self) -> None:
        """Make the next sync check the database (for tests and after an outage)."""
        self._next_backstop = 0.0

    # -- The hint in the cache ------------------------------------------------

    def hint(self, unknown: Any) -> Any:
        """The cache token, seeding a missing one; *unknown* when the cache cannot
        tell (it failed now or within the last ``retry_interval`` seconds)."""
        if time.monotonic() < self._retry_at:
            return unknown
        try:
            value = self.token.read()
            if value is None:
                # Missing means "changed": evicted, flushed or never set. A fresh
                # random value differs from whatever any reader holds (rule 4).
                value = self.token.seed()
        except client_errors() as exc:
            self._failed(exc)
            return unknown
        if failed_bumps():
            retry_failed_bumps()  # this process's bumps the outage swallowed
        if self.unavailable_since is not None and self._answered():
            # A bump made during the outage may be lost (the token may even be
            # unchanged, after a pause): reload once rather than trust it.
            return Reload(value)
        return value

    def _failed(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + self.owner.retry_interval
        with self._health_lock:
            self._answering_since = None
            if self.unavailable_since is not None:
                return  # the same outage, or a client flapping after it
            self.unavailable_since = time.time()
        logger.warning(
            "%s: cannot read its version token %r from the cache (%s: %s); serving "
            "the values loaded last, retrying the cache every %ss and checking the "
            "database every %ss",
            self.owner,
            self.token.key,
            type(exc).__name__,
            exc,
            self.owner.retry_interval,
            self.interval,
        )

    def _answered(self) -> bool:
        """Record an answer during an outage; True for the first after a failure.

        The outage is over (and logged as such) only once the cache has answered
        for ``retry_interval`` seconds: clients such as pymemcache flap for a while
        after a server comes back, and that is still the same outage."""
        now = time.monotonic()
        with self._health_lock:
            first = self._answering_since is None
            if first:
                self._answering_since = now
                return True
            if now - self._answering_since < self.owner.retry_interval:
                return False
            since, self.unavailable_since = self.unavailable_since, None
            self._answering_since = None
        if since is not None:
            logger.warning(
                "%s: the cache answers again after %.1fs",
                self.owner,
                time.time() - since,
            )
        return False


class Reload:
    """A token that forces one reload: it equals nothing, and ``value`` is the
    token actually read (before the rows, as always)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def unwrap(token: Any) -> Any:
    return token.value if isinstance(token, Reload) else token
