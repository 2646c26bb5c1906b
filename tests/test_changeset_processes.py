"""Changesets between OS processes, on every backend's real server.

Atomicity: a writer process applies many changesets, each setting every key to
one generation number (and adding or removing one more key); reader processes
sync and check every snapshot they get: all keys of one generation, never a mix.
Compare-and-set: several processes increment one counter with checked
changesets; none of the increments is lost, and each saw a distinct value.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid

import pytest
from django.db import connections

from tests import servers
from tests.changeset_workers import KEYS, generation_of, start

pytestmark = pytest.mark.slow

GENERATIONS = 80
INCREMENTS = 15


def redis_spec():
    from tests.redis_helpers import drop, new_keyspace, shared_client

    host, port = servers.address("redis")
    spec = {"kind": "redis", "host": host, "port": port, "keyspace": new_keyspace()}
    client = shared_client()

    def stored():
        raw = client.hgetall(spec["keyspace"])
        return {key: json.loads(value) for key, value in raw.items()}

    def cleanup():
        drop(client, spec["keyspace"])
        client.close()

    return spec, stored, cleanup


def zookeeper_spec():
    from tests.zookeeper_helpers import delete_tree, started, stop, unique_root

    hosts = "{}:{}".format(*servers.address("zookeeper"))
    spec = {"kind": "zookeeper", "hosts": hosts, "root": unique_root()}
    client = started(hosts)

    def stored():
        names = client.get_children(spec["root"])
        return {
            name: json.loads(client.get(f"{spec['root']}/{name}")[0]) for name in names
        }

    def cleanup():
        delete_tree(client, spec["root"])
        stop(client)

    return spec, stored, cleanup


def model_spec(database, cache):
    from django_durabledict.models import DurableSetting

    namespace = f"cs-{uuid.uuid4().hex[:10]}"
    spec = {
        "kind": "model",
        "databases": {database: connections[database].settings_dict["NAME"]},
        "options": {
            "cache": cache,
            "namespace": namespace,
            "database": database,
            "autosync": False,
        },
    }

    def stored():
        rows = DurableSetting.objects.using(database).namespace(namespace)
        return {
            key: json.loads(value) for key, value in rows.values_list("key", "value")
        }

    return spec, stored, lambda: None


BACKENDS = [
    pytest.param(redis_spec, id="redis", marks=pytest.mark.services("redis")),
    pytest.param(
        zookeeper_spec, id="zookeeper", marks=pytest.mark.services("zookeeper")
    ),
]
for _database, _cache in [("postgresql", "memcached"), ("mariadb", "redis")]:
    BACKENDS.append(
        pytest.param(
            lambda d=_database, c=_cache: model_spec(d, c),
            id=f"model-{_database}-{_cache}",
            marks=[
                # "default" too: the test databases depend on it (TEST DEPENDENCIES).
                pytest.mark.django_db(
                    transaction=True, databases=["default", _database]
                ),
                pytest.mark.services(_database, _cache),
            ],
        )
    )


@pytest.fixture(params=BACKENDS)
def backend(request):
    spec, stored, cleanup = request.param()
    workers = []
    yield spec, stored, workers
    for worker in workers:
        worker.close()
    cleanup()


@pytest.fixture
def report(capsys):
    def report(message):
        with capsys.disabled():
            print(f"\n    [changeset figure] {message}", end="")

    return report


def test_readers_never_see_half_a_changeset_and_cas_loses_nothing(backend, report):
    spec, stored, workers = backend
    name = spec["kind"] + (
        f" {spec['options']['database']}" if "options" in spec else ""
    )
    workers += start(spec, 3)
    writer, readers = workers[0], workers[1:]
    stop = os.path.join(tempfile.mkdtemp(prefix="durabledict-cs-"), "stop")
    for reader in readers:
        reader.send("read_until", stop)
    pause = spec.get("pause", 0.0)
    assert writer.call_result("write_generations", 1, GENERATIONS, pause) == GENERATIONS
    open(stop, "w").close()
    results = [reader.receive() for reader in readers]
    for result in results:
        assert result["bad"] == [], result
        assert result["last"] == GENERATIONS  # the final changeset, whole
        assert result["reads"] > 10
    assert generation_of(stored()) == GENERATIONS
    report(
        f"{name}: {GENERATIONS} changesets; readers checked "
        f"{[r['reads'] for r in results]} snapshots showing "
        f"{[r['generations'] for r in results]} generations, none half-applied"
    )

    # Compare-and-set: three processes increment one counter concurrently.
    for i, worker in enumerate(workers):
        worker.send("increment", INCREMENTS, f"p{i}")
    conflicts = [worker.receive() for worker in workers]
    final = stored()
    total = INCREMENTS * len(workers)
    assert final["counter"] == total
    seen = sorted(v for k, v in final.items() if k.startswith("p"))
    assert seen == list(range(1, total + 1)), conflicts  # each saw its own value
    assert set(KEYS) <= set(final)
    report(
        f"{name}: {total} checked increments from 3 processes, none lost; "
        f"conflicts retried: {conflicts}"
    )
