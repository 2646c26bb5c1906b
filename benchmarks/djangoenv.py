"""Django settings for a worker process, built from the run's context and the
system it measures; identical in the reader and the writer of one system."""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from benchmarks.systems.base import System

BASE_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_durabledict",
    "benchmarks",
]
PEER_APPS = ["constance", "waffle"]


def installed_apps(extra: list[str] | None = None) -> list[str]:
    """Our apps plus *extra*; None means every peer app that is importable."""
    if extra is None:
        extra = [app for app in PEER_APPS if find_spec(app) is not None]
    return BASE_APPS + extra


def database(context: dict[str, Any], kind: str | None) -> dict[str, Any]:
    if kind == "postgresql":
        pg = context["postgresql"]
        # Persistent connections, as in production: Django closes the connection
        # at request_finished when CONN_MAX_AGE is 0.
        return {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": pg["host"],
            "PORT": pg["port"],
            "NAME": pg["name"],
            "USER": pg["user"],
            "CONN_MAX_AGE": 600,
        }
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": context["sqlite"],
        "OPTIONS": {"timeout": 30},
        "CONN_MAX_AGE": 600,
    }


def cache(context: dict[str, Any], kind: str | None, prefix: str) -> dict[str, Any]:
    # TIMEOUT None: the original durabledict adds its counter with the cache's
    # default timeout and breaks when it expires (spec B20); the peers' entries
    # would expire too. Nothing expires during a run.
    common = {"KEY_PREFIX": prefix, "TIMEOUT": None}
    if kind == "memcached":
        return {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": context["memcached"],
            **common,
        }
    if kind == "redis":
        return {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://{context['redis']}/0",
            **common,
        }
    return {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": prefix,
        **common,
    }


def configure(context: dict[str, Any], system: System | None, db: str | None = None):
    """Configure and set up Django for *system* (or for migrating *db*)."""
    import django
    from django.conf import settings

    extra = dict(system.settings()) if system else {}
    apps = installed_apps(extra.pop("INSTALLED_APPS_EXTRA", []) if system else None)
    prefix = system.prefix if system else context["prefix"]
    values: dict[str, Any] = {
        "SECRET_KEY": "durabledict-benchmarks-not-secret",
        "DEBUG": False,
        "USE_TZ": True,
        "INSTALLED_APPS": apps,
        "DATABASES": {"default": database(context, system.database if system else db)},
        "CACHES": {"default": cache(context, system.cache if system else None, prefix)},
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "LOGGING_CONFIG": None,
    }
    values.update(extra)
    settings.configure(**values)
    django.setup()
