"""A loopback TCP proxy a test can cut and heal, to stage network partitions.

    with TcpProxy(("127.0.0.1", server_port)) as proxy:
        client = KazooClient(proxy.address)
        proxy.cut()             # close every connection, refuse new ones
        proxy.cut("drop")       # or: connections stay open, every byte is lost
        proxy.cut("blackhole")  # or: connections stay open, bytes wait for heal()
        proxy.heal()

``"reset"`` models a server host that is down (connections fail at once).
``"drop"`` models a partition that outlasts the client's timeouts: nothing fails,
nothing arrives, and a connection that lost bytes stays useless after the heal,
so the client must notice on its own and reconnect. ``"blackhole"`` models a
short partition that TCP rides out: bytes wait and flow after :meth:`heal`.
One thread runs a selector loop over every socket; standard library only.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

_CHUNK = 65536


class TcpProxy:
    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.target = target
        self._listener = socket.create_server((host, 0))
        self._listener.setblocking(False)
        self.host, self.port = self._listener.getsockname()[:2]
        self.mode: str | None = None  # None (healthy), "reset", "drop", "blackhole"
        self.connections = 0  # accepted so far, for tests that count reconnects
        self._peers: dict[socket.socket, socket.socket | None] = {}
        self._lossy: set[socket.socket] = set()  # sockets whose bytes are dropped
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._running = True
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def cut(self, mode: str = "reset") -> None:
        """Partition the client from the server until :meth:`heal`."""
        assert mode in ("reset", "drop", "blackhole"), mode
        with self._lock:
            self.mode = mode
            if mode == "reset":
                for sock in list(self._peers):
                    self._close_pair(sock)
        self._wake()

    def heal(self) -> None:
        with self._lock:
            self.mode = None
        self._wake()

    def close(self) -> None:
        self._running = False
        self._wake()
        self._thread.join(5)
        with self._lock:
            for sock in list(self._peers):
                self._close_pair(sock)
        self._selector.close()
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- the loop ---------------------------------------------------------------

    def _wake(self) -> None:
        self._wake_w.send(b"\0")

    def _loop(self) -> None:
        while self._running:
            with self._lock:
                self._set_interest()
            for key, _events in self._selector.select(timeout=0.5):
                with self._lock:
                    self._handle(key.fileobj)

    def _set_interest(self) -> None:
        # While blackholed nothing is read, so nothing is forwarded and nothing
        # is noticed: not even a peer closing its end.
        for sock in [self._listener, *self._peers]:
            wanted = self.mode != "blackhole"
            try:
                registered = self._selector.get_key(sock) is not None
            except KeyError:
                registered = False
            if wanted and not registered:
                self._selector.register(sock, selectors.EVENT_READ)
            elif not wanted and registered:
                self._selector.unregister(sock)

    def _handle(self, sock) -> None:
        if sock is self._wake_r:
            self._wake_r.recv(_CHUNK)
        elif sock is self._listener:
            self._accept()
        elif sock in self._peers:
            self._forward(sock)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        self.connections += 1
        if self.mode == "reset":
            client.close()
            return
        client.setblocking(True)
        if self.mode == "drop":
            self._peers[client] = None
            self._lossy.add(client)
            return
        try:
            server = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()
            return
        server.setblocking(True)
        self._peers[client], self._peers[server] = server, client

    def _forward(self, sock) -> None:
        peer = self._peers[sock]
        if self.mode == "drop":  # bytes lost once: this stream stays useless
            self._lossy.update(one for one in (sock, peer) if one is not None)
        try:
            data = sock.recv(_CHUNK)
            if data:
                if sock not in self._lossy:
                    peer.sendall(data)
                return
        except OSError:
            pass
        self._close_pair(sock)

    def _close_pair(self, sock) -> None:
        peer = self._peers.pop(sock, None)
        for one in (sock, peer):
            if one is None:
                continue
            self._peers.pop(one, None)
            self._lossy.discard(one)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(one)
            one.close()
