"""Counting what a request sends over the wire, at the socket or client level.

* memcached and Redis: every ``socket.sendall`` to their ports. One command, or
  one pipeline, is one send followed by one reply: one round trip. This counts
  every client alike (pymemcache, redis-py under django-redis, Django's own Redis
  cache, constance, the original durabledict).
* ZooKeeper: every request kazoo queues (``KazooClient._call``); its own pings
  are not requests.
* SQL: every statement through Django's ``execute_wrapper``.
* Connections: TCP connects to those ports, and Django DB connections opened.

Only calls made by the thread that runs the requests are counted per request;
calls from other threads (kazoo's watch handlers) are counted as ``background``.
These counts do not depend on the machine, unlike the timings.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from typing import Any

SERVICES = ("memcached", "redis", "zookeeper")


class RoundTripCounter:
    """Install with :meth:`install`; read and reset with :meth:`take`."""

    def __init__(self, ports: dict[int, str]) -> None:
        self.ports = ports  # server port -> service name
        self.counts: Counter[str] = Counter()
        self.thread = threading.get_ident()
        self.active = False

    def _add(self, what: str) -> None:
        if not self.active:
            return
        if threading.get_ident() == self.thread:
            self.counts[what] += 1
        else:
            self.counts["background"] += 1

    def _service(self, sock: socket.socket) -> str | None:
        try:
            peer = sock.getpeername()
        except OSError:
            return None
        return self.ports.get(peer[1]) if isinstance(peer, tuple) else None

    def install(self) -> None:
        """Wrap the socket class, kazoo and Django's DB connections. Once."""
        counter = self
        sendall, connect = socket.socket.sendall, socket.socket.connect

        def counted_sendall(sock: socket.socket, *args: Any, **kwargs: Any):
            service = counter._service(sock)
            if service in ("memcached", "redis"):
                counter._add(service)
            return sendall(sock, *args, **kwargs)

        def counted_connect(sock: socket.socket, address: Any) -> Any:
            if isinstance(address, tuple) and address[1] in counter.ports:
                counter._add("connects")
            return connect(sock, address)

        socket.socket.sendall = counted_sendall  # type: ignore[method-assign]
        socket.socket.connect = counted_connect  # type: ignore[method-assign]
        self._install_kazoo()
        self._install_django()

    def _install_kazoo(self) -> None:
        try:
            from kazoo.client import KazooClient
        except ImportError:
            return
        call, counter = KazooClient._call, self

        def counted_call(client: Any, request: Any, async_object: Any) -> Any:
            counter._add("zookeeper")
            return call(client, request, async_object)

        KazooClient._call = counted_call  # type: ignore[method-assign]

    def _install_django(self) -> None:
        from django.db import connections
        from django.db.backends.signals import connection_created

        def count_query(execute, sql, params, many, context):
            self._add("queries")
            return execute(sql, params, many, context)

        for alias in connections:
            connections[alias].execute_wrappers.append(count_query)
        connection_created.connect(self._db_connected, weak=False)

    def _db_connected(self, sender: Any, connection: Any, **kwargs: Any) -> None:
        self._add("connects")

    def start(self) -> None:
        self.counts.clear()
        self.active = True

    def take(self) -> dict[str, int]:
        """The counts since :meth:`start`, and stop counting."""
        self.active = False
        counts = dict(self.counts)
        self.counts.clear()
        return counts


def per_request(counter: RoundTripCounter, request, times: int) -> list[dict[str, int]]:
    """Count *times* requests one by one."""
    results = []
    for _ in range(times):
        counter.start()
        request()
        results.append(counter.take())
    return results


def summarize(samples: list[dict[str, int]], database: str | None) -> dict[str, Any]:
    """One dict of counts per request when all samples agree, else the range.

    ``network`` adds every round trip that leaves the process: cache and Redis
    sends, ZooKeeper requests, and SQL statements unless the database is SQLite."""
    names = ["queries", *SERVICES, "connects", "background"]
    result: dict[str, Any] = {}
    for name in names:
        result[name] = _agreed([sample.get(name, 0) for sample in samples])
    networked = [*SERVICES] + (["queries"] if database == "postgresql" else [])
    totals = [sum(sample.get(name, 0) for name in networked) for sample in samples]
    result["network"] = _agreed(totals)
    return result


def _agreed(values: list[int]) -> int | list[int]:
    return values[0] if len(set(values)) == 1 else [min(values), max(values)]
