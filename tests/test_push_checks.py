"""System checks of PUSH: durabledict.W004 (deploy: the server cannot be reached)
and durabledict.W005 (the store has no channel), against real servers."""

import pytest
from django.test import override_settings

from django_durabledict import checks
from tests import servers
from tests.test_checks import MIDDLEWARE, ids, run_all

REDIS_DICT = "django_durabledict.backends.redis.RedisDict"
MODEL_DICT = "django_durabledict.backends.model.ModelDict"


@pytest.fixture(autouse=True)
def with_middleware():
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        yield


def redis_url(port=None):
    host, shared_port = servers.address("redis")
    return f"redis://{host}:{port or shared_port}/0"


@pytest.mark.services("redis")
def test_w004_push_server_cannot_be_reached_under_deploy_only():
    entry = {"BACKEND": REDIS_DICT, "LOCATION": redis_url(servers.free_port())}
    with override_settings(DURABLEDICTS={"x": {**entry, "PUSH": True}}):
        (warning,) = checks.check_push_reachable()
        assert warning.id == "durabledict.W004" and "'x'" in warning.msg
        assert ids(run_all(deploy=False)) == []
        assert ids(run_all(deploy=True)) == ["durabledict.W004"]
    with override_settings(DURABLEDICTS={"x": entry}):  # PUSH off: not asked
        assert checks.check_push_reachable() == []


@pytest.mark.services("redis")
@pytest.mark.parametrize("cache", [None, "redis", "redis_builtin"])
def test_w004_not_when_the_server_answers(cache):
    if cache is None:
        entry = {"BACKEND": REDIS_DICT, "LOCATION": redis_url()}
    else:
        entry = {"BACKEND": MODEL_DICT, "CACHE": cache}
    with override_settings(DURABLEDICTS={"x": {**entry, "PUSH": True}}):
        assert run_all(deploy=True) == []


@pytest.mark.services("postgresql")
def test_w004_not_for_a_reachable_postgresql():
    entry = {"BACKEND": MODEL_DICT, "DATABASE": "postgresql", "PUSH": True}
    with override_settings(DURABLEDICTS={"x": entry}):
        assert checks.check_push_channel() == []
        assert checks.check_push_reachable() == []


@pytest.mark.services("memcached")
def test_w005_push_without_a_channel():
    entry = {"BACKEND": MODEL_DICT, "CACHE": "memcached", "PUSH": True}
    with override_settings(DURABLEDICTS={"x": entry}):
        (warning,) = checks.check_push_channel()
        assert warning.id == "durabledict.W005" and "polls" in warning.msg
        assert ids(run_all()) == ["durabledict.W005"]


@pytest.mark.parametrize(
    "extra", [{"PUSH": "yes"}, {"PUSH_BACKSTOP": 0}, {"PUSH_BACKSTOP": "5"}]
)
def test_e003_bad_push_keys(extra):
    entry = {"BACKEND": MODEL_DICT, **extra}
    with override_settings(DURABLEDICTS={"x": entry}):
        (error,) = checks.check_backend_config()
        assert error.id == "durabledict.E003" and "PUSH" in error.msg
