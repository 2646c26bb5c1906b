"""Push invalidation: a dict is told that its store changed, and polls only then.

Without push, every ``sync()`` reads the store's token (one round trip). With push
(``PUSH: True``), a writer also announces each change on a per-dict channel *after*
the change is durable, and a reader's ``sync()`` makes no network call at all
unless a message marked the dict dirty. A :class:`PushState` per dict holds that
flag; a :class:`Listener` per server per process holds the one connection that
receives the messages, in a daemon thread that only marks dicts dirty and never
reloads anything itself.

Why plain pub/sub (``SUBSCRIBE``/``PUBLISH``) and not RESP3 client-side caching
(``CLIENT TRACKING``): tracking needs RESP3, or a RESP2 redirect connection per
client; it invalidates per *key read by a connection*, so every client connection
of the pool must be tracked and the invalidation arrives on whichever one it is; it
does not work through Sentinel's connection switching or django-redis' pool
cleanly; and it says nothing a change message does not. A PUBLISH inside the
change's own Lua script costs the writer nothing extra and works with RESP2,
Sentinel and django-redis. PostgreSQL's ``LISTEN``/``NOTIFY`` is the same idea:
the NOTIFY is issued inside the writer's transaction, so it is delivered only if
that transaction commits, and only after it has.

Messages can be lost (a dropped connection, a restarted server, a paused
process), so push never stands alone:

* until the listener has confirmed its subscription, and whenever it has not heard
  from the server for :attr:`Listener.dead_after` seconds, the dict polls at every
  sync, exactly as without push;
* on every (re)subscription each of its dicts is marked dirty, so a change made
  while the connection was down is seen at the next sync;
* while push is healthy a dict still polls at least every ``backstop`` seconds
  (``PUSH_BACKSTOP``), which bounds what a lost message can hide.

Listeners start lazily, on a dict's first sync in the process that reads (never at
import), and are forgotten in a forked child, which starts its own: gunicorn
``--preload``, uvicorn workers and Celery's prefork pool each get one connection
per server per worker. A listener stops when its last dict is closed
(``close()``, ``dicts.close_all()``) or garbage-collected.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("django_durabledict")

#: The default of ``PUSH_BACKSTOP``: seconds between polls while push is healthy.
DEFAULT_BACKSTOP = 5.0


class PushState:
    """What one dict knows of its change channel; the ``_push`` hook of base.py.

    *connect* attaches this state to a listener in the calling process and returns
    the listener, or ``None`` when the dict's store offers no channel (the dict then
    polls at every sync, as without push)."""

    def __init__(
        self,
        name: str,
        backstop: float,
        connect: Callable[[PushState], Any],
        also_mark: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.backstop = backstop
        #: Sets one more flag of the dict's own whenever it is marked dirty (in
        #: the listener thread: it must only set flags).
        self.also_mark = also_mark
        self._connect = connect
        self.listener: Any = None
        #: Set by the listener once the subscription is confirmed; cleared when the
        #: connection is lost.
        self.live = False
        self.dirty = True
        self.last_message: float | None = None  # wall-clock times, for health
        self.last_poll: float | None = None
        self._next_poll = 0.0
        self._disabled = False
        _states.add(self)

    def should_poll(self) -> bool:
        """Whether this sync must read the token. Cheap: no I/O, no lock."""
        listener = self.listener
        now = time.monotonic()
        if listener is None:
            self._start()
        elif (
            self.live
            and not self.dirty
            and now < self._next_poll
            and now - listener.heard_at < listener.dead_after
            and now - listener.pulse_at < listener.stall_after
        ):
            return False
        # Cleared *before* the caller reads the token: a message arriving during
        # that read or the reload sets it again and the next sync polls once
        # more. Cleared after the read, it could erase that message.
        self.dirty = False
        self._next_poll = now + self.backstop
        self.last_poll = time.time()
        return True

    def mark_dirty(self) -> None:
        """Make the next sync poll (a sync that could not finish its reload)."""
        self.dirty = True

    def _start(self) -> None:
        if self._disabled:
            return
        try:
            self.listener = self._connect(self)
        except Exception:
            logger.exception("%s: cannot start push; polling at every sync", self.name)
            self.listener = None
        if self.listener is None:
            self._disabled = True

    # -- Called by the listener thread: flags only ----------------------------

    def notified(self, when: float) -> None:
        self.last_message = when
        self._mark()

    def subscribed(self) -> None:
        # Dirty first: a reader that sees live must also see dirty, so a change
        # made before the subscription took effect is polled for.
        self._mark()
        self.live = True

    def _mark(self) -> None:
        if self.also_mark is not None:
            self.also_mark()
        self.dirty = True

    # -- Health and shutdown ----------------------------------------------------

    def is_live(self) -> bool:
        listener = self.listener
        now = time.monotonic()
        return bool(
            listener is not None
            and self.live
            and now - listener.heard_at < listener.dead_after
            and now - listener.pulse_at < listener.stall_after
        )

    def status(self) -> dict[str, Any]:
        """``{"live", "last_message", "last_poll", "last_heard", "backstop",
        "channel"}``; times are wall-clock (``time.time()``) or ``None``."""
        listener = self.listener
        return {
            "live": self.is_live(),
            "last_message": self.last_message,
            "last_poll": self.last_poll,
            "last_heard": None if listener is None else listener.last_heard,
            "backstop": self.backstop,
            "channel": None if listener is None else listener.kind,
        }

    def close(self) -> None:
        """Leave the listener (it stops with its last dict); poll from now on."""
        self._disabled = True
        listener, self.listener = self.listener, None
        self.live = False
        if listener is not None:
            listener.remove(self)


class Listener:
    """One connection to one server, receiving the messages of every pushed dict
    on it in this process, in a daemon thread. Subclasses implement
    :meth:`session`: connect, subscribe to :meth:`wanted`, and deliver messages
    with :meth:`confirm`, :meth:`deliver` and :meth:`heard` until it fails or
    :meth:`should_stop`."""

    kind = "?"
    #: The listener pings the server this often, and counts as dead (its dicts
    #: poll at every sync) when it has heard nothing for ``dead_after`` seconds.
    ping_every = 1.0
    dead_after = 3.0
    #: The thread passes its loop at least every 0.2 s; a longer gap means it did
    #: not run (the process was paused, or starved of the GIL), and a message may
    #: be waiting unread in its socket: its dicts poll until it runs again.
    stall_after = 1.0

    def __init__(self, key: Any, description: str) -> None:
        self.key = key
        self.description = description
        self.heard_at = float("-inf")  # monotonic
        self.pulse_at = float("-inf")  # monotonic: the thread's last loop
        self.last_heard: float | None = None  # wall-clock
        self._channels: dict[str, weakref.WeakSet[PushState]] = {}
        self._channel_of: weakref.WeakKeyDictionary[PushState, str] = (
            weakref.WeakKeyDictionary()
        )
        self._confirmed: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._down_logged = False
        self.stopped = False
        self._thread = threading.Thread(
            target=self._run, name=f"durabledict push {description}", daemon=True
        )

    # -- Dicts joining and leaving (any thread) ---------------------------------

    def add(self, state: PushState, channel: str) -> None:
        with self._lock:
            self._channels.setdefault(channel, weakref.WeakSet()).add(state)
            self._channel_of[state] = channel
            if channel in self._confirmed:
                state.subscribed()
        if not self._thread.is_alive() and not self._stop.is_set():
            with contextlib.suppress(RuntimeError):  # another thread started it
                self._thread.start()

    def remove(self, state: PushState) -> None:
        with self._lock:
            channel = self._channel_of.pop(state, None)
            if channel is not None:
                self._channels.get(channel, weakref.WeakSet()).discard(state)

    def wanted(self) -> set[str]:
        """The channels some live dict still listens to."""
        with self._lock:
            for channel in [c for c, states in self._channels.items() if not states]:
                del self._channels[channel]
                self._confirmed.discard(channel)
            return set(self._channels)

    def stop(self, wait: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(wait)

    def should_stop(self) -> bool:
        return self._stop.is_set()

    # -- Called from session() in the listener thread -----------------------------

    def heard(self) -> None:
        self.heard_at = self.pulse_at = time.monotonic()
        self.last_heard = time.time()

    def pulse(self) -> None:
        """Called at every pass of the session's loop (at least every 0.2 s)."""
        self.pulse_at = time.monotonic()

    def confirm(self, channel: str) -> None:
        """The server confirmed the subscription to *channel*: its dicts are live,
        and dirty, since a change may have been missed before."""
        self.heard()
        with self._lock:
            self._confirmed.add(channel)
            states = list(self._channels.get(channel, ()))
        for state in states:
            state.subscribed()
        if self._down_logged:
            self._down_logged = False
            logger.warning("durabledict: push from %s is back", self.description)

    def deliver(self, channel: str) -> None:
        self.heard()
        with self._lock:
            states = list(self._channels.get(channel, ()))
        now = time.time()
        for state in states:
            state.notified(now)

    # -- The thread ---------------------------------------------------------

    def session(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        delay = 0.05
        while not self._stop.is_set():
            if not self.wanted() and _retire(self):
                return
            try:
                self.session()
                delay = 0.05
            except Exception as exc:  # the thread must outlive any failure
                self._went_down(exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 1.0)
        self._went_down(None)

    def _went_down(self, exc: BaseException | None) -> None:
        with self._lock:
            self._confirmed.clear()
            states = [s for group in self._channels.values() for s in group]
        for state in states:
            state.live = False
        if exc is not None and not self._down_logged:
            self._down_logged = True
            logger.warning(
                "durabledict: lost push from %s (%s: %s); its dicts poll at every "
                "sync until it is back",
                self.description,
                type(exc).__name__,
                exc,
            )


# -- The listeners of this process --------------------------------------------

_listeners: dict[Any, Listener] = {}
_lock = threading.Lock()
_states: weakref.WeakSet[PushState] = weakref.WeakSet()


def attach(
    state: PushState, key: Any, channel: str, make: Callable[[], Listener]
) -> Listener:
    """Add *state* to the listener for server *key*, making it if needed."""
    with _lock:
        listener = _listeners.get(key)
        if listener is None or listener.stopped:
            listener = _listeners[key] = make()
        listener.add(state, channel)
    return listener


def _retire(listener: Listener) -> bool:
    """Stop *listener* if no dict wants it any more; True if it stopped."""
    with _lock:
        if listener.wanted():
            return False
        listener.stopped = True
        if _listeners.get(listener.key) is listener:
            del _listeners[listener.key]
    listener._stop.set()
    return True


def listeners() -> list[Listener]:
    """The running listeners of this process (for tests and health pages)."""
    with _lock:
        return list(_listeners.values())


def stop_all() -> None:
    """Stop every listener of this process; their dicts poll at every sync."""
    with _lock:
        found = list(_listeners.values())
        _listeners.clear()
    for listener in found:
        listener.stopped = True
        listener.stop()
    for state in list(_states):
        state.live = False
        state.listener = None


def _after_fork_in_child() -> None:
    # The parent's listener threads do not exist here and their sockets are the
    # parent's: forget them (closing would cut the parent's connections) and let
    # each dict start a listener of this process at its next sync.
    global _lock
    _lock = threading.Lock()
    _listeners.clear()
    for state in list(_states):
        state.listener = None
        state.live = False
        state.dirty = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
