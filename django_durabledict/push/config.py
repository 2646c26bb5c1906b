"""The ``PUSH`` and ``PUSH_BACKSTOP`` keys of a ``DURABLEDICTS`` entry.

``PUSH`` (default ``False``) turns push invalidation on for a backend whose store
has a channel (RedisDict; ModelDict with a Redis token cache or on PostgreSQL).
``PUSH_BACKSTOP`` (seconds, default 5) is how often a dict whose push is healthy
still reads its token: the longest a lost message can hide a change. It is not
ModelDict's ``BACKSTOP_INTERVAL``, which bounds a lost *cache bump* by comparing
the database's own version, with or without push.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import Any

from django_durabledict.push import DEFAULT_BACKSTOP


def push_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor arguments for the entry's push keys."""
    return {
        "push": config.get("PUSH", False),
        "push_backstop": config.get("PUSH_BACKSTOP", DEFAULT_BACKSTOP),
    }


def push_problems(config: Mapping[str, Any]) -> list[str]:
    """One sentence per mistake in the entry's push keys."""
    found = []
    if not isinstance(config.get("PUSH", False), bool):
        found.append("PUSH must be True or False.")
    backstop = config.get("PUSH_BACKSTOP", DEFAULT_BACKSTOP)
    if not isinstance(backstop, Real) or isinstance(backstop, bool) or backstop <= 0:
        found.append("PUSH_BACKSTOP must be a positive number of seconds.")
    return found
