"""The processes of test_zookeeper_history.py (multiprocessing "spawn").

Before each sync or write a process asks the server for the newest zxid it has
committed (the ``srvr`` four-letter command): the floor, every change acknowledged
before the operation began. A reader then calls ``sync(root)`` on its client and
waits for the watch events that brings, as ZooKeeper promises a reader sees a
change once its event arrives, not at the instant the write returns.
"""

from __future__ import annotations

import random
import socket
from typing import Any

from kazoo.client import KazooClient

from django_durabledict.backends.zookeeper import ZookeeperDict

KEYS = [f"k{i}" for i in range(8)]


def committed_zxid(host: str, port: int) -> int:
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"srvr")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    line = next(line for line in reply.decode().splitlines() if line.startswith("Zxid"))
    return int(line.split(":")[1].strip(), 16)


class CountingDict(ZookeeperDict):
    """Counts its reloads: ``incremental`` (what the watches named) and ``full``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.loads = {"incremental": 0, "full": 0}
        super().__init__(*args, **kwargs)

    def _load_changes(self, since: Any):
        changes = super()._load_changes(since)
        self.loads["incremental"] += changes is not None
        return changes

    def _load(self, token: Any):
        self.loads["full"] += 1
        return super()._load(token)


def _write(durable: ZookeeperDict, rng: random.Random) -> bool:
    """One random change; True for a sync or a change that always writes."""
    key, roll = rng.choice(KEYS), rng.random()
    value = rng.choice([rng.randrange(100), f"s{rng.randrange(100)}", None])
    if roll < 0.45:
        durable[key] = value
        return True
    if roll < 0.65:
        return durable.pop(key, None) is not None
    if roll < 0.75:
        durable.setdefault(key, value)
        return False
    if roll < 0.85:
        durable.update({k: rng.randrange(100) for k in rng.sample(KEYS, 2)})
        return True
    if roll < 0.95:
        updates = {k: rng.randrange(100) for k in rng.sample(KEYS, 2)}
        durable._apply(updates, [k for k in rng.sample(KEYS, 2) if k not in updates])
        return True
    if roll < 0.98:
        durable.sync()
        return False  # a sync is not told of others' changes before their events
    durable.clear()
    return False


def run(role: str, host: str, port: int, root: str, seed: int, operations: int):
    """*operations* writes (role "writer") or syncs ("reader"); the observations
    ``(floor zxid or -1, token zxid, values)`` and the counts of reloads."""
    rng = random.Random(seed)
    client = KazooClient(hosts=f"{host}:{port}")
    client.start(timeout=30)
    durable = CountingDict(root, client, autosync=False)
    seen = []
    for _ in range(operations):
        floor = committed_zxid(host, port)
        if role == "writer":
            if not _write(durable, rng):
                floor = -1  # changed nothing: only values and order are checked
        else:
            client.sync(root)
            durable._link.flush_events()
            durable.sync()
        seen.append((floor, durable.last_synced.zxid, dict(durable._stored)))
    client.stop()
    client.close()
    return seen, durable.loads
