"""Django settings for the test suite.

Databases and caches on servers that are not reachable are left out, and the tests
that need them skip (or fail under DURABLEDICT_REQUIRE_SERVICES=1; see conftest.py).
Names are suffixed with a per-run id so several runs can share one server.
"""

import os
import tempfile

from tests import mysql_driver, servers

RUN_ID = os.environ.setdefault("DURABLEDICT_RUN_ID", str(os.getpid()))

SECRET_KEY = "durabledict-tests-not-secret"
DEBUG = False
USE_TZ = True
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_durabledict",
    "tests",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# SQLite on a file, so processes started by the race tests share the test database.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(tempfile.gettempdir(), f"durabledict-{RUN_ID}.sqlite3"),
        "TEST": {
            "NAME": os.path.join(
                tempfile.gettempdir(), f"durabledict-test-{RUN_ID}.sqlite3"
            )
        },
        "OPTIONS": {"timeout": 30},
    }
}

if servers.shared_available("postgresql"):
    host, port = servers.address("postgresql")
    DATABASES["postgresql"] = {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": host,
        "PORT": port,
        "NAME": "postgres",
        "USER": "postgres",
        # No DEPENDENCIES: a run of only this database's tests needs no SQLite.
        "TEST": {"NAME": f"test_durabledict_{RUN_ID}", "DEPENDENCIES": []},
    }

if servers.shared_available("mariadb"):
    MYSQL_DRIVER = mysql_driver.install()
    host, port = servers.address("mariadb")
    DATABASES["mariadb"] = {
        "ENGINE": "django.db.backends.mysql",
        "HOST": host,
        "PORT": port,
        "NAME": "test",
        "USER": "root",
        "PASSWORD": "",
        "OPTIONS": {"charset": "utf8mb4"},
        "TEST": {
            "NAME": f"test_durabledict_{RUN_ID}",
            "CHARSET": "utf8mb4",
            "DEPENDENCIES": [],
        },
    }

# Short client timeouts, so a dead or paused cache costs a bounded time per request:
# the options recommended in docs/backends/model.rst, with a little more slack here
# because the whole suite shares these servers on a busy machine. The fault tests
# run private servers with exactly the recommended values.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": f"durabledict-{RUN_ID}",
    }
}

if servers.shared_available("memcached"):
    CACHES["memcached"] = {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": "{}:{}".format(*servers.address("memcached")),
        "KEY_PREFIX": f"t{RUN_ID}",
        "OPTIONS": {"connect_timeout": 0.25, "timeout": 0.25, "dead_timeout": 1},
    }

if servers.shared_available("redis"):
    redis_url = "redis://{}:{}/0".format(*servers.address("redis"))
    CACHES["redis"] = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": redis_url,
        "KEY_PREFIX": f"t{RUN_ID}",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }
    CACHES["redis_builtin"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_url,
        "KEY_PREFIX": f"b{RUN_ID}",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }

STATIC_URL = "/static/"
