"""Status and signals when real servers fail: a ZooKeeper connection cut (the
signals then come from kazoo's own thread), a ModelDict's token cache killed
(health "degraded", still healthy), and the admin page of a dead Redis."""

import threading

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client, override_settings

from django_durabledict import dicts
from django_durabledict.signals import dict_recovered, dict_unavailable
from tests import servers

pytestmark = pytest.mark.slow


class Events:
    """Sends of dict_unavailable and dict_recovered for one dict name, with the
    thread each came from."""

    def __init__(self, name):
        self.name, self.down, self.up = name, [], []
        dict_unavailable.connect(self.on_down)
        dict_recovered.connect(self.on_up)

    def on_down(self, sender, name, **kwargs):
        if name == self.name:
            self.down.append((threading.current_thread().name, kwargs))

    def on_up(self, sender, name, **kwargs):
        if name == self.name:
            self.up.append((threading.current_thread().name, kwargs))

    def close(self):
        dict_unavailable.disconnect(self.on_down)
        dict_recovered.disconnect(self.on_up)


@pytest.mark.services("zookeeper-server")
def test_a_zookeeper_cut_is_signalled_from_kazoos_thread_and_healed():
    from django_durabledict.backends.zookeeper import ZookeeperDict
    from tests.tcpproxy import TcpProxy
    from tests.zookeeper_helpers import started, stop, unique_root

    events = Events("zk-cut")
    with servers.start_zookeeper() as zk, TcpProxy((zk.host, zk.port)) as proxy:
        client = started(proxy.address, timeout=4.0)
        try:
            durable = ZookeeperDict(unique_root(), client, name="zk-cut")
            durable["a"] = 1
            proxy.cut()
            assert servers.wait_until(lambda: events.down, 10)
            status = durable.status()
            assert status.health == "unavailable" and status.stale_since is not None
            assert status.last_error.startswith("ConnectionLoss")
            assert durable["a"] == 1
            thread, details = events.down[0]
            assert thread != threading.main_thread().name  # kazoo's, not ours
            assert details["since"] == status.stale_since
            proxy.heal()
            assert servers.wait_until(lambda: events.up, 15)
            assert len(events.down) == 1 and len(events.up) == 1
            assert durable.status().health == "ok"
        finally:
            events.close()
            stop(client)


@pytest.mark.services("memcached-server")
@pytest.mark.django_db(transaction=True)
def test_a_dead_token_cache_is_degraded_but_healthy():
    with servers.start_memcached() as server:
        cache = {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": server.address,
            "OPTIONS": {"connect_timeout": 0.25, "timeout": 0.25, "dead_timeout": 1},
        }
        entry = {"BACKEND": "django_durabledict.backends.model.ModelDict"}
        with override_settings(
            CACHES={**caches.settings, "tokens": cache},
            DURABLEDICTS={"flags": {**entry, "CACHE": "tokens"}},
            DURABLEDICT_HEALTH_TOKEN="t",
            ROOT_URLCONF="tests.status_urls",
        ):
            try:
                dicts["flags"]["x"] = 1
                assert dicts["flags"].status().health == "ok"
                server.kill()
                dicts["flags"].sync()
                status = dicts["flags"].status()
                assert status.health == "degraded" and status.healthy
                assert status.token_cache_unavailable_since is not None
                response = Client().get("/healthz/?token=t")
                assert response.status_code == 200
                assert response.json()["dicts"]["flags"]["health"] == "degraded"
            finally:
                dicts.close_all()
                caches["tokens"].close()


@pytest.mark.services("redis-server")
@pytest.mark.django_db(transaction=True)
def test_the_admin_page_shows_a_dead_redis_as_unavailable():
    events = Events("rd")
    with servers.start_redis() as server:
        location = f"redis://{server.host}:{server.port}/0"
        entry = {"BACKEND": "django_durabledict.backends.redis.RedisDict"}
        entry.update(LOCATION=location, KEYSPACE="page")
        with override_settings(
            DURABLEDICTS={"rd": entry}, ROOT_URLCONF="tests.status_urls"
        ):
            try:
                dicts["rd"]["a"] = 1
                server.kill()
                dicts["rd"].sync()
                user = User.objects.create_superuser("root", password="pw")
                client = Client()
                client.force_login(user)
                page = client.get("/admin/django_durabledict/durablesetting/status/")
                html = page.content.decode()
                assert 'class="health health-unavailable"' in html
                assert "since" in html and "cannot be read" in html
                assert "last failure" in html
                assert len(events.down) == 1 and events.up == []
            finally:
                events.close()
                dicts.close_all()
