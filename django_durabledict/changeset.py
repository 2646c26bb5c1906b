"""Changesets: several keys of one dict changed together, as one change.

::

    with dicts["features"].changeset() as change:
        change["checkout"] = "v2"
        del change["old_checkout"]

A :class:`Changeset` is a ``MutableMapping`` over the dict's snapshot taken when
it began, plus its own pending edits. Nothing reaches the store until the block
ends without an exception; then every edit is applied with one change of the
store's version (one transaction, one Lua script, one ZooKeeper multi-op, one
lock), so every other process sees the dict before or after, never a mix. Every
value is encoded when it is assigned, so a value that cannot be stored raises
inside the block and nothing is written. An exception in the block applies
nothing; a changeset that edits nothing writes nothing (and is never refused).

With ``check=True`` it is also a compare-and-set on *what it read*: the keys read
through it (``change[k]``, ``get``, ``in``, ``del``, ``pop``...) must still hold
the values it saw (or still be absent) when it applies, or it raises
:class:`ChangesetConflict` and applies nothing. Iterating over it (``len``,
``keys()``, ``items()``, ``dict(change)``...) reads every key, so then any change
to the dict (a key added, changed or removed) refuses it. The comparison runs
inside the backend's atomic operation. See docs/changesets.rst for why this
compares what was read rather than the dict's version token.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from django_durabledict.base import _MISSING
from django_durabledict.encoding import EncoderError

__all__ = ["Changeset", "ChangesetConflict", "Expectation"]


class ChangesetConflict(Exception):
    """A checked changeset was refused: keys it read changed since it began.
    Nothing of it was applied. ``keys`` lists them (sorted by ``repr``)."""

    def __init__(self, durable: Any, keys: Any, detail: str = "") -> None:
        self.name = getattr(durable, "name", str(durable))
        self.keys = sorted(keys, key=repr)
        detail = detail or f"changed since it began: {self.keys!r}"
        super().__init__(f"{self.name}: changeset refused, nothing applied; {detail}")


@dataclass(frozen=True)
class Expectation:
    """What a checked changeset read: each key with the stored value it saw
    (``_MISSING``: absent), and whether it read every key (``whole``: then no
    other key may exist). Backends compare it with the store atomically."""

    values: dict[Any, Any] = field(default_factory=dict)
    whole: bool = False
    #: The token the snapshot was loaded at: a backend may use "token unchanged"
    #: as a fast path, never as the only test (own writes keep an old token).
    token: Any = None

    def keys_to_read(self, existing: Any = ()) -> list[Any]:
        """The keys whose stored values must be compared; *existing* is every
        stored key, needed only when the whole dict was read."""
        if self.whole:
            return [*self.values, *(k for k in existing if k not in self.values)]
        return list(self.values)

    def conflicts(self, current: Mapping[Any, Any]) -> list[Any]:
        """The keys whose value in *current* (decoded stored values of at least
        :meth:`keys_to_read`) differs from what was read."""
        found = [
            key
            for key, seen in self.values.items()
            if not _same(current.get(key, _MISSING), seen)
        ]
        if self.whole:
            found += [key for key in current if key not in self.values]
        return found


def _same(current: Any, seen: Any) -> bool:
    if current is _MISSING or seen is _MISSING:
        return current is seen
    return type(current) is type(seen) and current == seen


class Changeset(MutableMapping):
    """Pending edits over a snapshot of *durable*; see the module docstring.

    Use it as a context manager, or call :meth:`apply` (or :meth:`discard`)
    yourself. Reads never touch the store. ``check=True`` makes :meth:`apply` a
    compare-and-set on the keys read."""

    def __init__(self, durable: Any, check: bool = False) -> None:
        self.durable = durable
        self.check = check
        # One sync first (one token read when nothing changed), so the snapshot
        # is current, and a checked changeset is not refused for being stale.
        durable.sync()
        data, stored = _visible(durable)
        self._token = durable.last_synced
        self._base = stored  # never mutated: snapshots are replaced, not changed
        self._stored = dict(stored)
        self._data = dict(data)
        #: key -> encoded value, or _MISSING for a removal.
        self._pending: dict[Any, Any] = {}
        self._read: set[Any] = set()
        self._read_all = False
        self.state = "open"

    # -- Reads ------------------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        self._saw(key)
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        self._saw(key)
        return key in self._data

    def __iter__(self) -> Iterator[Any]:
        self._saw_all()
        return iter(list(self._data))

    def __len__(self) -> int:
        self._saw_all()
        return len(self._data)

    def stored(self) -> dict[Any, Any]:
        """The stored keys with their values, pending edits included and
        ``defaults`` left out, as a new dict. Reads every key."""
        self._saw_all()
        return dict(self._stored)

    def __repr__(self) -> str:
        return f"<Changeset of {self.durable.name!r}: {self._pending_repr()}>"

    # -- Edits --------------------------------------------------------------------

    def __setitem__(self, key: Any, value: Any) -> None:
        self._open()
        encoded = self._encode(key, value)
        self._pending[key] = encoded
        self._stored[key] = self._data[key] = self.durable._decode(encoded)

    def __delitem__(self, key: Any) -> None:
        # Like DurableDict.pop: only stored keys can be removed, not defaults.
        self._open()
        self._saw(key)
        if key not in self._stored:
            raise KeyError(key)
        self._pending[key] = _MISSING
        del self._stored[key]
        if key in self.durable.defaults:
            self._data[key] = self.durable.defaults[key]
        else:
            del self._data[key]

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        self._saw(key)
        if key not in self._stored:
            if default is _MISSING:
                raise KeyError(key)
            return default
        value = self._stored[key]
        del self[key]
        return value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._saw(key)
        if key not in self._stored:
            self[key] = default
        return self._stored[key]

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        items = other.items() if isinstance(other, Mapping) else other
        for key, value in [*items, *kwargs.items()]:
            self[key] = value

    def clear(self) -> None:
        """Remove every stored key (reads every key)."""
        for key in [k for k in self if k in self._stored]:
            del self[key]

    # -- Applying ------------------------------------------------------------------

    def __enter__(self) -> Changeset:
        self._open()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.apply()
        else:
            self.discard()

    def apply(self) -> None:
        """Write every pending edit as one change (none at all when there are
        none). Raises :class:`ChangesetConflict` when checked and a key read
        changed; nothing is applied then, and the changeset is closed either way."""
        self._open()
        self.state = "applying"
        try:
            updates = {k: v for k, v in self._pending.items() if v is not _MISSING}
            # A key this changeset added and then removed again is left alone.
            removals = [k for k in self.removed if k in self._base]
            expect = self.expectation()
            if not (updates or removals):
                pass  # nothing to write: no version change, nothing to compare
            elif expect is not None:
                self.durable._apply_encoded(updates, removals, expect=expect)
            else:
                # Without expect: a subclass's override written before changesets
                # (durabledict_load's hook) takes two arguments.
                self.durable._apply_encoded(updates, removals)
        except BaseException:
            self.state = "failed"
            raise
        self.state = "applied"

    def discard(self) -> None:
        """Drop every pending edit; nothing is written."""
        self._pending.clear()
        self.state = "discarded"

    def expectation(self) -> Expectation | None:
        """What :meth:`apply` asks the backend to compare (``None`` unchecked)."""
        if not self.check:
            return None
        if self._read_all:
            values = dict(self._base)
        else:
            values = {key: self._base.get(key, _MISSING) for key in self._read}
        return Expectation(values, self._read_all, self._token)

    @property
    def updates(self) -> dict[Any, Any]:
        """The keys this changeset stores, with their new values."""
        pending = self._pending.items()
        return {k: self._stored[k] for k, v in pending if v is not _MISSING}

    @property
    def removed(self) -> list[Any]:
        """The keys this changeset removes."""
        return [k for k, v in self._pending.items() if v is _MISSING]

    # -- Plumbing ----------------------------------------------------------------

    def _saw(self, key: Any) -> None:
        # A key written first does not depend on the store: not a read.
        if self.check and key not in self._pending:
            self._read.add(key)

    def _saw_all(self) -> None:
        self._read_all = True

    def _open(self) -> None:
        if self.state != "open":
            raise RuntimeError(
                f"this changeset of {self.durable.name!r} is {self.state}"
            )

    def _encode(self, key: Any, value: Any) -> Any:
        try:
            return self.durable._encode(value)
        except EncoderError as exc:  # name the dict and the key
            raise type(exc)(f"{self.durable.name}[{key!r}]: {exc}") from exc

    def _pending_repr(self) -> str:
        return (
            ", ".join(
                f"-{k!r}" if v is _MISSING else f"{k!r}={self._stored[k]!r}"
                for k, v in self._pending.items()
            )
            or "no edits"
        )


def _visible(durable: Any) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """``(data, stored)`` the current thread reads (a ModelDict inside a
    transaction has a view of its own)."""
    visible = getattr(durable, "_visible", None)
    if visible is not None:
        return visible()
    with durable._lock:
        return durable._data, durable._stored
