"""ZookeeperDict on the shared ZooKeeper: the contract, the store layout, keys,
round trips, tokens, two clients on one root, a root deleted and recreated.

Failure tests (cuts, session expiry, an ensemble) are in test_zookeeper_faults.py;
races between processes in test_zookeeper_races.py."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kazoo.exceptions import BadArgumentsError, ConnectionLoss, NoAuthError
from kazoo.protocol.states import KeeperState
from kazoo.security import OPEN_ACL_UNSAFE, make_digest_acl

from django_durabledict.backends.zookeeper import ZookeeperDict, ZookeeperToken
from django_durabledict.backends.zookeeper_client import make_client
from django_durabledict.encoding import EncodingError, JSONEncoding, PickleEncoding
from tests import servers
from tests.contract import DictContract
from tests.zookeeper_helpers import (
    ZookeeperFactory,
    count_requests,
    delete_tree,
    flush,
    started,
    stop,
    unique_root,
    write_raw,
)

pytestmark = pytest.mark.services("zookeeper")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def hosts():
    return "{}:{}".format(*servers.address("zookeeper"))


@pytest.fixture(scope="module")
def raw(hosts):
    """A plain kazoo client standing for "another program" on the store."""
    client = started(hosts)
    yield client
    stop(client)


@pytest.fixture
def root(raw):
    path = unique_root()
    yield path
    delete_tree(raw, path)


@pytest.fixture
def make_dict(hosts, root):
    factory = ZookeeperFactory(hosts, root)
    yield factory
    factory.close()


@pytest.fixture
def client(hosts):
    """A second client: another process, as far as ZooKeeper can tell."""
    client = started(hosts)
    yield client
    stop(client)


class TestZookeeperDict(DictContract):
    pass


def wait_for(predicate, timeout=10):
    assert servers.wait_until(predicate, timeout, interval=0.01)


# -- imports -------------------------------------------------------------------------


def run_python(code):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_importing_the_backend_does_not_import_kazoo():
    result = run_python(
        "import sys, django_durabledict.backends.zookeeper\n"
        "print('kazoo' in sys.modules)"
    )
    assert result.stdout.strip() == "False", result.stderr


def test_without_kazoo_building_a_dict_is_improperly_configured():
    result = run_python(
        "import sys\n"
        "sys.modules['kazoo'] = None  # as if not installed\n"
        "from django.core.exceptions import ImproperlyConfigured\n"
        "from django_durabledict.backends.zookeeper import ZookeeperDict\n"
        "try:\n"
        "    ZookeeperDict('/x', None)\n"
        "except ImproperlyConfigured as exc:\n"
        "    print(exc, exc.__suppress_context__)\n"
        "print(ZookeeperDict.check_config('x', {'HOSTS': 'h:1'}))\n"
    )
    message = "ZookeeperDict needs kazoo: pip install django-durabledict[zookeeper]"
    assert result.stdout.splitlines() == [f"{message} True", f"['{message}.']"]


# -- store layout --------------------------------------------------------------------


def test_one_child_per_key_holding_json_as_utf8(make_dict, raw, root):
    d = make_dict()
    d["greeting"] = {"text": "grüße", "n": [1, 2]}
    d["flag"] = True
    assert sorted(raw.get_children(root)) == ["flag", "greeting"]
    expected = '{"text": "grüße", "n": [1, 2]}'.encode()
    assert raw.get(f"{root}/greeting")[0] == expected
    assert raw.get(f"{root}/flag")[0] == b"true"
    assert raw.get(root)[0] == b""  # the root holds no data


def test_pickle_is_stored_as_base64_ascii_and_reads_the_original_format(
    make_dict, raw, root
):
    d = make_dict(encoding=PickleEncoding)
    d["t"] = (1, {2, 3})
    stored = raw.get(f"{root}/t")[0]
    assert stored == PickleEncoding.encode((1, {2, 3})).encode("ascii")
    write_raw(raw, f"{root}/old", PickleEncoding.encode({"x": 1}).encode())
    reader = make_dict(encoding=JSONEncoding, old_encoding=PickleEncoding)
    assert reader == {"old": {"x": 1}, "t": (1, {2, 3})}


# -- keys ----------------------------------------------------------------------------

BAD_KEYS = [
    "",
    ".",
    "..",
    "a/b",
    "/",
    "zookeeper",
    "nul\x00",
    "bell\x07",
    "del\x7f",
    "c1\x9f",
    "private\ue000",
    "special\ufff0",
    "emoji\U0001f600",
    1,
    None,
    b"bytes",
    ("tuple",),
]
GOOD_KEYS = [
    " ",
    "a b",
    "ключ",
    "...",
    "a.",
    "nbsp\u00a0",
    "豈",
    "zookeeper2",
    "x" * 300,
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_bad_keys_raise_value_error_before_any_call(make_dict, key):
    d = make_dict()
    sent = count_requests(d.connection)
    for write in (
        lambda: d.__setitem__(key, 1),
        lambda: d.setdefault(key, 1),
        lambda: d.pop(key),
        lambda: d.pop(key, None),
        lambda: d.__delitem__(key),
    ):
        with pytest.raises(ValueError):
            write()
    assert sent == []
    assert key not in d and d.get(key) is None  # reads never raise


@pytest.mark.parametrize(
    "name", ["a\x01", "a\x7f", "a\x9f", "a\ue000", "a\uf8ff", "a\ufff0", "a\U0001f600"]
)
def test_the_refused_characters_are_the_ones_zookeeper_refuses(raw, root, name):
    raw.ensure_path(root)
    with pytest.raises(BadArgumentsError):
        raw.create(f"{root}/{name}", b"1")


def test_valid_odd_keys_round_trip(make_dict, raw, root):
    d = make_dict()
    for i, key in enumerate(GOOD_KEYS):
        d[key] = i
    assert make_dict() == {key: i for i, key in enumerate(GOOD_KEYS)}
    assert sorted(raw.get_children(root)) == sorted(GOOD_KEYS)


@pytest.mark.parametrize(
    "keyspace", ["", "/", "relative", "/a/", "/a//b", "/zookeeper"]
)
def test_bad_keyspace_is_refused(client, keyspace):
    with pytest.raises(ValueError):
        ZookeeperDict(keyspace, client)


def test_value_too_large_for_a_znode_writes_nothing_and_keeps_the_connection(
    make_dict, raw, root
):
    d = make_dict()
    states = []
    d.connection.add_listener(states.append)
    with pytest.raises(EncodingError, match="too large"):
        d["big"] = "x" * 1_000_000
    with pytest.raises(EncodingError):
        d.setdefault("big", "x" * 1_000_000)
    d["fits"] = "x" * 900_000
    assert make_dict()["fits"] == "x" * 900_000
    assert not raw.exists(f"{root}/big") and states == []


# -- round trips ---------------------------------------------------------------------


def test_requests_per_operation(make_dict, raw, root):
    """A write, then (its own view) one pipelined round trip reading what its
    watch events say changed: the root's children when a key was created or
    deleted, and the key itself. Its snapshot is then current: no reload."""
    raw.ensure_path(root)
    d = make_dict(autosync=True)
    sent = count_requests(d.connection)
    d["new"] = 1
    # Created with its data (never an empty node); then the listing and the key.
    assert sent == ["Create", "GetChildren2", "GetData"]
    sent.clear()
    d["new"] = 2
    assert sent == ["SetData", "GetData"]  # the snapshot knows it exists
    sent.clear()
    d["other"] = 3
    assert d["new"] == 2  # the write loaded its own change: no reload here
    assert sent == ["Create", "GetChildren2", "GetData"]
    sent.clear()
    for _ in range(10):
        assert d.get("new") == 2 and "other" in d and len(d) == 2
    d.sync()
    assert sent == []  # reads and syncs without a change: no network I/O
    assert d.setdefault("new", 5) == 2 and sent == ["GetData"]  # changed nothing
    sent.clear()
    assert d.pop("other") == 3
    assert sent == ["GetData", "Delete", "GetChildren2", "GetData"]
    sent.clear()
    assert d.setdefault("fresh", 7) == 7
    assert sent == ["Create", "GetChildren2", "GetData"]


def test_writes_resolve_a_stale_snapshot(make_dict, client, root):
    d, other = make_dict(autosync=False), ZookeeperDict(root, client)
    d["a"] = 1
    other.pop("a")  # d's snapshot still says "a" exists
    d["a"] = 2  # SetData fails with NoNode, then Create
    other["b"] = 1  # d's snapshot says "b" is absent
    d["b"] = 2  # Create fails with NodeExists, then SetData
    assert d.setdefault("b", 3) == 2
    assert ZookeeperDict(root, client) == {"a": 2, "b": 2}


def test_depersist_of_a_missing_key_is_a_key_error(make_dict):
    d = make_dict()
    d["a"] = 1
    d.depersist("a")
    with pytest.raises(KeyError):
        d.depersist("a")
    assert make_dict() == {}


def lose_reply(client, method):
    """Make *client*'s next *method* call reach the server, then fail as if the
    connection dropped before the reply: the case ZooKeeper cannot settle."""
    original = getattr(client, method)

    def landed_then_lost(*args, **kwargs):
        setattr(client, method, original)  # once
        original(*args, **kwargs).get(timeout=10)
        raise ConnectionLoss()

    setattr(client, method, landed_then_lost)


def test_writes_whose_reply_was_lost_are_retried_safely(make_dict, raw, root):
    d = make_dict()
    lose_reply(d.connection, "create_async")
    d["a"] = 1  # the create landed; the retry finds the node and sets it
    assert raw.get(f"{root}/a")[0] == b"1"
    lose_reply(d.connection, "create_async")
    assert d.setdefault("b", 2) == 2  # the retry reads back its own create
    lose_reply(d.connection, "delete_async")
    assert d.pop("a") == 1  # the retry finds the node gone: the delete was ours
    assert make_dict() == {"b": 2}


# -- the token -----------------------------------------------------------------------


def test_token_carries_a_zxid_comparable_across_clients(make_dict, client, root):
    d = make_dict()
    d["a"] = 1
    d.sync()
    elsewhere = ZookeeperDict(root, client)
    assert isinstance(d.last_synced, ZookeeperToken)
    assert d.last_synced.zxid == elsewhere.last_synced.zxid > 0
    before = d.last_synced.zxid
    elsewhere["a"] = 2
    elsewhere.sync()  # its own write's watch has fired: this reloads
    wait_for(lambda: d["a"] == 2)
    assert d.last_synced.zxid == elsewhere.last_synced.zxid > before


def test_last_updated_is_local_and_moves_when_a_watch_fires(make_dict, client, root):
    d = make_dict(autosync=False)
    sent = count_requests(d.connection)
    token = d.last_updated()
    assert d.last_updated() == token == d.last_synced and sent == []
    ZookeeperDict(root, client)["a"] = 1
    wait_for(lambda: d.last_updated() != token)
    assert sent == [] and "a" not in d
    d.sync()
    assert d["a"] == 1 and d.last_updated() == d.last_synced


# -- two clients, one root -----------------------------------------------------------


def test_another_clients_changes_reach_an_autosync_dict(make_dict, client, root):
    reader, writer = make_dict(autosync=True), ZookeeperDict(root, client)
    writer["a"] = 1
    wait_for(lambda: reader.get("a") == 1)
    writer["a"] = {"b": 2}
    wait_for(lambda: reader.get("a") == {"b": 2})
    writer.setdefault("c", 3)
    wait_for(lambda: reader.get("c") == 3)
    del writer["a"]
    wait_for(lambda: "a" not in reader)
    writer.clear()
    wait_for(lambda: len(reader) == 0)


def test_each_change_costs_one_reload(make_dict, client, root):
    reader, writer = make_dict(autosync=True), ZookeeperDict(root, client)
    writer.update(a=1, b=2)
    wait_for(lambda: len(reader) == 2)
    flush(reader.connection)  # a watch event still on its way would reload
    reader.sync()
    loads = []
    original = reader._load_and_publish  # a reload: whole or incremental
    reader._load_and_publish = lambda token: loads.append(token) or original(token)
    writer["a"] = 10
    wait_for(lambda: reader["a"] == 10)
    flush(reader.connection)
    for _ in range(5):
        assert reader["b"] == 2
    assert len(loads) == 1


# -- a root deleted and recreated, nodes vanishing mid-read --------------------------


def test_missing_root_reads_as_empty_and_reads_never_create_it(make_dict, raw, root):
    d = make_dict()
    assert d == {} and len(d) == 0
    d.sync()
    assert raw.exists(root) is None
    d["a"] = 1  # a write creates the root with the key
    assert raw.get_children(root) == ["a"]


def test_root_deleted_and_recreated(make_dict, raw, root):
    d = make_dict(autosync=True)
    d.update(a=1, b=2)
    raw.delete(root, recursive=True)
    wait_for(lambda: d == {})
    raw.create(f"{root}/c", b"3", makepath=True)
    wait_for(lambda: d == {"c": 3})
    raw.delete(root, recursive=True)
    wait_for(lambda: d == {})
    d["d"] = 4  # recreates the root
    assert make_dict() == {"d": 4} and raw.get_children(root) == ["d"]


@pytest.mark.parametrize("incremental", [False, True])
def test_a_key_deleted_between_listing_and_reading_is_left_out(
    make_dict, raw, root, incremental
):
    writer = make_dict()
    writer.update(a=1, b=2)
    reader = make_dict(autosync=False)
    raw.set(f"{root}/a", b"10")
    wait_for(lambda: reader.last_updated() != reader.last_synced)
    if not incremental:
        reader._changed()  # as after a connection loss: a full reload
    original = reader.connection.get_async
    # A full reload reads "b"; an incremental one only "a", whose watch fired.
    victim = "/a" if incremental else "/b"

    def get_async(path, watch=None):
        if path.endswith(victim) and raw.exists(f"{root}/b"):
            raw.delete(f"{root}/b")  # another client deletes "b" meanwhile
        return original(path, watch)

    reader.connection.get_async = get_async
    reader.sync()
    assert reader == {"a": 10}
    del reader.connection.get_async
    # The delete fired the children watch during the load, so the load read the
    # store again: what it published is current, and needs no second reload.
    assert reader.last_updated() == reader.last_synced


def test_undecodable_and_empty_nodes_are_left_out(make_dict, raw, root, caplog):
    d = make_dict()
    d["good"] = 1
    raw.create(f"{root}/empty")  # as the original durabledict's ensure_path left it
    wait_for(lambda: d.get("good") == 1 and "'empty'" in caplog.text)
    assert d == {"good": 1}


# -- ACLs ----------------------------------------------------------------------------


def test_without_an_acl_nodes_are_world_writable_as_kazoo_makes_them(
    make_dict, raw, root
):
    make_dict()["k"] = 1
    assert raw.get_acls(f"{root}/k")[0] == list(OPEN_ACL_UNSAFE)
    raw.set(f"{root}/k", b"2")  # anyone can


def test_a_digest_acl_keeps_other_clients_out(hosts, raw, root):
    acl = [make_digest_acl("app", "s3cret", all=True)]
    owner = started(hosts, auth_data=[("digest", "app:s3cret")])
    keyspace = f"{root}/apps/secrets"
    try:
        d = ZookeeperDict(keyspace, owner, acl=acl)
        d["secret"] = 1
        for path in (keyspace, f"{keyspace}/secret"):  # the root, made on demand
            assert owner.get_acls(path)[0] == acl
        # Missing parents get the default ACL: others can still add their dicts.
        assert raw.get_acls(f"{root}/apps")[0] == list(OPEN_ACL_UNSAFE)
        ZookeeperDict(f"{root}/apps/public", raw)["x"] = 1
        with pytest.raises(NoAuthError):
            raw.get(f"{keyspace}/secret")
        with pytest.raises(NoAuthError):
            raw.set(f"{keyspace}/secret", b"2")
        with pytest.raises(NoAuthError):
            ZookeeperDict(keyspace, raw)  # a misconfigured reader fails loudly
        assert ZookeeperDict(keyspace, owner) == {"secret": 1}
    finally:
        delete_tree(owner, root)
        stop(owner)


def test_a_key_the_dict_may_not_read_is_left_out(make_dict, raw, root, caplog):
    d = make_dict()
    d["open"] = 1
    raw.create(f"{root}/locked", b"2", acl=[make_digest_acl("x", "y", read=True)])
    try:
        wait_for(lambda: d.get("open") == 1 and "'locked'" in caplog.text)
        assert d == {"open": 1}
        assert "no permission" in caplog.text
    finally:
        raw.delete(f"{root}/locked")  # a recursive delete could not list it


# -- configuration -------------------------------------------------------------------


def test_from_config_builds_starts_and_closes_its_own_client(hosts, raw, root):
    config = {
        "HOSTS": hosts,
        "PATH": root,
        "AUTOSYNC": True,
        "ENCODING": JSONEncoding,
        "CLIENT_OPTIONS": {"timeout": 5.0},
        "OPTIONS": {"operation_timeout": 3},
    }
    d = ZookeeperDict.from_config("flags", config)
    d["a"] = 1
    assert raw.get(f"{root}/a")[0] == b"1"
    assert d.name == "flags" and d.operation_timeout == 3
    client = d.connection
    assert client._session_timeout == 5000  # CLIENT_OPTIONS over the recommended
    assert client._conn_retry.max_delay == 1.0
    d.close()
    assert client.client_state == KeeperState.CLOSED


def test_from_config_default_path(hosts, raw):
    name = f"t{uuid.uuid4().hex}"
    config = {"HOSTS": hosts, "AUTOSYNC": False, "ENCODING": JSONEncoding}
    d = ZookeeperDict.from_config(name, config)
    try:
        d["a"] = 1
        assert d.keyspace == f"/durabledict/{name}"
        assert raw.get_children(d.keyspace) == ["a"]
    finally:
        d.close()
        delete_tree(raw, f"/durabledict/{name}")


def test_a_given_client_is_started_if_needed_and_never_stopped(hosts, root):
    client = make_client(hosts)
    try:
        d = ZookeeperDict(root, client)
        assert client.connected
        d["a"] = 1
        d.close()
        assert client.connected and client.get(f"{root}/a")[0] == b"1"
    finally:
        stop(client)


@pytest.mark.parametrize(
    "config, problem",
    [
        ({}, "HOSTS must be"),
        ({"HOSTS": ""}, "HOSTS must be"),
        ({"HOSTS": "h:1", "PATH": "relative"}, "PATH is not usable"),
        ({"HOSTS": "h:1", "PATH": "/a/b/"}, "PATH is not usable"),
        ({"HOSTS": "h:1", "CLIENT_OPTIONS": "timeout=5"}, "CLIENT_OPTIONS must"),
        ({"HOSTS": "h:1", "OPTIONS": {"acl": [], "x": 1}}, "unknown keys ['x']"),
    ],
)
def test_check_config_reports_problems(config, problem):
    problems = ZookeeperDict.check_config("flags", config)
    assert len(problems) == 1 and problem in problems[0], problems


def test_check_config_accepts_good_entries():
    assert ZookeeperDict.check_config("flags", {"HOSTS": "a:1,b:2"}) == []
    config = {"HOSTS": ["a:1"], "PATH": "/x/y", "OPTIONS": {"acl": None}}
    assert ZookeeperDict.check_config("flags", config) == []
    problems = ZookeeperDict.check_config("a\x07", {"HOSTS": "h"})
    assert "PATH is not usable" in problems[0]
