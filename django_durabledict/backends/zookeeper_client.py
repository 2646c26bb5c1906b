"""kazoo, imported only when a ZookeeperDict is built; the client options we
recommend; and :class:`ClientLink`, one dict's view of a kazoo client's connection.

Nothing here imports kazoo at module import time, so ``import
django_durabledict.backends.zookeeper`` works (and the system checks can report
the problem) on a machine without kazoo.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from django_durabledict.backends.znode import validate_path

if TYPE_CHECKING:  # kazoo is imported only when a dict is built
    from kazoo.client import KazooClient

#: Merged under ``CLIENT_OPTIONS`` for clients a ZookeeperDict builds itself.
#:
#: ``connection_retry``: kazoo's default backoff grows to one hour between
#: reconnection attempts, so a worker cut off for 10 s waited about 12 s after the
#: network healed. Capping the delay at 1 s (±40 % jitter) brings that under 2 s,
#: at about one attempt per second per client while an ensemble is down.
#: ``max_tries=-1``: never give up (a client that gives up stays dead).
#:
#: ``command_retry``: how often one operation is retried after a connection loss;
#: bounded, so a write to an unreachable ensemble raises instead of hanging.
#:
#: ``timeout``: the session timeout (kazoo's default). A silent connection is
#: noticed after about two thirds of it, and a connection attempt that gets no
#: answer is abandoned after it divided by the number of hosts.
RECOMMENDED_CLIENT_OPTIONS: dict[str, Any] = {
    "timeout": 10.0,
    "connection_retry": {
        "max_tries": -1,
        "delay": 0.1,
        "backoff": 2,
        "max_delay": 1.0,
        "max_jitter": 0.4,
    },
    "command_retry": {
        "max_tries": 3,
        "delay": 0.1,
        "backoff": 2,
        "max_delay": 1.0,
        "max_jitter": 0.4,
    },
}

#: Backend keyword arguments a DURABLEDICTS entry may give in OPTIONS.
BACKEND_OPTIONS = frozenset({"acl", "operation_timeout"})


class ZookeeperUnavailable(ConnectionError):
    """The client is not connected to ZooKeeper, and did not reconnect in time.

    An ``OSError``, so reads serve their snapshot; kazoo's retry does not retry it,
    so a read never waits for a reconnection."""


@functools.cache
def kazoo() -> SimpleNamespace:
    """The kazoo names the backend uses; ``ImproperlyConfigured`` without kazoo."""
    try:
        from kazoo import exceptions
        from kazoo.client import KazooClient
        from kazoo.handlers.threading import KazooTimeoutError
        from kazoo.protocol.states import Callback, KazooState, KeeperState
        from kazoo.retry import ForceRetryError, RetryFailedError
    except ImportError:
        raise ImproperlyConfigured(
            "ZookeeperDict needs kazoo: pip install django-durabledict[zookeeper]"
        ) from None
    return SimpleNamespace(
        exceptions=exceptions,
        Callback=Callback,
        KazooClient=KazooClient,
        KazooState=KazooState,
        KeeperState=KeeperState,
        ForceRetryError=ForceRetryError,
        # "ZooKeeper cannot be reached now": reads serve their snapshot meanwhile.
        unavailable_errors=(
            exceptions.ConnectionLoss,
            exceptions.SessionExpiredError,  # includes ConnectionClosedError
            exceptions.OperationTimeoutError,
            RetryFailedError,
            KazooTimeoutError,
        ),
    )


def make_client(
    hosts: str | list[str], options: Mapping[str, Any] | None = None
) -> KazooClient:
    """A new, unstarted ``KazooClient`` for *hosts*, with *options* (KazooClient
    keyword arguments) merged over :data:`RECOMMENDED_CLIENT_OPTIONS`."""
    return kazoo().KazooClient(
        hosts=hosts, **{**RECOMMENDED_CLIENT_OPTIONS, **(options or {})}
    )


class ClientLink:
    """One dict's view of a kazoo client: a state listener, and bounded waits.

    *on_connected* and *on_lost(state)* are called on kazoo's connection thread;
    they must only record (or spawn), never call ZooKeeper."""

    def __init__(
        self,
        client: KazooClient,
        timeout: float,
        on_connected: Callable[[], None],
        on_lost: Callable[[str], None],
    ) -> None:
        self.client = client
        self.timeout = timeout
        self._on_connected = on_connected
        self._on_lost = on_lost
        self._live = threading.Event()
        self._live_lock = threading.Lock()
        self._callback_thread: int | None = None

    def open(self) -> None:
        """Listen, start the client if it is not started, and wait up to
        ``timeout`` for a connection. Never raises because ZooKeeper is down: the
        client keeps trying in the background."""
        self.client.add_listener(self._on_state)
        self._refresh()
        if self.client.client_state == kazoo().KeeperState.CLOSED:
            self.client.start_async()
        self._queue_marker(threading.Event())  # learn kazoo's callback thread
        self._live.wait(self.timeout)

    def close(self, stop_client: bool) -> None:
        self.client.remove_listener(self._on_state)
        if stop_client:
            self.client.stop()
            self.client.close()

    @property
    def connected(self) -> bool:
        return self.client.connected

    def wait_connected(self, timeout: float) -> None:
        """Return once connected; ``ZookeeperUnavailable`` after *timeout* s."""
        if self.client.connected:
            return
        if not (self._live.wait(timeout) and self.client.connected):
            raise ZookeeperUnavailable("not connected to ZooKeeper")

    def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a kazoo ``*_async`` method once connected and wait for its reply.

        Never hand kazoo a request while disconnected: it would queue it until a
        reconnection, however late, and send it then."""
        self.wait_connected(self.timeout)
        return self.wait(method(*args, **kwargs))

    def wait(self, result: Any) -> Any:
        return result.get(timeout=self.timeout)

    def flush_events(self) -> None:
        """Return once kazoo has run every watch callback it has received.

        ZooKeeper sends a watch event before the reply to the write that fired it,
        on the same connection; so after a write and this call, every dict on this
        client has seen its watch fire. A write made from a watch callback skips
        the wait, which would wait for itself."""
        if threading.get_ident() != self._callback_thread:
            done = threading.Event()
            self._queue_marker(done)
            done.wait(self.timeout)

    def _queue_marker(self, done: threading.Event) -> None:
        def marker() -> None:
            self._callback_thread = threading.get_ident()
            done.set()

        self.client.handler.dispatch_callback(kazoo().Callback("flush", marker, ()))

    def spawn(self, func: Callable[[], None]) -> None:
        self.client.handler.spawn(func)

    def _refresh(self) -> None:
        with self._live_lock:  # read and record together, or a flip is lost
            if self.client.connected:
                self._live.set()
            else:
                self._live.clear()

    def _on_state(self, state: str) -> None:
        # kazoo's connection thread: anything that talks to ZooKeeper from here
        # would block the connection itself.
        self._refresh()
        if state == kazoo().KazooState.CONNECTED:
            self._on_connected()
        else:
            self._on_lost(state)


def config_problems(name: str, config: Mapping[str, Any]) -> list[str]:
    """What is wrong with a DURABLEDICTS entry for ZookeeperDict."""
    problems = []
    try:
        kazoo()
    except ImproperlyConfigured as exc:
        problems.append(f"{exc}.")
    hosts = config.get("HOSTS")
    if not hosts or not isinstance(hosts, (str, list)):
        problems.append(
            "HOSTS must be a ZooKeeper connection string such as "
            "'zk1:2181,zk2:2181,zk3:2181'."
        )
    path = config.get("PATH") or f"/durabledict/{name}"
    try:
        validate_path(path)
    except ValueError as exc:
        problems.append(f"PATH is not usable: {exc}.")
    if not isinstance(config.get("CLIENT_OPTIONS", {}), Mapping):
        problems.append("CLIENT_OPTIONS must be a dict of KazooClient arguments.")
    options = config.get("OPTIONS", {})
    unknown = (
        sorted(set(options) - BACKEND_OPTIONS) if isinstance(options, Mapping) else []
    )
    if unknown:
        problems.append(
            f"OPTIONS has unknown keys {unknown}; ZookeeperDict takes "
            f"{sorted(BACKEND_OPTIONS)}."
        )
    return problems
