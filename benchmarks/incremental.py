"""The first sync after 1 and after 100 changes, ours against the original's.

    python -m benchmarks.incremental [--redis HOST:PORT] [--zookeeper HOST:PORT]
        [--size N] [--zk-size N] [--rounds N]

Like paired.py, our dict and the original durabledict 0.9.4's live in one
process, on the same server, and take turns: a second instance of each changes
*n* keys of a store of ``--size`` keys (``--zk-size`` for ZooKeeper, whose
original reads one key per round trip), then the reader's ``sync()`` is timed.
Ours reads just the changed keys (RedisDict's change log, ZookeeperDict's
watches); the original reloads everything. The ratio is the median of the
per-pair ratios. The original's writer stores with ``persist()``: its
``__setitem__`` also reloads everything after each write, which is not what is
measured here. Needs ``durabledict==0.9.4`` importable (benchmarks/.venv has
it), Redis and, for ZooKeeper, a running server.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from benchmarks.systems.base import key_name

CHANGES = (1, 100)


def _pair(ours: tuple, theirs: tuple, changes: int, rounds: int) -> dict[str, Any]:
    """Each side is ``(reader, write, settle)``; *settle* waits until the
    reader has been told of the writes (ZooKeeper's watch events)."""
    samples: list[list[float]] = [[], []]
    for number in range(rounds + 2):  # two warm-up pairs
        for sample, (reader, write, settle) in zip(
            samples, (ours, theirs), strict=True
        ):
            for i in range(changes):
                write(key_name(i * 7 % 1000), number * 1000 + i)
            settle(reader)
            start = time.perf_counter_ns()
            reader.sync()
            if number >= 2:
                sample.append(time.perf_counter_ns() - start)
    ratios = [mine / other for mine, other in zip(*samples, strict=True)]
    return {
        "changes": changes,
        "ours_ms": statistics.median(samples[0]) / 1e6,
        "original_ms": statistics.median(samples[1]) / 1e6,
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "rounds": rounds,
    }


def _no_wait(reader: Any) -> None:
    pass


def redis_pairs(address: str, size: int, rounds: int) -> list[dict[str, Any]]:
    import redis
    from durabledict.encoding import JSONEncoding
    from durabledict.redis import RedisDict as OriginalRedisDict

    from django_durabledict.backends.redis import RedisDict

    host, port = address.rsplit(":", 1)
    client = redis.Redis(host=host, port=int(port), decode_responses=True)
    prefix = f"durabledict-bench-incremental:{uuid.uuid4().hex}:"
    ours_ks, theirs_ks = prefix + "ours", prefix + "original"
    for keyspace in (ours_ks, theirs_ks):
        for start in range(0, size, 1000):
            mapping = {key_name(i): json.dumps(i) for i in range(start, start + 1000)}
            client.hset(keyspace, mapping=mapping)
    client.incr(theirs_ks + "last_updated")
    try:
        ours = RedisDict(ours_ks, client, autosync=False)
        ours_writer = RedisDict(ours_ks, client, autosync=False)

        def original() -> Any:
            return OriginalRedisDict(
                theirs_ks, client, autosync=False, encoding=JSONEncoding
            )

        theirs, theirs_writer = original(), original()
        return [
            _pair(
                (ours, ours_writer.__setitem__, _no_wait),
                (theirs, theirs_writer.persist, _no_wait),
                changes,
                rounds,
            )
            | {"size": size}
            for changes in CHANGES
        ]
    finally:
        for keyspace in (ours_ks, theirs_ks):
            client.delete(keyspace, keyspace + "last_updated", keyspace + "changelog")
        client.close()


def _settled(token: Callable[[Any], Any]) -> Callable[[Any], None]:
    """Wait until the reader's token has moved and then stays put for 50 ms."""

    def settle(reader: Any) -> None:
        deadline = time.monotonic() + 10
        while token(reader) == reader.last_synced and time.monotonic() < deadline:
            time.sleep(0.005)
        last = token(reader)
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if token(reader) == last:
                return
            last = token(reader)

    return settle


class _BytesJSON:
    """JSON as bytes: kazoo on Python 3 stores bytes only, and the original's
    ``JSONEncoding`` returns str."""

    @staticmethod
    def encode(value: Any) -> bytes:
        return json.dumps(value).encode()

    @staticmethod
    def decode(data: bytes) -> Any:
        return json.loads(data)


def zookeeper_pairs(address: str, size: int, rounds: int) -> list[dict[str, Any]]:
    from durabledict.zookeeper import ZookeeperDict as OriginalZookeeperDict
    from kazoo.client import KazooClient

    from django_durabledict.backends.zookeeper import ZookeeperDict

    clients = [KazooClient(hosts=address) for _ in range(3)]
    for client in clients:
        client.start(timeout=30)
    root = f"/durabledict-bench-incremental/{uuid.uuid4().hex}"
    for path in (root + "/ours", root + "/original"):
        clients[0].ensure_path(path)
        for start in range(0, size, 1000):
            pending = [
                clients[0].create_async(f"{path}/{key_name(i)}", json.dumps(i).encode())
                for i in range(start, min(size, start + 1000))
            ]
            for result in pending:
                result.get()
    try:
        ours = ZookeeperDict(root + "/ours", clients[1], autosync=False)
        ours_writer = ZookeeperDict(root + "/ours", clients[2], autosync=False)
        theirs = OriginalZookeeperDict(
            root + "/original", clients[1], autosync=False, encoding=_BytesJSON
        )
        theirs_writer = OriginalZookeeperDict(
            root + "/original", clients[2], autosync=False, encoding=_BytesJSON
        )
        return [
            _pair(
                (ours, ours_writer.__setitem__, _settled(lambda d: d.last_updated())),
                (theirs, theirs_writer.persist, _settled(lambda d: d.last_updated())),
                changes,
                rounds,
            )
            | {"size": size}
            for changes in CHANGES
        ]
    finally:
        clients[0].delete(root, recursive=True)
        for client in clients:
            client.stop()
            client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.incremental")
    parser.add_argument("--redis", default="127.0.0.1:6379")
    parser.add_argument("--zookeeper", help="host:port; ZooKeeper is skipped without")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--zk-size", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args(argv)
    # The original's pickle shims on Python 3 (see systems/original.py).
    base64.encodestring = base64.encodebytes  # type: ignore[attr-defined]
    base64.decodestring = base64.decodebytes  # type: ignore[attr-defined]
    results = {"redis": redis_pairs(options.redis, options.size, options.rounds)}
    if options.zookeeper:
        results["zookeeper"] = zookeeper_pairs(
            options.zookeeper, options.zk_size, options.rounds
        )
    for backend, rows in results.items():
        for row in rows:
            print(
                f"{backend:9} {row['size']:>6,} keys, {row['changes']:>3} changed: "
                f"ours {row['ours_ms']:.2f} ms, original {row['original_ms']:.2f} ms,"
                f" ratio {row['ratio']:.3f} ({row['ratio_min']:.3f}–"
                f"{row['ratio_max']:.3f}, {row['rounds']} pairs)"
            )


if __name__ == "__main__":
    main()
