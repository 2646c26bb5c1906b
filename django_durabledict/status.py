"""DictStatus: what one process knows about the freshness of one durable dict.

Built by ``DurableDict.status()`` from counters the dict keeps on its sync and
reload paths (never on reads), so taking a status reads nothing from the store and
costs the readers nothing. Like ``base.py``, this module knows nothing of Django.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: ``DictStatus.health`` values.
OK, DEGRADED, UNAVAILABLE = "ok", "degraded", "unavailable"


def backend_class(durable: Any) -> type:
    """The class the dict was built from: each instance runs as a subclass of its
    own (see ``DurableDict._give_own_class``), which receivers never name."""
    cls = type(durable)
    return cls.__mro__[1] if "_own_class" in cls.__dict__ else cls


def dotted_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def json_safe(value: Any) -> Any:
    """*value* as JSON can hold it (tokens are ints, strings or named tuples)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "_asdict"):
        value = value._asdict()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)


def _age(now: float, then: float | None) -> float | None:
    return None if then is None else max(0.0, now - then)


@dataclass(frozen=True)
class DictStatus:
    """One dict's status in this process, at ``taken_at`` (Unix time).

    Times are Unix timestamps (``None``: never); ages are seconds before
    ``taken_at``. ``health`` is ``"ok"``; ``"unavailable"`` while the store cannot
    be reached (reads serve the snapshot loaded last); or ``"degraded"`` while
    only a ModelDict's token cache fails (changes are then seen at the backstop
    check, not at once)."""

    name: str
    backend: str
    health: str
    token: Any
    keys: int
    autosync: bool
    loaded_at: float | None
    synced_at: float | None
    stale_since: float | None
    full_reloads: int
    incremental_reloads: int
    last_failure_at: float | None
    last_error: str | None
    push: Any
    taken_at: float
    decode_errors: Mapping[str, str] = field(default_factory=dict)
    token_cache_unavailable_since: float | None = None

    @classmethod
    def of(cls, durable: Any) -> DictStatus:
        failure = durable.last_failure or (None, None)
        cache_down = getattr(durable, "token_unavailable_since", None)
        if durable.stale_since is not None:
            health = UNAVAILABLE
        else:
            health = OK if cache_down is None else DEGRADED
        errors = {str(key): error for key, error in durable.decode_errors.items()}
        return cls(
            name=durable.name,
            backend=dotted_path(backend_class(durable)),
            health=health,
            token=json_safe(durable.last_synced),
            keys=len(durable._stored),
            autosync=durable.autosync,
            loaded_at=durable.loaded_at,
            synced_at=durable.synced_at,
            stale_since=durable.stale_since,
            full_reloads=durable.full_reloads,
            incremental_reloads=durable.incremental_reloads,
            last_failure_at=failure[0],
            last_error=failure[1],
            push=json_safe(durable._push_status()),
            taken_at=time.time(),
            decode_errors=MappingProxyType(errors),
            token_cache_unavailable_since=cache_down,
        )

    @property
    def healthy(self) -> bool:
        """False only while the store cannot be reached."""
        return self.health != UNAVAILABLE

    @property
    def snapshot_age(self) -> float | None:
        """Seconds since the values were loaded (they may still be current)."""
        return _age(self.taken_at, self.loaded_at)

    @property
    def sync_age(self) -> float | None:
        """Seconds since a sync last confirmed the snapshot (or loaded it)."""
        return _age(self.taken_at, self.synced_at)

    @property
    def stale_for(self) -> float | None:
        """Seconds the store has been unreachable; ``None`` while it answers."""
        return _age(self.taken_at, self.stale_since)

    def as_dict(self) -> dict[str, Any]:
        """Every field and age, JSON-ready. Never holds a value of the dict."""
        data = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name != "decode_errors"
        }
        data["decode_errors"] = dict(self.decode_errors)
        data["healthy"] = self.healthy
        for name in ("snapshot_age", "sync_age", "stale_for"):
            data[name] = getattr(self, name)
        return data
