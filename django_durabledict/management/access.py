"""How the durabledict commands reach the dicts named in ``DURABLEDICTS``."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.management.base import CommandError

from django_durabledict.base import DurableDict
from django_durabledict.conf import DurableDictConfigError, app_settings
from django_durabledict.management.dumpformat import dotted_path
from django_durabledict.registry import dicts


def check_names(names: Iterable[str]) -> None:
    """``CommandError`` naming the configured dicts if a name is not one."""
    for name in names:
        try:
            app_settings.entry(name)
        except DurableDictConfigError as exc:
            raise CommandError(str(exc)) from None


def backend_path(name: str) -> str:
    """The dotted path of the BACKEND of *name*."""
    try:
        return dotted_path(app_settings.backend(name))
    except DurableDictConfigError as exc:
        raise CommandError(str(exc)) from None


def registered(name: str) -> DurableDict:
    """``dicts[name]``, the instance this process shares; a failure to build it is
    a ``CommandError`` naming the dict."""
    try:
        return dicts[name]
    except Exception as exc:
        raise CommandError(f"Cannot open dict {name!r}: {_reason(exc)}") from exc


@contextlib.contextmanager
def read_only(name: str) -> Iterator[DurableDict]:
    """A dict to take a snapshot of *name* from, for as long as the block runs.

    The instance this process already built, if any. Otherwise a private one
    built *without its first load*, closed at the end: building a dict normally
    loads it, and a load may write (a missing version token is created), which a
    dump must never do. Such an instance serves ``_raw_snapshot()`` only."""
    built = dicts.copy()
    if name in built:
        yield built[name]
        return
    try:
        config = app_settings.config(name)
        durable = _without_first_load(config["BACKEND"]).from_config(name, config)
    except Exception as exc:
        raise CommandError(f"Cannot open dict {name!r}: {_reason(exc)}") from exc
    try:
        yield durable
    finally:
        durable.close()


@functools.cache
def _without_first_load(backend: Any) -> type:
    if not (isinstance(backend, type) and issubclass(backend, DurableDict)):
        raise DurableDictConfigError(f"{backend!r} is not a DurableDict subclass")
    return type(
        f"{backend.__name__}Snapshot",
        (backend,),
        {"__module__": backend.__module__, "sync": _skip, "_sync": _skip},
    )


def _skip(self: Any, *args: Any) -> None:
    """Loads nothing: this instance is only read through ``_raw_snapshot()``."""


def store_failed(name: str, exc: BaseException) -> CommandError:
    """The error for a store that could not be read or written: unreachable,
    refusing the command, holding something else under the dict's keys."""
    return CommandError(
        f"The store of dict {name!r} ({backend_path(name)}) failed: {_reason(exc)}"
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
