"""Helpers for the RedisDict tests: real clients, a command log, fresh keyspaces.

The command log wraps the real ``redis.Connection`` (the server is real, the
client is redis-py's own): each ``send_packed_command`` is one round trip, and
the command names sent in it are recorded.
"""

from __future__ import annotations

import uuid

import redis

from django_durabledict.backends.redis import RedisDict, recommended_client_options
from tests import servers


def new_keyspace(prefix: str = "durabledict-test") -> str:
    """A keyspace no other test or engineer uses."""
    return f"{prefix}:{uuid.uuid4().hex}"


def shared_client(decode_responses: bool = True, **options) -> redis.Redis:
    host, port = servers.address("redis")
    options = {**recommended_client_options(), **options}
    return redis.Redis(
        host=host, port=port, decode_responses=decode_responses, **options
    )


def drop(client: redis.Redis, keyspace: str) -> None:
    client.delete(keyspace, keyspace + "last_updated")


def counter(client: redis.Redis, keyspace: str) -> int | None:
    value = client.get(keyspace + "last_updated")
    return None if value is None else int(value)


class CommandLog:
    """Round trips a client made, each a list of command names."""

    def __init__(self) -> None:
        self.round_trips: list[list[str]] = []
        self._pending: list[str] = []

    def clear(self) -> None:
        self.round_trips.clear()
        self._pending.clear()

    def connection_class(self) -> type[redis.Connection]:
        log = self

        class CountingConnection(redis.Connection):
            def send_command(self, *args, **kwargs):
                log._pending.append(str(args[0]).upper())
                return super().send_command(*args, **kwargs)

            def pack_commands(self, commands):
                log._pending.extend(str(args[0]).upper() for args in commands)
                return super().pack_commands(commands)

            def send_packed_command(self, command, check_health=True):
                log.round_trips.append(log._pending[:])
                log._pending.clear()
                return super().send_packed_command(command, check_health)

        return CountingConnection


def counting_client(
    log: CommandLog, host: str, port: int, decode_responses: bool = True, **options
) -> redis.Redis:
    """A client whose round trips go to *log*; no health-check PINGs, so the
    counts are the dict's own. The connection is opened before returning."""
    options = {"health_check_interval": 0, "socket_timeout": 2, **options}
    pool = redis.ConnectionPool(
        host=host,
        port=port,
        decode_responses=decode_responses,
        connection_class=log.connection_class(),
        **options,
    )
    client = redis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True
    client.ping()
    log.clear()
    return client


def fast_fail_options(timeout: float = 0.25) -> dict:
    """The recommended client options with shorter timeouts, and no health-check
    PINGs so that round trips can be counted."""
    return {
        **recommended_client_options(),
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 0,
    }


def private_client(server: servers.Server, **options) -> redis.Redis:
    options = {"decode_responses": True, **fast_fail_options(), **options}
    return redis.Redis(host=server.host, port=server.port, **options)


def make_dict(client: redis.Redis, keyspace: str, **kwargs) -> RedisDict:
    """A dict that retries an unreachable store at every sync (no back-off), so
    fault tests need not sleep through ``retry_interval``."""
    durable = RedisDict(keyspace, client, **kwargs)
    durable.retry_interval = 0.0
    return durable


def start_cluster_node() -> servers.Server:
    """A private one-node Redis Cluster holding all 16384 slots."""
    server = servers.start_redis(
        None,
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-port",  # the default, port + 10000, may not exist
        str(servers.free_port()),
    )
    admin = redis.Redis(host=server.host, port=server.port)
    admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    ready = servers.wait_until(
        lambda: b"cluster_state:ok" in admin.execute_command("CLUSTER", "INFO"), 20
    )
    admin.close()
    if not ready:
        server.stop()
        raise RuntimeError("the one-node cluster did not reach cluster_state:ok")
    return server
