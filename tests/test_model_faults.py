"""The token's cache killed, paused (SIGSTOP) and restarted under reads.

Private memcached and Redis servers (tests/servers.py), with the cache OPTIONS
docs/backends/model.rst recommends. Two reader processes read with autosync on
throughout; the parent writes during the outage. Asserted: no read raises, no read
blocks longer than the client timeout allows, and once the cache answers again
each reader's first sync shows the write made during the outage.
"""

import logging
import os
import time

import pytest
from django.core.cache import caches
from django.db import connections
from django.test import override_settings

from django_durabledict.backends.model import ModelDict
from tests import servers
from tests.test_model_races import Race

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, databases=["default"]),
]

#: Seconds: the client timeouts below. A read during an outage costs at most one
#: connect or read timeout (the circuit breaker skips the cache for
#: ``retry_interval`` after a failure), so this bounds every read.
TIMEOUT = 0.25
#: A read slower than this met the outage (a timeout, or a refused connection
#: plus scheduling); healthy reads take about a millisecond.
SLOW = 0.1
OUTAGE = 3.0  # seconds a killed or paused cache stays down


def memcached_cache(server):
    return {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": server.address,
        "OPTIONS": {
            "connect_timeout": TIMEOUT,
            "timeout": TIMEOUT,
            "retry_attempts": 1,
            "retry_timeout": 1,
            "dead_timeout": 1,
        },
    }


def django_redis_cache(server):
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"redis://{server.address}/0",
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": TIMEOUT,
            "SOCKET_TIMEOUT": TIMEOUT,
            # Swallows errors in cache.get(): the token is read below it anyway.
            "IGNORE_EXCEPTIONS": True,
        },
    }


def builtin_redis_cache(server):
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://{server.address}/0",
        "OPTIONS": {"socket_connect_timeout": TIMEOUT, "socket_timeout": TIMEOUT},
    }


BACKENDS = {
    "memcached": (servers.start_memcached, memcached_cache, "memcached-server"),
    "django-redis": (servers.start_redis, django_redis_cache, "redis-server"),
    "redis-builtin": (servers.start_redis, builtin_redis_cache, "redis-server"),
}


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.services(BACKENDS[name][2]))
        for name in BACKENDS
    ]
)
def backend(request):
    start, config, _service = BACKENDS[request.param]
    return request.param, start, config


def answers(alias):
    try:
        caches[alias].set("durabledict-probe", 1)
        return caches[alias].get("durabledict-probe") == 1
    except Exception:
        return False


@pytest.mark.parametrize("fault", ["kill", "pause", "restart"])
def test_cache_fault_under_reads(backend, fault, caplog):
    name, start, config = backend
    caplog.set_level(logging.WARNING, "django_durabledict")
    with start() as server:
        cache = config(server)
        race = Race("default", "faulty", {"faulty": cache})
        with override_settings(CACHES={**caches.settings, "faulty": cache}):
            try:
                stats = _run_fault(race, server, fault)
            finally:
                race.close()
                caches["faulty"].close()
                connections.close_all()
    longest = max(s["longest"] for s in stats)
    reads = sum(s["reads"] for s in stats)
    slow = sum(s["slow_reads"] for s in stats)
    print(
        f"\n{name} {fault}: {reads} reads, {slow} slower than {SLOW * 1000:.0f} ms, "
        f"longest {longest * 1000:.0f} ms"
    )
    assert all(s["failures"] == [] for s in stats), stats
    # The circuit breaker: a reader meets the outage at most once per
    # retry_interval (1 s) of the ~3.5 s outage, whatever its read rate.
    assert all(s["slow_reads"] <= 5 for s in stats), stats
    # Counts are what we assert; this only catches a read that waited for the
    # server instead of timing out (a paused memcached without the recommended
    # timeouts blocks for as long as it is paused: up to OUTAGE seconds). The
    # bound sits well below the outage so a loaded machine does not trip it.
    assert longest < OUTAGE - 1, stats
    assert all(s["outage_warnings"] <= 1 for s in stats), stats  # one per outage


def _run_fault(race, server, fault):
    writer = ModelDict(cache="faulty", namespace=race.namespace, database=race.database)
    writer["k"] = 0
    readers = race.start(2, autosync=True, backstop_interval=3600)
    stop = race.path("stop")
    for reader in readers:
        reader.send("read_loop", "k", stop, SLOW)
    time.sleep(0.5)
    if fault == "kill":
        server.kill()
    elif fault == "pause":
        server.pause()
    else:
        server.kill()
    writer["k"] = 1  # committed; its bump cannot reach the cache
    if fault == "restart":
        server.start()
    else:
        time.sleep(OUTAGE)  # readers keep reading through the outage
        if fault == "pause":
            server.resume()
        else:
            server.start()
    open(stop, "w").close()
    stats = [reader.receive() for reader in readers]
    # Once this process's own client talks to the server again (pymemcache re-admits
    # a dead server after dead_timeout), each reader's breaker (retry_interval,
    # 1 s) lets its next sync probe the cache.
    assert servers.wait_until(lambda: answers("faulty"), 15)
    time.sleep(ModelDict.retry_interval + 0.2)
    for reader in readers:
        assert reader.call("one_sync", "k") == 1  # one sync after recovery
    os.remove(stop)
    return stats
