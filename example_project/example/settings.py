"""Settings of the example project: SQLite and the local-memory cache.

Good for one process (``runserver``). With several worker processes, point the
ModelDict's CACHE at a cache they share (memcached or Redis): ``manage.py check
--deploy`` warns about the local-memory cache (durabledict.W001).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# A development-only key: this project is never deployed.
SECRET_KEY = "django-durabledict-example-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_durabledict",
    "example",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Syncs every dict with AUTOSYNC off once per request: one cache GET.
    "django_durabledict.middleware.DurableDictSyncMiddleware",
]

ROOT_URLCONF = "example.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # {{ dicts.features.banner }} in any template.
                "django_durabledict.context_processors.durabledicts",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DATABASE", BASE_DIR / "db.sqlite3"),
    }
}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Shared by every process, as production needs:
    # "default": {
    #     "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
    #     "LOCATION": "127.0.0.1:11211",
    #     "OPTIONS": {"connect_timeout": 0.25, "timeout": 0.25},
    # },
}

DURABLEDICTS = {
    # DurableSetting rows with namespace "features", edited in the admin.
    "features": {
        "BACKEND": "django_durabledict.backends.model.ModelDict",
        "CACHE": "default",  # the cache holding the version token
        "DEFAULTS": {"new_checkout": False, "banner": "Hello!", "max_items": 10},
    },
    # A Redis hash (pip install "django-durabledict[redis]"):
    # "rollout": {
    #     "BACKEND": "django_durabledict.backends.redis.RedisDict",
    #     "LOCATION": "redis://127.0.0.1:6379/0",
    # },
    # ZooKeeper znodes (pip install "django-durabledict[zookeeper]"):
    # "cluster": {
    #     "BACKEND": "django_durabledict.backends.zookeeper.ZookeeperDict",
    #     "HOSTS": "127.0.0.1:2181",
    #     "PATH": "/durabledict/example",
    # },
}

AUTH_PASSWORD_VALIDATORS = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "admin:login"
