"""RedisDict: a DurableDict kept in one Redis hash, in the original's layout.

The values live in a hash at ``keyspace`` (field = key, value = encoded value) and
the version token in a counter at ``keyspace + "last_updated"``, as in Disqus's
durabledict, so its stores can be read and shared in place. Every change runs one
Lua script that changes the data and the counter together, so no reader can see
one without the other, and appends the keys it changed to a bounded change log
(a stream at ``keyspace + "changelog"``), from which a sync after a few changes
reads just those keys (see redis_scripts.py).

redis-py is imported when a dict is built, not when this module is imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_durabledict.backends.redis_client import (
    check_cache_alias,
    django_redis_client,
    import_redis,
    recommended_client_options,
)
from django_durabledict.backends.redis_scripts import (
    CONFLICT,
    DEFAULT_CHANGELOG_LENGTH,
    ChangeScripts,
    fresh_seed,
)
from django_durabledict.base import _MISSING, DurableDict
from django_durabledict.encoding import DefaultEncoding
from django_durabledict.push import DEFAULT_BACKSTOP
from django_durabledict.push.config import push_kwargs, push_problems
from django_durabledict.push.redischannel import redis_push

__all__ = ["RedisDict", "recommended_client_options"]

#: Scripts a checked changeset sends while other keys keep changing meanwhile.
CHECK_ATTEMPTS = 10


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _maybe_text(value: Any) -> Any:
    try:
        return _text(value)
    except UnicodeDecodeError:
        return value  # a binary encoding's bytes


def _counter_key(keyspace: str, counter_key: str | None) -> str:
    if not keyspace or not isinstance(keyspace, str):
        raise ValueError(f"RedisDict keyspace must be a non-empty str: {keyspace!r}")
    counter_key = counter_key or keyspace + "last_updated"
    if counter_key == keyspace:
        raise ValueError("RedisDict counter_key must differ from the keyspace")
    return counter_key


def _log_length(length: int) -> int:
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise ValueError(f"RedisDict changelog_length must be an int >= 0: {length!r}")
    return length


class RedisDict(DurableDict):
    """A DurableDict stored in the Redis hash ``keyspace``.

    ``connection`` is a synchronous redis-py client (``Redis``, a Sentinel
    ``master_for`` client or ``RedisCluster``), made with ``decode_responses`` on
    or off: keys come back as ``str`` either way, and keys must be ``str``. The
    counter is ``keyspace + "last_updated"`` unless ``counter_key`` is given.

    ``changelog_length``: change-log entries kept (one per change; default
    1,000), in a stream at ``keyspace + "changelog"``. A sync whose snapshot is
    older than the oldest entry reloads the whole hash; ``0`` keeps no log, so
    every sync after a change reloads everything, as the original does.

    Costs: a sync when nothing changed is one ``GET``; a sync after changes one
    more round trip, an ``EVALSHA`` that reads the log and ``HMGET``s just the
    keys changed (a whole reload, ``MULTI GET HGETALL EXEC``, is one more when
    the log cannot tell); a change one ``EVALSHA``, and one more when another
    process changed the dict since this instance's last sync (the write then
    loads those changes, so it shows a state the store held).
    With ``push=True`` (docs/push.rst) a sync when nothing changed costs no round
    trip while push is healthy, and polls at least every ``push_backstop`` seconds.

    Consistency: changes are atomic with their counter bump, but Redis
    replication is asynchronous, so a failover can lose acknowledged writes. A
    counter that vanishes is re-created at a random 62-bit value and each change
    adds a random step, so a reader holding a token from before a loss reloads on
    its next sync. A write that times out has an unknown outcome: the server may
    still apply it.
    """

    config_keys = frozenset(
        {"CONNECTION", "LOCATION", "KEYSPACE", "PUSH", "PUSH_BACKSTOP"}
    )
    scripts_class = ChangeScripts

    def __init__(
        self,
        keyspace: str,
        connection: Any,
        autosync: bool = True,
        encoding: Any = DefaultEncoding,
        old_encoding: Any = None,
        *,
        counter_key: str | None = None,
        changelog_length: int = DEFAULT_CHANGELOG_LENGTH,
        defaults: Mapping[Any, Any] | None = None,
        name: str | None = None,
        push: bool = False,
        push_backstop: float = DEFAULT_BACKSTOP,
    ) -> None:
        redis = import_redis()
        self.keyspace = keyspace
        self.counter_key = _counter_key(keyspace, counter_key)
        self.changelog_key = keyspace + "changelog"
        self.changelog_length = _log_length(changelog_length)
        self.connection = connection
        # An instance attribute, since the class cannot import redis to name them.
        self.unavailable_errors = (
            *DurableDict.unavailable_errors,
            redis.ConnectionError,  # also BusyLoadingError, MasterNotFoundError
            redis.TimeoutError,
            redis.exceptions.ClusterDownError,
            redis.exceptions.TryAgainError,
        )
        self._readonly_errors = (
            redis.exceptions.ReadOnlyError,
            redis.exceptions.NoPermissionError,
            redis.exceptions.ExecAbortError,
        )
        # A client that may not run scripts, or a Redis without script flags.
        self._no_log_errors = (*self._readonly_errors, redis.ResponseError)
        self._owns_connection = False
        self._may_seed = self._may_read_log = True
        if isinstance(connection, redis.cluster.RedisCluster):
            self._check_one_slot()
        self._scripts = self.scripts_class(
            connection,
            [keyspace, self.counter_key, self.changelog_key],
            self.changelog_length,
        )
        if push and not isinstance(connection, redis.cluster.RedisCluster):
            # Changes are announced on a channel named after the counter.
            self._push = redis_push(
                name or keyspace, connection, self.counter_key, push_backstop
            )
        super().__init__(
            autosync, encoding, old_encoding, defaults=defaults, name=name or keyspace
        )

    def _check_one_slot(self) -> None:
        """A script and a MULTI may only touch keys of one cluster slot."""
        keys = (self.keyspace, self.counter_key, self.changelog_key)
        slots = [self.connection.keyslot(key) for key in keys]
        if len(set(slots)) > 1:
            raise ValueError(
                f"RedisDict {self.keyspace!r}: the hash, its counter "
                f"{self.counter_key!r} and its change log fall in different Redis "
                f"Cluster slots ({', '.join(map(str, slots))}). Put a hash tag in "
                "the keyspace, "
                f"such as {'{' + self.keyspace + '}'!r}, so all three use one slot."
            )

    # -- The backend contract ---------------------------------------------------

    def persist(self, key: Any, value: Any) -> None:
        self._report(self._scripts.set(self._field(key), self._encode(value)))

    def depersist(self, key: Any) -> None:
        """Delete *key*; a key that is not stored changes nothing."""
        self._report(self._scripts.pop(self._field(key)))

    def durables(self) -> dict[Any, Any]:
        return self._read(seed=False)[1]

    def last_updated(self) -> str | None:
        """The counter's value as ``str``: one ``GET``; ``None`` when missing."""
        return _text(self.connection.get(self.counter_key))

    def _load(self, token: Any) -> tuple[Any, dict[Any, Any]]:
        # token is None when the counter was missing a moment ago: create it in
        # the same transaction, so the next syncs cost one GET instead of a reload
        # each. SET NX never moves a counter a writer re-created in between.
        if token is None and self._may_seed:
            try:
                return self._read(seed=True)
            except self._readonly_errors:
                self._may_seed = False  # a read-only user or replica: just read
        return self._read(seed=False)

    def _load_changes(self, since: Any) -> tuple[Any, dict[Any, Any]] | None:
        """The keys changed since *since*, from the change log: one ``EVALSHA``.
        ``None`` (reload everything) when the log cannot tell."""
        if not self._may_read_log or not self.changelog_length:
            return None
        try:
            reply = self._scripts.changes(since, len(self._stored) // 2 + 100)
        except self.unavailable_errors:
            raise  # ClusterDownError and TryAgainError are ResponseErrors too
        except self._no_log_errors:
            # Not allowed to run scripts, or a Redis older than 7 (no script
            # flags): read the whole hash, as the original does.
            self._may_read_log = False
            return None
        if reply is None:
            return None
        token, fields, values, cleared = reply
        changes = dict.fromkeys(self._stored, _MISSING) if cleared else {}
        changes.update(self._decode_changes(zip(fields, values, strict=False)))
        return token, changes

    def _report(self, reply: tuple[Any, Any, Any]) -> Any:
        """Tell the base class which counter a change replaced; its result."""
        before, after, result = reply
        self._wrote(before, after)
        return result

    def _read(self, seed: bool) -> tuple[Any, dict[Any, Any]]:
        """The counter and the hash, read in one MULTI/EXEC: an exact pair."""
        with self.connection.pipeline(transaction=True) as pipe:
            if seed:
                pipe.set(self.counter_key, fresh_seed(), nx=True)
            pipe.get(self.counter_key)
            pipe.hgetall(self.keyspace)
            *_, token, items = pipe.execute()
        return _text(token), self._decode_items(
            (_text(field), stored) for field, stored in items.items()
        )

    def _pop(self, key: Any, default: Any) -> Any:
        stored = self._report(self._scripts.pop(self._field(key)))
        return default if stored is None else self._decode(stored)

    def _setdefault(self, key: Any, default: Any) -> Any:
        field, encoded = self._field(key), self._encode(default)
        return self._decode(self._report(self._scripts.setdefault(field, encoded)))

    # -- Bulk changes: one script, one token change --------------------------------

    def _raw_snapshot(self) -> dict[Any, Any]:
        """Every key with its value as stored (``str`` when it is UTF-8 text)."""
        items = self.connection.hgetall(self.keyspace)
        return {_text(field): _maybe_text(stored) for field, stored in items.items()}

    def _apply(self, updates: Mapping[Any, Any], removals: Iterable[Any]) -> None:
        """Every update and removal in one script: other processes see the dict
        before or after, never a mix. Nothing is written if a value cannot be
        encoded."""
        encoded = {self._field(key): self._encode(v) for key, v in updates.items()}
        self._apply_encoded(encoded, removals)

    def clear(self) -> None:
        """Delete the whole hash (keys this process has not seen too), as one
        change; an empty store is left alone."""
        self._report(self._scripts.clear())
        self._patch_many({}, list(self._stored))

    def _field(self, key: Any) -> str:
        # Redis would store 1 and "1" as the same field, which reads back as "1".
        if not isinstance(key, str):
            raise TypeError(
                f"{self.name}: RedisDict keys must be str, not {type(key).__name__}"
            )
        return key

    # -- Building from a DURABLEDICTS entry -------------------------------------

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> RedisDict:
        """CONNECTION names a django-redis cache whose client is shared; LOCATION
        is a Redis URL for a client of this dict's own, made with
        :func:`recommended_client_options` (query parameters in the URL win)."""
        problems = cls.check_config(name, config)
        if problems:
            raise ImproperlyConfigured(f"DURABLEDICTS[{name!r}]: {' '.join(problems)}")
        keyspace = config.get("KEYSPACE") or f"durabledict:{name}"
        kwargs = {**push_kwargs(config), **cls.common_kwargs(name, config)}
        if config.get("CONNECTION"):
            return cls(keyspace, django_redis_client(config["CONNECTION"]), **kwargs)
        redis = import_redis()
        client = redis.Redis.from_url(
            config["LOCATION"], **recommended_client_options()
        )
        try:
            durable = cls(keyspace, client, **kwargs)
        except BaseException:
            client.close()
            raise
        durable._owns_connection = True
        return durable

    @classmethod
    def check_config(cls, name: str, config: Mapping[str, Any]) -> list[str]:
        connection, location = config.get("CONNECTION"), config.get("LOCATION")
        problems = []
        if bool(connection) == bool(location):
            problems.append(
                "Give exactly one of CONNECTION (a django-redis cache alias) "
                "and LOCATION (a Redis URL)."
            )
        if connection:
            problems += check_cache_alias(connection)
        if location and not (
            isinstance(location, str)
            and location.startswith(("redis://", "rediss://", "unix://"))
        ):
            problems.append(
                "LOCATION must be a redis://, rediss:// or unix:// URL, "
                f"not {location!r}."
            )
        keyspace = config.get("KEYSPACE")
        if keyspace is not None and not (keyspace and isinstance(keyspace, str)):
            problems.append(f"KEYSPACE must be a non-empty string, not {keyspace!r}.")
        return problems + push_problems(config)

    def _push_status(self) -> dict[str, Any] | None:
        """Push health (see push/__init__.py), or ``None`` without push."""
        return None if self._push is None else self._push.status()

    def close(self) -> None:
        """Leave the push listener; disconnect the client if this dict made it
        (from LOCATION)."""
        if self._push is not None:
            self._push.close()
        if self._owns_connection:
            self.connection.close()

    # -- Bulk hook of durabledict_load (see management/loadplan.py) -----------------

    def _apply_encoded(
        self, encoded: Mapping[Any, Any], removals: Iterable[Any], expect: Any = None
    ) -> None:
        """As ``_apply``, with values already encoded: stored exactly as given.
        With *expect* (a checked changeset), see ``_checked_apply``."""
        encoded = {self._field(key): value for key, value in encoded.items()}
        removals = [self._field(key) for key in removals if key not in encoded]
        if expect is None:
            self._report(self._scripts.apply(encoded, removals))
        else:
            self._checked_apply(encoded, removals, expect)
        # Shown here at once, as a single write is.
        self._patch_many(self._decode_items(encoded.items()), removals)

    def _checked_apply(self, encoded: dict, removals: list, expect: Any) -> None:
        """One script applies the change if the counter still holds the token
        the changeset's snapshot was loaded at: nothing changed since, so nothing
        it read did. Otherwise the script changes nothing and returns the counter
        with the values read; when they are the values the changeset saw (another
        key changed), the script runs again expecting that counter. One EVALSHA
        in the common case, two when other keys changed meanwhile."""
        from django_durabledict.changeset import ChangesetConflict

        # A key that is not a str can never be stored: it always reads absent.
        fields = [k for k in expect.values if isinstance(k, str)]
        wanted = None if expect.whole else fields
        counter = expect.token or ""
        for _attempt in range(CHECK_ATTEMPTS):
            reply = self._scripts.checked_apply(encoded, removals, counter, wanted)
            if reply[0] != CONFLICT:
                self._report(reply)
                return
            counter, values = reply[1], reply[2]
            if wanted is None:
                items = zip(values[::2], values[1::2], strict=True)
            else:
                items = zip(wanted, values, strict=True)
            current = self._decode_items(
                (_text(field), stored) for field, stored in items if stored is not None
            )
            conflicts = expect.conflicts(current)
            if conflicts:
                raise ChangesetConflict(self, conflicts)
        raise ChangesetConflict(
            self, [], f"other writers kept changing it ({CHECK_ATTEMPTS} attempts)"
        )
