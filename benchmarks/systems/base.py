"""What a benchmarked system provides: one small class per system.

A system runs inside a worker process whose Django settings it helped to build
(``database``, ``cache``, :meth:`System.settings`). The scenarios only ever use the
methods below, so adding a backend is one subclass and one line in ``SYSTEMS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def key_name(i: int) -> str:
    """The i-th key of every store: the same names for every system."""
    return f"key{i:05d}"


@dataclass
class Reader:
    """How one process reads a system.

    ``target`` is read as ``target[key]`` (read_kind "subscript"), ``target(key)``
    ("call") or ``getattr(target, key)`` ("getattr"). ``hook`` is what the system
    runs once per request besides Django's request signals (our middleware), or
    None. ``registry`` reads ``dicts[alias][key]`` when the system has one.
    """

    target: Any
    read_kind: str = "subscript"
    hook: Callable[[], Any] | None = None
    registry: tuple[Any, str] | None = None
    keep: list[Any] = field(default_factory=list)  # objects to keep alive
    closers: list[Callable[[], Any]] = field(default_factory=list)

    def close(self) -> None:
        """Undo what :meth:`System.open` connected (signal receivers, clients)."""
        for closer in self.closers:
            closer()


class System:
    """Base class of a benchmarked system; see the module docstring."""

    #: Short id used on the command line and in the JSON.
    name = ""
    #: Row label in the report.
    label = ""
    #: "floor", "ours", "original" or "peer".
    group = "ours"
    #: What the system does once per request, for the report.
    hook_text = ""
    #: Servers the system needs: postgresql, redis, memcached, zookeeper.
    services: tuple[str, ...] = ()
    #: Python modules that must be importable (the peers' packages).
    modules: tuple[str, ...] = ()
    #: Django's default database: "sqlite", "postgresql" or None.
    database: str | None = "sqlite"
    #: Django's default cache: "locmem", "memcached", "redis" or None.
    cache: str | None = "locmem"
    #: Whether Django's request_started/request_finished are sent in a request.
    signals = True
    #: Whether a write in another OS process can reach this one at all.
    cross_process = True
    #: Whether the system reads values at all (Django's signals alone do not).
    reads = True
    #: Expected counts for an unchanged request, checked by the smoke test:
    #: {"queries": 0, "memcached": 1, ...}; None when not pinned down.
    expected_counts: dict[str, int] | None = None
    #: The same for the request that first sees another process's change.
    expected_change_counts: dict[str, int] | None = None

    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context
        self.prefix = f"{context['prefix']}{self.name}:"

    def hook(self) -> str:
        """What runs once per request in this checkout, for the report."""
        return self.hook_text

    def settings(self) -> dict[str, Any]:
        """Extra Django settings (merged over the common ones)."""
        return {}

    def populate(self, size: int) -> None:
        """Make the store hold exactly ``key_name(i): i`` for i < size."""

    def open(self) -> Reader:
        """Build a reader, as a worker process would at start-up."""
        raise NotImplementedError

    def writer(self) -> Callable[[str, Any], None]:
        """Return ``write(key, value)``, used by another process (or this one
        when ``cross_process`` is False) to change one value."""
        raise NotImplementedError

    def new_value(self, round_number: int, old: Any = None) -> Any:
        """A value different from *old*, for the propagation rounds."""
        return 1_000_000 + round_number

    def cleanup(self) -> None:
        """Remove what the system stored on shared servers."""
