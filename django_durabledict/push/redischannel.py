"""Push over Redis pub/sub: one subscriber connection per server per process.

The writer side is a ``PUBLISH`` on the name of the dict's token key, inside the
same Lua script that changes the token (RedisDict's change scripts, the ModelDict
token bump of a Redis cache): Redis runs a script to the end before any other
client, a subscriber included, hears of it, so the message always follows the
change. Channels and keys are separate namespaces in Redis, so the token key's
name is free to use as the channel name and the scripts need no new argument.

The subscriber is a plain ``redis.Connection`` of its own, made with the settings
of the dict's client (RESP2, no retries, a short socket timeout), not a connection
of the client's pool: it is held for the life of the process and must never be
handed to a command.
"""

from __future__ import annotations

from typing import Any

from django_durabledict.push import Listener, PushState, attach

__all__ = ["RedisListener", "attach_redis", "redis_push"]


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def server_key(client: Any) -> Any:
    """Equal for clients of one server (pub/sub channels span its databases)."""
    pool = client.connection_pool
    kwargs = getattr(pool, "connection_kwargs", {})
    if "host" in kwargs or "path" in kwargs:
        return ("redis", kwargs.get("host"), kwargs.get("port"), kwargs.get("path"))
    return ("redis-pool", id(pool))  # Sentinel and other pools: one per pool


def _connection(client: Any) -> Any:
    """A new connection to the server *client* talks to, for subscribing."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    pool = client.connection_pool
    # Without redis-py 6+'s maintenance notifications: they need RESP3.
    kwargs = {
        key: value
        for key, value in pool.connection_kwargs.items()
        if not key.startswith(("maint_notifications", "oss_cluster_maint", "orig_"))
    }
    timeout = kwargs.get("socket_timeout")
    kwargs.update(
        protocol=2,  # messages as plain replies, not RESP3 pushes
        health_check_interval=0,  # the listener pings on its own schedule
        retry=Retry(NoBackoff(), 0),  # a failure ends the session, seen at once
        socket_timeout=2.0 if timeout is None else min(timeout, 2.0),
        socket_connect_timeout=min(kwargs.get("socket_connect_timeout") or 2.0, 2.0),
    )
    cls = pool.connection_class
    # A subclass of a plain connection (a test's counting one, say) is made as
    # its plain base; other classes (Sentinel's) need what the pool gives them.
    for base in (
        redis.UnixDomainSocketConnection,
        redis.SSLConnection,
        redis.Connection,
    ):
        if issubclass(cls, base) and "connection_pool" not in kwargs:
            cls = base
            break
    return cls(**kwargs)


class RedisListener(Listener):
    kind = "redis"

    def __init__(self, key: Any, client: Any) -> None:
        pool = client.connection_pool
        kwargs = pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        if "host" not in kwargs and "path" not in kwargs:
            where = getattr(pool, "service_name", None) or type(pool).__name__
        super().__init__(key, f"Redis {where}")
        self._client = client

    def session(self) -> None:
        connection = _connection(self._client)
        try:
            connection.connect()
            self.heard()
            subscribed: set[str] = set()
            pinged = 0.0
            while not self.should_stop():
                self.pulse()
                wanted = self.wanted()
                if not wanted:
                    return
                if wanted - subscribed:
                    connection.send_command("SUBSCRIBE", *sorted(wanted - subscribed))
                    subscribed |= wanted
                if subscribed - wanted:
                    gone = sorted(subscribed - wanted)
                    connection.send_command("UNSUBSCRIBE", *gone)
                    subscribed -= set(gone)
                now = self.pulse_at
                if now - pinged >= self.ping_every:
                    connection.send_command("PING")
                    pinged = now
                if connection.can_read(timeout=0.2):
                    self._handle(connection.read_response())
                elif now - self.heard_at > self.dead_after:
                    raise TimeoutError(f"no answer for {self.dead_after}s")
        finally:
            connection.disconnect()

    def _handle(self, reply: Any) -> None:
        if not isinstance(reply, list) or not reply:
            self.heard()  # PONG before the first subscription
            return
        kind = _text(reply[0])
        if kind == "message":
            self.deliver(_text(reply[1]))
        elif kind == "subscribe":
            self.confirm(_text(reply[1]))
        else:
            self.heard()  # pong, unsubscribe


def attach_redis(state: PushState, client: Any, channel: str) -> RedisListener:
    """Listen for *channel* on the server of *client*, with this process's
    listener for that server."""
    key = server_key(client)
    return attach(state, key, channel, lambda: RedisListener(key, client))


def redis_push(name: str, client: Any, channel: str, backstop: float) -> PushState:
    """The ``_push`` state of a dict announced on *channel* of *client*'s server."""
    return PushState(name, backstop, lambda state: attach_redis(state, client, channel))
