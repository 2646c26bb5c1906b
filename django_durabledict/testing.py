"""Helpers for your project's tests.

``override_durabledict("features", new_checkout=True)`` sets values in a configured
dict for the duration of a test and restores what was there before, as
``override_settings`` does for settings::

    @override_durabledict("features", new_checkout=True)
    def test_checkout(client): ...

    with override_durabledict("features", limit=5):
        ...

The values are written through the dict (so every read path, the middleware's sync
included, sees them), which needs the dict's store: the test database for a
ModelDict, so use it in tests that have database access.
"""

from __future__ import annotations

from typing import Any

from django.test.utils import TestContextDecorator

from django_durabledict.registry import dicts

_ABSENT: Any = object()


class override_durabledict(TestContextDecorator):
    """Set ``values`` in ``dicts[name]``; restore the previous values after.

    Works as a decorator for functions, test methods and test classes (applied
    around each test), and as a context manager. Keys that were not stored before
    are removed again; ``DEFAULTS`` are left as they are.
    """

    def __init__(self, name: str, **values: Any) -> None:
        self.name = name
        self.values = values
        self._saved: list[dict[str, Any]] = []  # a stack: the same object may nest
        super().__init__()

    def enable(self) -> None:
        durable = dicts[self.name]
        saved = {}
        for key, value in self.values.items():
            # pop() returns only a *stored* value, never one of DEFAULTS.
            saved[key] = durable.pop(key, _ABSENT)
            durable[key] = value
        self._saved.append(saved)

    def disable(self) -> None:
        durable = dicts[self.name]
        for key, previous in self._saved.pop().items():
            durable.pop(key, None)
            if previous is not _ABSENT:
                durable[key] = previous
