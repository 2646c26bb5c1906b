"""``manage.py durabledict_status`` (text and --json) on every backend, and a real
Redis outage seen by the command, the health view and the signals."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings

from django_durabledict import dicts
from django_durabledict.models import DurableNamespace, DurableSetting
from django_durabledict.signals import dict_recovered, dict_unavailable
from tests import servers
from tests.dictbackends import memory_entry, reset_stores

# Committed for real, so the ModelDict's shared snapshot is what gets loaded.
pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "django_durabledict.backends.model.ModelDict"
REDIS = "django_durabledict.backends.redis.RedisDict"
ZOOKEEPER = "django_durabledict.backends.zookeeper.ZookeeperDict"
BASIC = {"features": {"BACKEND": MODEL, "CACHE": "default"}, "memory": memory_entry()}


@pytest.fixture(autouse=True)
def closed():
    yield
    dicts.close_all()
    reset_stores()


def status(*args):
    out = StringIO()
    call_command("durabledict_status", *args, stdout=out)
    return out.getvalue()


def status_json(*args):
    return json.loads(status("--json", *args))["dicts"]


@override_settings(DURABLEDICTS=BASIC)
def test_text_names_each_dict_its_health_versions_and_reloads():
    DurableSetting.objects.create(namespace="features", key="flag", value="true")
    version = DurableNamespace.objects.get(name="features").version
    text = status()
    assert f"features ({MODEL}): ok" in text
    assert f"store: version {version}, changed " in text
    assert "in sync" in text
    assert "reloads: 1 full, 0 incremental" in text
    assert "memory (tests.dictbackends.SharedMemoryDict): ok" in text
    assert "age unknown" in text
    assert "last failure" not in text


@override_settings(DURABLEDICTS=BASIC)
def test_json_has_the_process_and_the_store_side():
    DurableSetting.objects.create(namespace="features", key="flag", value="true")
    found = status_json()
    assert set(found) == {"features", "memory"}
    features = found["features"]
    assert features["health"] == "ok" and features["backend"] == MODEL
    store = features["store"]
    assert store["version"] == DurableNamespace.objects.get(name="features").version
    assert store["in_sync"] is True and store["changed_at"] is not None
    process = features["process"]
    assert process["full_reloads"] == 1 and process["incremental_reloads"] == 0
    assert process["keys"] == 1 and process["decode_errors"] == {}
    assert found["memory"]["store"]["changed_at"] is None


@override_settings(DURABLEDICTS=BASIC)
def test_names_select_dicts_and_unknown_names_are_errors():
    assert set(status_json("memory")) == {"memory"}
    with pytest.raises(CommandError, match="No dict named 'nope'"):
        status("nope")


@override_settings(DURABLEDICTS=BASIC)
def test_a_namespace_never_written_has_no_version_yet():
    assert "no version yet" in status("features")
    assert status_json("features")["features"]["store"]["version"] is None


@override_settings(
    DURABLEDICTS={"broken": {"BACKEND": "tests.dictbackends.NoSuchDict"}}
)
def test_a_dict_that_cannot_be_built_is_reported_not_raised():
    text = status()
    assert "broken (tests.dictbackends.NoSuchDict): unavailable" in text
    assert "cannot be built here" in text


@pytest.mark.services("redis")
def test_redis_shows_its_counter_and_says_age_unknown():
    from tests.redis_helpers import drop, new_keyspace, shared_client

    keyspace, raw = new_keyspace(), shared_client()
    location = "redis://{}:{}/0".format(*servers.address("redis"))
    entry = {"BACKEND": REDIS, "LOCATION": location, "KEYSPACE": keyspace}
    try:
        with override_settings(DURABLEDICTS={"rd": entry}):
            dicts["rd"]["a"] = 1
            store = status_json()["rd"]["store"]
            assert store["version"] == raw.get(keyspace + "last_updated")
            assert store["changed_at"] is None
            assert "age unknown" in status()
    finally:
        drop(raw, keyspace)
        raw.close()


@pytest.mark.services("zookeeper")
def test_zookeeper_shows_the_zxid_it_knows():
    from tests.zookeeper_helpers import delete_tree, started, stop, unique_root

    hosts, root = "{}:{}".format(*servers.address("zookeeper")), unique_root()
    entry = {"BACKEND": ZOOKEEPER, "HOSTS": hosts, "PATH": root}
    raw = started(hosts)
    try:
        with override_settings(DURABLEDICTS={"zk": entry}):
            dicts["zk"]["a"] = 1
            dicts["zk"].sync()
            found = status_json()["zk"]
            assert found["health"] == "ok"
            assert found["store"]["version"]["zxid"] > 0
            assert found["store"]["in_sync"] is True
            assert found["store"]["changed_at"] is None
    finally:
        dicts.close_all()
        delete_tree(raw, root)
        stop(raw)


@pytest.mark.slow
@pytest.mark.services("redis-server")
def test_a_killed_redis_is_unavailable_everywhere_then_recovers():
    downs, ups = [], []

    def down(sender, name, **kwargs):
        downs.append(name)

    def up(sender, name, **kwargs):
        ups.append(name)

    dict_unavailable.connect(down)
    dict_recovered.connect(up)
    with servers.start_redis() as server:
        location = f"redis://{server.host}:{server.port}/0"
        entry = {"BACKEND": REDIS, "LOCATION": location, "KEYSPACE": "status"}
        with override_settings(
            DURABLEDICTS={"rd": entry},
            DURABLEDICT_HEALTH_TOKEN="t0ken",
            ROOT_URLCONF="tests.status_urls",
        ):
            try:
                health = Client().get("/healthz/?token=t0ken")
                assert health.status_code == 200
                server.kill()
                dicts["rd"].sync()
                assert downs == ["rd"]
                text = status("rd")
                assert f"rd ({REDIS}): unavailable" in text
                assert "unreachable since" in text and "ConnectionError" in text
                assert "store: cannot be read" in text
                health = Client().get("/healthz/?token=t0ken")
                assert health.status_code == 503
                assert health.json()["status"] == "unavailable"
                assert "ConnectionError" not in health.content.decode()
                assert location not in health.content.decode()

                server.start()
                dicts["rd"]._retry_now()
                dicts["rd"].sync()
                assert ups == ["rd"]
                assert Client().get("/healthz/?token=t0ken").status_code == 200
                assert f"rd ({REDIS}): ok" in status("rd")
            finally:
                dict_unavailable.disconnect(down)
                dict_recovered.disconnect(up)
                dicts.close_all()
