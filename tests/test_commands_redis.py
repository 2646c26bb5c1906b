"""durabledict_dump and durabledict_load with RedisDict on the shared Redis: round
trips, a dump that sends only HGETALL, a load that is one script, an unreachable
server, and a reader in another process that never sees a load half done."""

import json

import pytest
import redis
from django.core.management.base import CommandError
from django.test import override_settings

from django_durabledict import dicts
from tests import servers
from tests.commands_helpers import SAMPLE, Reader, dump, load, states, write_document
from tests.redis_helpers import counter, drop, new_keyspace, shared_client

pytestmark = pytest.mark.services("redis")

BACKEND = "django_durabledict.backends.redis.RedisDict"
PICKLE = "django_durabledict.encoding.PickleEncoding"
#: What redis-py sends when it opens a connection.
HANDSHAKE = {"HELLO", "PING", "CLIENT", "AUTH", "SELECT"}
WRITES = {"EVAL", "EVALSHA", "HSET", "HDEL", "SET", "INCR", "INCRBY", "DEL"}


@pytest.fixture(scope="module")
def url():
    return "redis://{}:{}/0".format(*servers.address("redis"))


@pytest.fixture(scope="module")
def raw():
    client = shared_client()
    yield client
    client.close()


@pytest.fixture
def keyspaces(raw):
    made = []

    def make():
        made.append(new_keyspace())
        return made[-1]

    yield make
    dicts.close_all()
    for keyspace in made:
        drop(raw, keyspace)
        drop(raw, keyspace + "-p")


def configure(location, keyspace, **extra):
    entry = {"BACKEND": BACKEND, "LOCATION": location, **extra}
    return override_settings(
        DURABLEDICTS={
            "rd": {**entry, "KEYSPACE": keyspace},
            "legacy": {**entry, "KEYSPACE": keyspace + "-p", "ENCODING": PICKLE},
        }
    )


@pytest.fixture
def rd(url, keyspaces):
    keyspace = keyspaces()
    with configure(url, keyspace):
        yield keyspace


@pytest.fixture
def commands(monkeypatch):
    """The name of every command any redis-py connection sends, pipelined or not
    (MULTI, EXEC and what a transaction holds included)."""
    sent = []
    connection = redis.connection.Connection
    send_command, pack_commands = connection.send_command, connection.pack_commands

    def sending(self, *args, **kwargs):
        sent.append(str(args[0]).upper())
        return send_command(self, *args, **kwargs)

    def packing(self, pipelined):
        sent.extend(str(args[0]).upper() for args in pipelined)
        return pack_commands(self, pipelined)

    monkeypatch.setattr(connection, "send_command", sending)
    monkeypatch.setattr(connection, "pack_commands", packing)
    return sent


def test_round_trip_into_an_empty_keyspace(url, keyspaces, raw, tmp_path):
    first, second = keyspaces(), keyspaces()
    path = tmp_path / "dump.json"
    with configure(url, first):
        dicts["rd"]._apply(SAMPLE, [])
        dicts["legacy"]._apply({"ips": {"10.0.0.1", "10.0.0.2"}, "n": 3}, [])
        dump("--all", "--raw", "-o", str(path))
    dicts.close_all()
    with configure(url, second):
        out, _ = load(str(path), "--no-input")
        assert f"rd: {len(SAMPLE)} changes written." in out
        assert dump("--all", "--raw")[0] == path.read_text(encoding="utf-8")
        assert raw.hgetall(second + "-p") == raw.hgetall(first + "-p")
        assert dicts["rd"].copy() == SAMPLE
    dicts.close_all()


@pytest.mark.parametrize("built", [False, True], ids=["fresh", "built"])
def test_a_dump_sends_one_hgetall(rd, raw, commands, built):
    dicts["rd"]._apply(SAMPLE, [])
    if not built:
        dicts.close_all()
        # No counter: building the dict the normal way would create one.
        raw.delete(rd + "last_updated")
    before = counter(raw, rd)
    commands.clear()
    out, _ = dump("rd")
    assert json.loads(out)["dicts"]["rd"] == SAMPLE
    assert [c for c in commands if c not in HANDSHAKE] == ["HGETALL"], commands
    assert counter(raw, rd) == before


def test_a_load_is_one_script(rd, raw, commands, tmp_path):
    dicts["rd"]._apply({f"k{i}": i for i in range(50)}, [])
    before = counter(raw, rd)
    new = {f"k{i}": -i for i in range(25, 75)}
    path = write_document(tmp_path / "f.json", {"rd": new})
    commands.clear()
    load(path, "--no-input", "--prune")
    assert [c for c in commands if c in WRITES] == ["EVALSHA"], commands
    assert counter(raw, rd) != before
    assert dicts["rd"].copy() == new
    assert {k: json.loads(v) for k, v in raw.hgetall(rd).items()} == new


def test_an_unreachable_server_is_a_command_error(keyspaces, tmp_path):
    location = f"redis://127.0.0.1:{servers.free_port()}/0"
    with configure(location, keyspaces()):
        with pytest.raises(CommandError) as error:
            dump("rd")
        assert "The store of dict 'rd'" in str(error.value)
        assert "ConnectionError" in str(error.value)
        path = write_document(tmp_path / "f.json", {"rd": {"a": 1}})
        with pytest.raises(CommandError, match="The store of dict 'rd'"):
            load(path, "--no-input")
        dicts.close_all()


def test_a_reader_in_another_process_never_sees_a_half_applied_load(rd, url, tmp_path):
    old, new = states(3000)
    dicts["rd"]._apply(old, [])
    path = write_document(tmp_path / "f.json", {"rd": new})
    reader = Reader({"kind": "redis", "url": url, "keyspace": rd, "count": 3000})
    reader.wait_ready()
    load(path, "--no-input", "--prune")
    seen = reader.result()
    assert seen.get("mixed", 0) == 0, seen
    assert seen.get("old", 0) >= 1 and seen.get("new", 0) >= 1, seen
