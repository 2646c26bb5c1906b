"""One report per configured dict, for the status command, the admin's status
page and the health view: this process's :class:`DictStatus` of it and, when
asked, the version its store holds now (:mod:`storeversion`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django_durabledict.conf import app_settings
from django_durabledict.registry import dicts
from django_durabledict.status import UNAVAILABLE, DictStatus, dotted_path
from django_durabledict.storeversion import StoreVersion, store_version


@dataclass(frozen=True)
class DictReport:
    """``status`` is ``None`` (and ``error`` says why) when the dict could not be
    built in this process: a bad entry, a store that refused the first load."""

    name: str
    backend: str
    status: DictStatus | None = None
    store: StoreVersion | None = None
    error: str | None = None

    @property
    def health(self) -> str:
        return UNAVAILABLE if self.status is None else self.status.health

    @property
    def healthy(self) -> bool:
        return self.status is not None and self.status.healthy

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "health": self.health,
            "error": self.error,
            "process": None if self.status is None else self.status.as_dict(),
            "store": None if self.store is None else self.store.as_dict(),
        }


def backend_path(name: str) -> str:
    backend = app_settings.entry(name)["BACKEND"]
    return backend if isinstance(backend, str) else dotted_path(backend)


def report(name: str, with_store: bool = True) -> DictReport:
    """The report of ``dicts[name]``, building the dict if this process has not
    yet (which loads it: one reload)."""
    backend = backend_path(name)
    try:
        durable = dicts[name]
    except Exception as exc:
        return DictReport(name, backend, error=f"{type(exc).__name__}: {exc}")
    store = store_version(durable) if with_store else None
    return DictReport(name, backend, status=durable.status(), store=store)


def reports(names: list[str] | None = None, with_store: bool = True) -> list:
    """Reports of *names* (default: every configured dict), in that order."""
    return [report(name, with_store) for name in names or app_settings.names()]
