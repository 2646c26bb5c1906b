"""A checker for histories of a shared store: every snapshot any process showed
must be a state the store really held, no older than what was acknowledged
before the snapshot was taken, and no older than that process's previous one.

The store's versions are recorded in order, each with the token it was stored at
and its full state (the tests record them atomically with each change). An
*observation* is what one process showed: the token it held, the values, and the
*floor*, the index of the newest version acknowledged before it started syncing
or writing (and, for a write, the index of the version the write itself made).

Three kinds of failure, counted separately:

* phantom: the values are not the state of the version the token names (or of
  any version, for a token the history cannot place);
* stale: the version is older than the floor;
* regressing: the version is older than the process's previous observation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Observation:
    observer: str
    floor: int
    token: Any
    state: dict


@dataclass
class History:
    """The versions of one store, in the order the store applied them."""

    states: list[dict] = field(default_factory=lambda: [{}])  # version 0: empty
    tokens: dict[Any, int] = field(default_factory=dict)

    def add(self, token: Any, state: dict, before: Any = None) -> int:
        """Append a version; *before* is the token it replaced, which names the
        version before it when no recorded change made that token (a counter a
        reader seeded, say). Returns the new version's index."""
        if before is not None and before not in self.tokens:
            self.tokens[before] = len(self.states) - 1
        self.states.append(state)
        if token is not None:
            self.tokens[token] = len(self.states) - 1
        return len(self.states) - 1

    def check(self, observations: Iterable[Observation]) -> Counter:
        """Counts of ``ok``, ``phantom``, ``stale``, ``regressing`` and
        ``unplaced`` (a token the history does not name, matched by its values)."""
        counts: Counter = Counter()
        last: dict[str, int] = {}
        self.problems: list[str] = []
        for seen in observations:
            if seen.token not in self.tokens:
                counts["unplaced"] += 1
            index = self._place(seen, max(seen.floor, last.get(seen.observer, 0)))
            if index is None:
                counts["phantom"] += 1
                named = self.tokens.get(seen.token)
                held = "" if named is None else f", the store held {self.states[named]}"
                self.problems.append(f"phantom: {seen}{held}")
                continue
            if index < seen.floor:
                counts["stale"] += 1
                self.problems.append(f"stale (version {index}): {seen}")
            elif index < last.get(seen.observer, 0):
                counts["regressing"] += 1
                self.problems.append(f"regressing (version {index}): {seen}")
            else:
                counts["ok"] += 1
            last[seen.observer] = max(index, last.get(seen.observer, 0))
        return counts

    def _place(self, seen: Observation, lowest: int) -> int | None:
        index = self.tokens.get(seen.token)
        if index is not None:
            return index if self.states[index] == seen.state else None
        # A token no recorded change made or replaced: the earliest version at
        # or after *lowest* with these values, else any earlier one (stale).
        matches = [i for i, state in enumerate(self.states) if state == seen.state]
        later = [i for i in matches if i >= lowest]
        if later or matches:
            return (later or matches)[0]
        return None
