"""The servers a run uses, and the clean-up of what it stored on shared ones.

memcached and ZooKeeper: private servers on free ports (tests/servers.py), or the
test run's own when DURABLEDICT_MEMCACHED / DURABLEDICT_ZOOKEEPER name them.
PostgreSQL and Redis: the machine's shared servers, with a database and a key
prefix of this run's own that are removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests import servers


def _address(name: str) -> str | None:
    addr = servers.address(name)
    return f"{addr[0]}:{addr[1]}" if addr and servers.is_listening(*addr) else None


def _private(stack: contextlib.ExitStack, name: str) -> str | None:
    """The test run's server *name*, or a private one started here."""
    if os.environ.get(servers.SHARED[name][0]):
        return _address(name)
    if name == "memcached" and servers.have("memcached"):
        return stack.enter_context(servers.start_memcached(memory_mb=256)).address
    if name == "zookeeper" and servers.zookeeper_installed():
        return stack.enter_context(servers.start_zookeeper()).address
    return None


def _postgresql(stack: contextlib.ExitStack, run_id: str) -> dict[str, Any] | None:
    address = servers.address("postgresql")
    if not address or not servers.is_listening(*address):
        return None
    import psycopg

    info = {"host": address[0], "port": address[1], "user": "postgres"}
    info["name"] = f"durabledict_bench_{run_id}"
    admin = dict(host=info["host"], port=info["port"], user=info["user"])
    with psycopg.connect(**admin, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{info["name"]}"')

    def drop() -> None:
        with psycopg.connect(**admin, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{info["name"]}" WITH (FORCE)')

    stack.callback(drop)
    return info


def _forget_redis_keys(address: str, prefix: str) -> None:
    import redis

    host, port = address.rsplit(":", 1)
    client = redis.Redis(host=host, port=int(port))
    # Every key of the run contains the prefix (django-redis stores
    # "<KEY_PREFIX>:<version>:<key>"; our keyspaces start with it).
    keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    client.close()


@contextlib.contextmanager
def started(wanted: set[str]) -> Iterator[dict[str, Any]]:
    """Yield the run's context: server addresses, names and prefixes."""
    run_id = uuid.uuid4().hex[:10]
    with contextlib.ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="durabledict-bench-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        context: dict[str, Any] = {
            "run_id": run_id,
            "prefix": f"ddbench{run_id}:",
            "sqlite": str(workdir / "bench.sqlite3"),
            "memcached": "memcached" in wanted and _private(stack, "memcached"),
            "zookeeper": "zookeeper" in wanted and _private(stack, "zookeeper"),
            "redis": "redis" in wanted and _address("redis"),
            "postgresql": "postgresql" in wanted and _postgresql(stack, run_id),
        }
        if context["redis"]:
            stack.callback(_forget_redis_keys, context["redis"], context["prefix"])
        context["ports"] = {
            address.rsplit(":", 1)[1]: name
            for name in ("memcached", "redis", "zookeeper")
            if (address := context[name])
        }
        yield context


def available(context: dict[str, Any]) -> set[str]:
    names = ("memcached", "zookeeper", "redis", "postgresql")
    return {name for name in names if context.get(name)}
