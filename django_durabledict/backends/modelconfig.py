"""ModelDict's DURABLEDICTS entries.

::

    DURABLEDICTS = {
        "features": {                       # DurableSetting, namespace "features"
            "BACKEND": "django_durabledict.backends.model.ModelDict",
            "CACHE": "default",             # cache alias of the token (default)
            "DATABASE": "default",          # optional; the model's write database
            "BACKSTOP_INTERVAL": 30,        # seconds; None disables the backstop
            "TOMBSTONE_MAX_AGE": 86400,     # seconds a delete is kept in the history
            "PUSH": True,                   # see push/; Redis cache or PostgreSQL
            "PUSH_BACKSTOP": 5,             # seconds between polls while pushed
        },
        "legacy": {                         # your own model, as in durabledict
            "BACKEND": "django_durabledict.backends.model.ModelDict",
            "MODEL": "myapp.Setting",
            "OPTIONS": {"key_col": "name", "value_col": "payload"},
        },
    }

Without ``MODEL`` the entry binds ``DurableSetting`` with the entry's name as the
namespace (``OPTIONS["namespace"]`` overrides it).
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import Any

from django_durabledict.push.config import push_kwargs, push_problems

DEFAULT_BACKSTOP_INTERVAL = 30.0
DEFAULT_TOMBSTONE_MAX_AGE = 86400.0


def build(cls: type, name: str, config: Mapping[str, Any]) -> Any:
    """The ModelDict (subclass *cls*) for ``DURABLEDICTS[name]``."""
    kwargs = {**push_kwargs(config), **cls.common_kwargs(name, config)}
    model = config.get("MODEL")
    if model:
        from django.apps import apps

        manager = apps.get_model(model)._default_manager
    else:
        manager = None
        kwargs.setdefault("namespace", name)
    return cls(
        manager,
        config.get("CACHE", "default"),
        database=config.get("DATABASE"),
        backstop_interval=config.get("BACKSTOP_INTERVAL", DEFAULT_BACKSTOP_INTERVAL),
        tombstone_max_age=config.get("TOMBSTONE_MAX_AGE", DEFAULT_TOMBSTONE_MAX_AGE),
        **kwargs,
    )


def problems(name: str, config: Mapping[str, Any]) -> list[str]:
    """One sentence per mistake in the entry."""
    from django.conf import settings

    found = []
    cache = config.get("CACHE", "default")
    if cache not in settings.CACHES:
        found.append(f"CACHE {cache!r} is not a key of settings.CACHES.")
    database = config.get("DATABASE")
    if database is not None and database not in settings.DATABASES:
        found.append(f"DATABASE {database!r} is not a key of settings.DATABASES.")
    interval = config.get("BACKSTOP_INTERVAL", DEFAULT_BACKSTOP_INTERVAL)
    if interval is not None and (
        not isinstance(interval, Real) or isinstance(interval, bool) or interval <= 0
    ):
        found.append("BACKSTOP_INTERVAL must be a positive number of seconds or None.")
    max_age = config.get("TOMBSTONE_MAX_AGE", DEFAULT_TOMBSTONE_MAX_AGE)
    if not _positive(max_age):
        found.append("TOMBSTONE_MAX_AGE must be a positive number of seconds.")
    found += push_problems(config)
    found += _model_problems(name, config)
    return found


def _positive(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and value > 0


def _model_problems(name: str, config: Mapping[str, Any]) -> list[str]:
    model = config.get("MODEL")
    if not model:
        from django_durabledict.models import NAMESPACE_MAX_LENGTH

        namespace = config.get("OPTIONS", {}).get("namespace", name)
        if not isinstance(namespace, str) or not namespace:
            return ["the namespace must be a non-empty string."]
        if len(namespace) > NAMESPACE_MAX_LENGTH:
            return [f"the namespace is longer than {NAMESPACE_MAX_LENGTH} characters."]
        return []
    from django.apps import apps

    try:
        apps.get_model(model)
    except (LookupError, ValueError):
        return [f"MODEL {model!r} is not an installed model ('app_label.ModelName')."]
    return []


def setting_binding(
    name: str, config: Mapping[str, Any], using: str
) -> tuple[str, str] | None:
    """``(namespace, cache alias)`` if the entry binds a DurableSetting namespace on
    database *using*, else None. Lets writers bump dicts they never built."""
    if config.get("MODEL"):
        return None
    database = config.get("DATABASE")
    if database is None:
        from django.db import router

        from django_durabledict.models import DurableSetting

        database = router.db_for_write(DurableSetting)
    if database != using:
        return None
    namespace = config.get("OPTIONS", {}).get("namespace", name)
    return namespace, config.get("CACHE", "default")
