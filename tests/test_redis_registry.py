"""RedisDict through DURABLEDICTS: the ``dicts`` registry builds and closes it,
and the system checks report a bad entry."""

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from django_durabledict import dicts
from django_durabledict.backends.redis import RedisDict
from tests import servers
from tests.redis_helpers import drop, new_keyspace

BACKEND = "django_durabledict.backends.redis.RedisDict"


def durabledict_messages():
    """The package's errors (W003 about the middleware is not Redis's business)."""
    return [
        m for m in run_checks() if m.id.startswith("durabledict.") and m.is_serious()
    ]


@pytest.mark.services("redis")
def test_the_registry_builds_a_redis_dict_and_closes_its_client():
    keyspace = new_keyspace()
    url = "redis://{}:{}/0".format(*servers.address("redis"))
    entry = {"BACKEND": BACKEND, "LOCATION": url, "KEYSPACE": keyspace}
    with override_settings(DURABLEDICTS={"rollout": entry}):
        assert durabledict_messages() == []
        d = dicts["rollout"]
        assert isinstance(d, RedisDict) and d.keyspace == keyspace
        d["percent"] = 5
        assert dicts["rollout"] is d and d.autosync is False  # the entry default
        client = d.connection
        assert client.hget(keyspace, "percent") in ("5", b"5")
        dicts.close_all()  # RedisDict.close(): tested on a private server
        again = dicts["rollout"]
        assert again is not d and again == {"percent": 5}
        drop(again.connection, keyspace)
        dicts.close_all()


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({}, "Give exactly one of CONNECTION"),
        ({"LOCATION": "localhost:6379"}, "LOCATION must be a redis://"),
        ({"CONNECTION": "default"}, "must be a django-redis cache"),
    ],
)
def test_checks_report_a_bad_entry(entry, problem):
    with override_settings(DURABLEDICTS={"rollout": {"BACKEND": BACKEND, **entry}}):
        messages = durabledict_messages()
    assert [m.id for m in messages] == ["durabledict.E003"]
    assert messages[0].msg.startswith("DURABLEDICTS['rollout']: ")
    assert problem in messages[0].msg


def test_an_unknown_key_is_e002():
    entry = {"BACKEND": BACKEND, "LOCATION": "redis://h", "COUNTER_KEY": "x"}
    with override_settings(DURABLEDICTS={"rollout": entry}):
        assert [m.id for m in durabledict_messages()] == ["durabledict.E002"]
