"""System checks for ``DURABLEDICTS``, one function per concern.

Errors (the dicts cannot work as configured):

* ``durabledict.E001`` BACKEND does not import or is not a DurableDict subclass.
* ``durabledict.E002`` an entry holds a key neither common nor the backend's.
* ``durabledict.E003`` the backend reports a problem (a missing required option).
* ``durabledict.E004`` ENCODING or OLD_ENCODING does not import or cannot encode.
* ``durabledict.E005`` DURABLEDICTS is not a dict of dicts keyed by name.
* ``durabledict.E006`` AUTOSYNC, DEFAULTS, OPTIONS or MAX_VALUE_SIZE has the wrong type.

Warnings:

* ``durabledict.W001`` (deploy) the token cache is process-local or not atomic.
* ``durabledict.W002`` pickle encoding is in use.
* ``durabledict.W003`` dicts with AUTOSYNC off and the sync middleware missing.
* ``durabledict.W004`` (deploy) PUSH is on but its server cannot be reached now.
* ``durabledict.W005`` PUSH is on but the store has no channel: the dict polls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from django_durabledict.base import DurableDict
from django_durabledict.conf import (
    COMMON_KEYS,
    ENTRY_DEFAULTS,
    MIDDLEWARE_PATH,
    app_settings,
)
from django_durabledict.encoding import PickleEncoding

#: Cache backends that cannot carry a token between processes: LocMemCache and
#: DummyCache keep nothing shared; DatabaseCache and FileBasedCache implement
#: ``incr`` as a read followed by a write, so two writers can bump it once.
UNSAFE_TOKEN_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache": "process-local",
    "django.core.cache.backends.dummy.DummyCache": "a cache that stores nothing",
    "django.core.cache.backends.db.DatabaseCache": "not atomic (incr is get+set)",
    "django.core.cache.backends.filebased.FileBasedCache": "not atomic "
    "(incr is get+set)",
}


def _entries() -> Iterator[tuple[str, dict[str, Any]]]:
    """``(name, entry merged over the defaults)`` for each well-formed entry."""
    configured = app_settings.dicts
    if not isinstance(configured, Mapping):
        return
    for name, entry in configured.items():
        if isinstance(name, str) and isinstance(entry, Mapping):
            yield name, {**ENTRY_DEFAULTS, **entry}


def _import(value: Any) -> Any:
    """The object a dotted path names (objects pass through); None if it fails."""
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError:
        return None


def _backends() -> Iterator[tuple[str, dict[str, Any], type[DurableDict]]]:
    """Entries whose BACKEND imports to a DurableDict subclass, with that class."""
    for name, entry in _entries():
        backend = _import(entry["BACKEND"])
        if isinstance(backend, type) and issubclass(backend, DurableDict):
            yield name, entry, backend


def check_settings_shape(**kwargs: Any) -> list[CheckMessage]:
    configured = app_settings.dicts
    if not isinstance(configured, Mapping):
        return [
            Error(
                "DURABLEDICTS must be a dict of dicts, like CACHES.",
                hint="Use DURABLEDICTS = {'default': {...}, ...}.",
                id="durabledict.E005",
            )
        ]
    return [
        Error(
            f"DURABLEDICTS[{name!r}] must be a dict with a str name.",
            hint="Each entry is a dict such as {'BACKEND': '...'}.",
            id="durabledict.E005",
        )
        for name, entry in configured.items()
        if not (isinstance(name, str) and isinstance(entry, Mapping))
    ]


def check_backends(**kwargs: Any) -> list[CheckMessage]:
    errors = []
    for name, entry in _entries():
        backend = _import(entry["BACKEND"])
        if isinstance(backend, type) and issubclass(backend, DurableDict):
            continue
        problem = "cannot be imported" if backend is None else "is not a DurableDict"
        errors.append(
            Error(
                f"DURABLEDICTS[{name!r}]['BACKEND'] = {entry['BACKEND']!r} {problem}.",
                hint="Use a dotted path to a DurableDict subclass such as "
                f"{ENTRY_DEFAULTS['BACKEND']!r}, and install the extra it needs.",
                id="durabledict.E001",
            )
        )
    return errors


def check_entry_keys(**kwargs: Any) -> list[CheckMessage]:
    errors = []
    for name, entry, backend in _backends():
        allowed = COMMON_KEYS | backend.config_keys
        for key in sorted(set(entry) - allowed, key=str):
            errors.append(
                Error(
                    f"DURABLEDICTS[{name!r}] has an unknown key {key!r}.",
                    hint=f"{backend.__name__} reads: {', '.join(sorted(allowed))}.",
                    id="durabledict.E002",
                )
            )
    return errors


def check_backend_config(**kwargs: Any) -> list[CheckMessage]:
    errors = []
    for name, entry, backend in _backends():
        for problem in backend.check_config(name, entry):
            errors.append(
                Error(
                    f"DURABLEDICTS[{name!r}]: {problem}",
                    hint=f"See the {backend.__name__} settings in the documentation.",
                    id="durabledict.E003",
                )
            )
    return errors


def _is_encoding(value: Any) -> bool:
    return callable(getattr(value, "encode", None)) and callable(
        getattr(value, "decode", None)
    )


def check_encodings(**kwargs: Any) -> list[CheckMessage]:
    errors = []
    for name, entry in _entries():
        for key in ("ENCODING", "OLD_ENCODING"):
            if entry[key] is None and key == "OLD_ENCODING":
                continue
            if _is_encoding(_import(entry[key])):
                continue
            errors.append(
                Error(
                    f"DURABLEDICTS[{name!r}][{key!r}] = {entry[key]!r} is not an "
                    "encoding (it does not import, or lacks encode() and decode()).",
                    hint="Use 'django_durabledict.encoding.JSONEncoding' or another "
                    "class with encode() and decode().",
                    id="durabledict.E004",
                )
            )
    return errors


def _type_problem(key: str, value: Any) -> str | None:
    if key == "AUTOSYNC" and not isinstance(value, bool):
        return "must be True or False"
    if key in ("DEFAULTS", "OPTIONS") and not isinstance(value, Mapping):
        return "must be a dict"
    if key == "MAX_VALUE_SIZE" and not (
        value is None or (type(value) is int and value > 0)
    ):
        return "must be a positive int (bytes) or None"
    return None


def check_value_types(**kwargs: Any) -> list[CheckMessage]:
    errors = []
    for name, entry in _entries():
        for key in ("AUTOSYNC", "DEFAULTS", "OPTIONS", "MAX_VALUE_SIZE"):
            problem = _type_problem(key, entry[key])
            if problem:
                errors.append(
                    Error(
                        f"DURABLEDICTS[{name!r}][{key!r}] {problem}, not "
                        f"{entry[key]!r}.",
                        hint="See docs/settings.rst for each key's type.",
                        id="durabledict.E006",
                    )
                )
    return errors


def _unsafe_cache(alias: str) -> str | None:
    """Why the cache *alias* cannot carry a token across processes, or None."""
    configured = settings.CACHES.get(alias)
    if not isinstance(configured, Mapping):
        return None  # a missing alias is the backend's check_config error
    path = configured.get("BACKEND", "")
    if path in UNSAFE_TOKEN_CACHES:
        return UNSAFE_TOKEN_CACHES[path]
    backend = _import(path)
    if not isinstance(backend, type):
        return None
    for unsafe_path, reason in UNSAFE_TOKEN_CACHES.items():
        if issubclass(backend, import_string(unsafe_path)):
            return reason
    return None


def check_token_cache(**kwargs: Any) -> list[CheckMessage]:
    warnings = []
    for name, entry, backend in _backends():
        if "CACHE" not in backend.config_keys:
            continue
        alias = entry.get("CACHE", DEFAULT_CACHE_ALIAS)
        reason = _unsafe_cache(alias) if isinstance(alias, str) else None
        if reason:
            warnings.append(
                Warning(
                    f"DURABLEDICTS[{name!r}] keeps its version token in cache "
                    f"{alias!r}, which is {reason}: other processes see changes "
                    "late (at the database backstop) or never.",
                    hint="Point CACHE at a memcached or Redis cache shared by every "
                    "process.",
                    id="durabledict.W001",
                )
            )
    return warnings


def _is_pickle(value: Any) -> bool:
    encoding = _import(value)
    if isinstance(encoding, type):
        return issubclass(encoding, PickleEncoding)
    return isinstance(encoding, PickleEncoding)


def check_pickle(**kwargs: Any) -> list[CheckMessage]:
    return [
        Warning(
            f"DURABLEDICTS[{name!r}][{key!r}] is a pickle encoding: anyone who can "
            "write to its store can run code in every process that reads it.",
            hint="Use JSONEncoding, or make sure only trusted clients can write to "
            "the store; silence with SILENCED_SYSTEM_CHECKS once you have.",
            id="durabledict.W002",
        )
        for name, entry in _entries()
        for key in ("ENCODING", "OLD_ENCODING")
        if entry[key] is not None and _is_pickle(entry[key])
    ]


def _middleware_installed() -> bool:
    for path in settings.MIDDLEWARE:
        if path == MIDDLEWARE_PATH:
            return True
        middleware = _import(path)
        if isinstance(middleware, type) and issubclass(
            middleware, import_string(MIDDLEWARE_PATH)
        ):
            return True
    return False


def check_middleware(**kwargs: Any) -> list[CheckMessage]:
    manual = [name for name, entry in _entries() if entry["AUTOSYNC"] is False]
    if not manual or _middleware_installed():
        return []
    return [
        Warning(
            f"DURABLEDICTS {', '.join(map(repr, manual))} have AUTOSYNC off and "
            f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: requests will not see changes.",
            hint="Add the middleware, set AUTOSYNC: True, or (for a project without "
            "requests) call dicts.sync_all() yourself and silence this warning.",
            id="durabledict.W003",
        )
    ]


def _pushed() -> Iterator[tuple[str, dict[str, Any], Any]]:
    """``(name, entry, channel or None)`` for entries with PUSH on whose
    configuration is otherwise valid (E003 reports the rest)."""
    from django_durabledict.push.probe import channel_of

    for name, entry, backend in _backends():
        if entry.get("PUSH") is not True or "PUSH" not in backend.config_keys:
            continue
        if backend.check_config(name, entry):
            continue
        try:
            channel = channel_of(backend, entry)
        except Exception:
            continue  # a client library or alias problem other checks report
        yield name, entry, channel


def check_push_channel(**kwargs: Any) -> list[CheckMessage]:
    return [
        Warning(
            f"DURABLEDICTS[{name!r}] has PUSH on, but its store offers no change "
            "channel: it polls its token at every sync, as without PUSH.",
            hint="Push needs a Redis token cache (CACHE) or, for DurableSetting, "
            "PostgreSQL; otherwise remove PUSH.",
            id="durabledict.W005",
        )
        for name, _entry, channel in _pushed()
        if channel is None
    ]


def check_push_reachable(**kwargs: Any) -> list[CheckMessage]:
    from django_durabledict.push.probe import unreachable

    warnings = []
    for name, _entry, channel in _pushed():
        reason = None if channel is None else unreachable(*channel)
        if reason:
            warnings.append(
                Warning(
                    f"DURABLEDICTS[{name!r}] has PUSH on, but its {channel[0]} "
                    f"server cannot be reached ({reason}): until it can, the "
                    "dict polls at every sync.",
                    hint="Check the server's address and that it is running; "
                    "the dict keeps working meanwhile.",
                    id="durabledict.W004",
                )
            )
    return warnings
