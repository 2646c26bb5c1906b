"""MemoryDict: a process-local store, for tests and development."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from django_durabledict.base import DurableDict
from django_durabledict.encoding import NoOpEncoding


class MemoryStore:
    """The values and token behind one or more ``MemoryDict`` instances.

    Pass the same store to several dicts to model several processes sharing one
    durable store in a test.
    """

    def __init__(self) -> None:
        self.values: dict[Any, Any] = {}
        self.version = 0
        self.lock = threading.Lock()

    def changed(self) -> None:
        """Record a change; call with ``lock`` held."""
        self.version += 1


class MemoryDict(DurableDict):
    """A DurableDict whose store is an in-process dict.

    With the default ``NoOpEncoding`` values are kept as the objects given, so
    ``d[k] = obj; d[k] is obj`` holds. Nothing is shared between processes: use it
    for tests and development, not for settings several workers must agree on.

    Each write reports the store version it replaced: a dict that missed another
    instance's write reloads before showing its own, so it never shows a state
    the store did not hold.
    """

    def __init__(
        self,
        autosync: bool = True,
        encoding: Any = NoOpEncoding,
        *args: Any,
        store: MemoryStore | None = None,
        **kwargs: Any,
    ) -> None:
        self.store = store if store is not None else MemoryStore()
        super().__init__(autosync, encoding, *args, **kwargs)

    def persist(self, key: Any, value: Any) -> None:
        encoded = self._encode(value)
        with self.store.lock:
            self.store.values[key] = encoded
            self._changed()

    def depersist(self, key: Any) -> None:
        with self.store.lock:
            del self.store.values[key]
            self._changed()

    def _changed(self) -> None:
        """Record a change and report it (``_wrote``); call with the lock held."""
        before = self.store.version
        self.store.changed()
        self._wrote(before, self.store.version)

    def _unchanged(self) -> None:
        """Report a write that changed nothing; call with the lock held."""
        self._wrote(self.store.version, self.store.version)

    def durables(self) -> dict[Any, Any]:
        return self._load(None)[1]

    def last_updated(self) -> int:
        return self.store.version

    def _load(self, token: Any) -> tuple[Any, dict[Any, Any]]:
        # Token and values read under one lock: an exact pair, never an extra reload.
        with self.store.lock:
            token, items = self.store.version, list(self.store.values.items())
        return token, self._decode_items(items)

    def _pop(self, key: Any, default: Any) -> Any:
        with self.store.lock:
            if key not in self.store.values:
                return default
            stored = self.store.values.pop(key)
            self._changed()
        return self._decode(stored)

    def _setdefault(self, key: Any, default: Any) -> Any:
        encoded = self._encode(default)
        with self.store.lock:
            if key not in self.store.values:
                self.store.values[key] = encoded
                self._changed()
            else:
                self._unchanged()
            stored = self.store.values[key]
        return self._decode(stored)

    # -- Bulk hooks (durabledict_dump / durabledict_load) ---------------------------

    def _raw_snapshot(self) -> dict[Any, Any]:
        with self.store.lock:
            return dict(self.store.values)

    def _apply_encoded(
        self, encoded: Mapping[Any, Any], removals: Iterable[Any], expect: Any = None
    ) -> None:
        """As ``_apply``, with values already encoded (stored as given); with
        *expect*, compared with the store under the same lock."""
        removals = [key for key in removals if key not in encoded]
        with self.store.lock:
            values = self.store.values
            if expect is not None:
                self._compare(expect, values)
            removals = [key for key in removals if key in values]
            if not encoded and not removals:
                return  # nothing changes: no version change either
            values.update(encoded)
            for key in removals:
                del values[key]
            self._changed()
        # Shown here at once, as a single write is (see DurableDict._patch).
        self._patch_many(self._decode_items(encoded.items()), removals)

    def _compare(self, expect: Any, values: dict[Any, Any]) -> None:
        from django_durabledict.changeset import ChangesetConflict

        keys = [key for key in expect.keys_to_read(values) if key in values]
        conflicts = expect.conflicts(self._decode_items((k, values[k]) for k in keys))
        if conflicts:
            raise ChangesetConflict(self, conflicts)
