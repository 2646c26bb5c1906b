"""The ``DURABLEDICTS`` setting, read through one object: :data:`app_settings`.

``DURABLEDICTS`` is shaped like ``CACHES``: one entry per named dict. Each entry is
merged over :data:`ENTRY_DEFAULTS`. Without the setting there is one dict, named
``default``, stored in ``DurableSetting`` rows.

Settings are read late (on first use, never at import) and the cache is dropped
when ``DURABLEDICTS`` changes (``override_settings`` in tests), so this module can
be imported before settings are configured.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

#: The dict used when ``DURABLEDICTS`` is not set.
DEFAULT_DICT_NAME = "default"

#: Every entry is merged over these. Backends add their own keys (``config_keys``).
ENTRY_DEFAULTS: dict[str, Any] = {
    "BACKEND": "django_durabledict.backends.model.ModelDict",
    "AUTOSYNC": False,
    "ENCODING": "django_durabledict.encoding.JSONEncoding",
    "OLD_ENCODING": None,
    "DEFAULTS": {},
    "OPTIONS": {},
    # Largest encoded value, in bytes, the admin accepts: below memcached's 1 MiB item
    # size and ZooKeeper's default jute.maxbuffer (0xfffff bytes).
    "MAX_VALUE_SIZE": 1_000_000,
}

#: Keys every entry may hold, whatever its backend.
COMMON_KEYS = frozenset(ENTRY_DEFAULTS)

#: Entry keys holding dotted paths (or the objects themselves) to import.
IMPORTED_KEYS = ("BACKEND", "ENCODING", "OLD_ENCODING")

MIDDLEWARE_PATH = "django_durabledict.middleware.DurableDictSyncMiddleware"


class DurableDictConfigError(ImproperlyConfigured):
    """A ``DURABLEDICTS`` entry cannot be used: a path does not import, say."""


class DurableDictDoesNotExist(DurableDictConfigError, KeyError):
    """No dict of that name in ``DURABLEDICTS``.

    Also a ``KeyError``, so ``dicts[name]`` fails like any mapping lookup (and a
    template lookup of an unknown name renders as an invalid variable)."""

    __str__ = Exception.__str__  # KeyError's would quote the whole message


def import_entry_value(name: str, key: str, value: Any) -> Any:
    """Import *value* when it is a dotted path; objects are returned as they are."""
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as exc:
        raise DurableDictConfigError(
            f"DURABLEDICTS[{name!r}][{key!r}] = {value!r} cannot be imported: {exc}"
        ) from exc


class AppSettings:
    """Read access to ``DURABLEDICTS``, with defaults and imports applied.

    Imported entries are cached until :meth:`reload` (connected to
    ``setting_changed``)."""

    def __init__(self) -> None:
        self._configs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    @property
    def dicts(self) -> Mapping[str, Any]:
        """The raw ``DURABLEDICTS`` setting, or the one ``default`` dict."""
        return getattr(settings, "DURABLEDICTS", {DEFAULT_DICT_NAME: {}})

    def names(self) -> list[str]:
        """The configured dict names, in settings order."""
        return list(self.dicts)

    def entry(self, name: str) -> dict[str, Any]:
        """The entry for *name* merged over the defaults; paths not imported."""
        try:
            raw = self.dicts[name]
        except (KeyError, TypeError):
            configured = ", ".join(repr(n) for n in self.names()) or "none"
            raise DurableDictDoesNotExist(
                f"No dict named {name!r} in DURABLEDICTS. Configured dicts: "
                f"{configured}."
            ) from None
        return {**ENTRY_DEFAULTS, **raw}

    def config(self, name: str) -> dict[str, Any]:
        """The entry for *name* with BACKEND, ENCODING and OLD_ENCODING imported.

        Returns a new dict on each call, so a backend may keep or change it."""
        config = self._configs.get(name)
        if config is None:
            config = self.entry(name)
            for key in IMPORTED_KEYS:
                config[key] = import_entry_value(name, key, config[key])
            with self._lock:
                self._configs[name] = config
        return dict(config)

    def backend(self, name: str) -> Any:
        """The imported BACKEND class of *name*."""
        return self.config(name)["BACKEND"]

    def reload(self) -> None:
        """Forget imported entries; the next access reads the settings again."""
        with self._lock:
            self._configs = {}


app_settings = AppSettings()


@receiver(setting_changed)
def reload_app_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "DURABLEDICTS":
        app_settings.reload()
