"""What durabledict_load will change in one dict, worked out before any write.

:func:`encode_values` turns the file's values into what the store will hold and
reports every value that cannot be stored; :func:`make_plan` compares them with
one snapshot of the store; :func:`apply_plan` writes the difference with one token
change. Nothing here writes before :func:`apply_plan`.

Backends take part through the bulk hooks of DurableDict (all four built-in
backends override them to be atomic):

* ``_raw_snapshot()``: every key with its value as stored, read consistently;
* ``_apply_encoded(encoded, removals)``: one atomic change with one token change,
  with the values already encoded, so the bytes written are the bytes validated
  and tagged values are written without being decoded;
* ``_check_apply(encoded, removals)`` (optional): one sentence per change the
  store would refuse (a key ZooKeeper does not allow, a key too long for its
  column, a transaction too large), checked before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django_durabledict.base import DurableDict
from django_durabledict.management.dumpformat import (
    canonical,
    dotted_path,
    is_pickle,
    is_tagged,
    stored_text,
    tagged_problem,
)

#: Values whose display is longer than this are shown by size only.
SHORT = 60


@dataclass
class DictPlan:
    """The changes one load makes to one dict; values are encoded."""

    name: str
    durable: Any
    added: dict[Any, Any] = field(default_factory=dict)
    changed: dict[Any, Any] = field(default_factory=dict)
    removed: list[Any] = field(default_factory=list)
    #: Keys --prune leaves alone because the dump skipped them.
    kept: list[Any] = field(default_factory=list)
    unchanged: int = 0
    #: key -> (old, new) descriptions, for changed keys.
    shown: dict[Any, tuple[str, str]] = field(default_factory=dict)

    @property
    def updates(self) -> dict[Any, Any]:
        return {**self.added, **self.changed}

    @property
    def writes(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)


def encoded_size(encoded: Any) -> int | None:
    """Bytes a stored value takes, or ``None`` for objects (NoOpEncoding)."""
    if isinstance(encoded, str):
        return len(encoded.encode("utf-8"))
    if isinstance(encoded, (bytes, bytearray, memoryview)):
        return len(encoded)
    return None


def encode_values(
    name: str,
    durable: Any,
    values: Mapping[str, Any],
    max_size: int | None,
    tick: Callable[[int], None] = lambda n: None,
) -> tuple[dict[str, Any], list[str]]:
    """``(encoded values, problems)`` for the file's values of one dict."""
    encoded, problems = {}, []
    for key, value in values.items():
        tick(1)
        try:
            stored = _encode_one(durable, value)
        except ValueError as exc:
            problems.append(f"{name}[{key!r}]: {exc}")
            continue
        size = encoded_size(stored)
        if max_size is not None and size is not None and size > max_size:
            problems.append(
                f"{name}[{key!r}]: the encoded value is {size} bytes; the dict "
                f"allows {max_size} (MAX_VALUE_SIZE)"
            )
            continue
        encoded[key] = stored
    return encoded, problems


def _encode_one(durable: Any, value: Any) -> Any:
    if is_tagged(value):
        problem = tagged_problem(durable, value)
        if problem:
            raise ValueError(problem)
        return value["value"]  # written exactly as the dump read it
    try:
        return durable._encode(value)
    except Exception as exc:  # any codec failure: nothing has been written
        raise ValueError(f"cannot be encoded: {exc}") from exc


def make_plan(
    durable: Any,
    name: str,
    encoded: Mapping[str, Any],
    current: Mapping[Any, Any],
    prune: bool,
    skipped: Iterable[str] | None = None,
) -> DictPlan:
    """Compare *encoded* with *current*, one ``_raw_snapshot()`` of the store."""
    plan = DictPlan(name, durable)
    for key, new in encoded.items():
        if key not in current:
            plan.added[key] = new
        elif same_value(durable, current[key], new):
            plan.unchanged += 1
        else:
            plan.changed[key] = new
            plan.shown[key] = (describe(durable, current[key]), describe(durable, new))
    if prune:
        skipped = set(skipped or ())
        for key in sorted(set(current) - set(encoded), key=str):
            (plan.kept if key in skipped else plan.removed).append(key)
    return plan


def check_plan(plan: DictPlan) -> list[str]:
    """What the dict's store would refuse in *plan*."""
    hook = getattr(plan.durable, "_check_apply", None)
    if hook is None or not plan.writes:
        return []
    return [f"{plan.name}: {problem}" for problem in hook(plan.updates, plan.removed)]


def apply_plan(plan: DictPlan) -> None:
    """Write *plan* with one token change (where the backend can)."""
    plan.durable._apply_encoded(plan.updates, plan.removed)


def is_atomic(durable: Any) -> bool:
    """False when the backend keeps the key-by-key default ``_apply_encoded``."""
    return type(durable)._apply_encoded is not DurableDict._apply_encoded


def same_value(durable: Any, stored: Any, new: Any) -> bool:
    """True when writing *new* over *stored* would change no value.

    Texts that differ only in formatting (JSON written by another tool) hold the
    same value: they are compared decoded, except pickles, which are never
    decoded here."""
    old_text, new_text = stored_text(stored), stored_text(new)
    if old_text is not None and old_text == new_text:
        return True
    if is_pickle(durable.encoding):
        return False
    try:
        old = canonical(durable.encoding.decode(stored))
        return old == canonical(durable.encoding.decode(new))
    except Exception:
        return False


def describe(durable: Any, stored: Any) -> str:
    """A short description of a stored value for the plan: its JSON when short,
    its size otherwise. Pickles are described, never decoded."""
    size = encoded_size(stored)
    if not is_pickle(durable.encoding):
        try:
            text = canonical(durable.encoding.decode(stored))
        except Exception:
            text = None
        if text is not None and len(text) <= SHORT:
            return text
    kind = dotted_path(durable.encoding).rsplit(".", 1)[-1]
    return f"<{kind}, {size} bytes>" if size is not None else f"<{kind} value>"
