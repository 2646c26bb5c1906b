"""durabledict_dump and durabledict_load with ZookeeperDict on the shared ZooKeeper:
round trips, a dump that only reads, a load that is one multi-op transaction,
what ZooKeeper refuses, and a reader in another process that never sees a load
half done."""

import json

import pytest
from django.core.management.base import CommandError
from django.test import override_settings
from kazoo.client import KazooClient

from django_durabledict import dicts
from django_durabledict.backends.zookeeper import ZookeeperDict
from tests import servers
from tests.commands_helpers import SAMPLE, Reader, dump, load, states, write_document
from tests.zookeeper_helpers import delete_tree, flush, started, stop, unique_root

pytestmark = pytest.mark.services("zookeeper")

BACKEND = "django_durabledict.backends.zookeeper.ZookeeperDict"
PICKLE = "django_durabledict.encoding.PickleEncoding"
READS = {"GetChildren", "GetChildren2", "GetData", "Exists"}


@pytest.fixture(scope="module")
def hosts():
    return "{}:{}".format(*servers.address("zookeeper"))


@pytest.fixture(scope="module")
def raw(hosts):
    client = started(hosts)
    yield client
    stop(client)


@pytest.fixture
def roots(raw):
    made = []

    def make():
        made.append(unique_root())
        return made[-1]

    yield make
    dicts.close_all()
    for root in made:
        remove(raw, root)
        remove(raw, root + "-p")


def remove(raw, root):
    """Delete *root* and its keys, 500 to a transaction (faster than one by one)."""
    names = raw.get_children(root) if raw.exists(root) else []
    for start in range(0, len(names), 500):
        transaction = raw.transaction()
        for name in names[start : start + 500]:
            transaction.delete(f"{root}/{name}")
        transaction.commit()
    delete_tree(raw, root)


def configure(hosts, root, **extra):
    entry = {"BACKEND": BACKEND, "HOSTS": hosts, **extra}
    return override_settings(
        DURABLEDICTS={
            "zk": {**entry, "PATH": root},
            "legacy": {**entry, "PATH": root + "-p", "ENCODING": PICKLE},
        }
    )


@pytest.fixture
def zk(hosts, roots):
    root = roots()
    with configure(hosts, root):
        yield root


@pytest.fixture
def sent(monkeypatch):
    """The type of every request any kazoo client sends during the test."""
    requests = []
    original = KazooClient._call

    def counting(self, request, async_object):
        requests.append(type(request).__name__)
        return original(self, request, async_object)

    monkeypatch.setattr(KazooClient, "_call", counting)
    return requests


def tree(raw, root):
    """Every key's data and stat under *root*, and the root's stat."""
    if not raw.exists(root):
        return None
    children = {n: raw.get(f"{root}/{n}") for n in raw.get_children(root)}
    return raw.get(root)[1], children


def test_round_trip_into_an_empty_root(hosts, roots, raw, tmp_path):
    first, second = roots(), roots()
    path = tmp_path / "dump.json"
    with configure(hosts, first):
        dicts["zk"]._apply(SAMPLE, [])
        dicts["legacy"]._apply({"ips": {"10.0.0.1", "10.0.0.2"}, "n": 3}, [])
        dump("--all", "--raw", "-o", str(path))
    dicts.close_all()
    with configure(hosts, second):
        assert raw.exists(second) is None
        out, _ = load(str(path), "--no-input")
        assert f"zk: {len(SAMPLE)} changes written." in out
        assert dump("--all", "--raw")[0] == path.read_text(encoding="utf-8")
        first_data = {n: raw.get(f"{first}-p/{n}")[0] for n in ("ips", "n")}
        assert {n: raw.get(f"{second}-p/{n}")[0] for n in ("ips", "n")} == first_data
        assert raw.get(second)[0] == b""  # the root holds no data, as ever
    dicts.close_all()


@pytest.mark.parametrize("built", [False, True], ids=["fresh", "built"])
def test_a_dump_only_reads(zk, raw, sent, built):
    dicts["zk"]._apply(SAMPLE, [])
    if not built:
        dicts.close_all()
    before = tree(raw, zk)
    sent.clear()
    out, _ = dump("zk")
    assert json.loads(out)["dicts"]["zk"] == SAMPLE
    assert set(sent) <= READS, sent
    assert tree(raw, zk) == before


def test_a_dump_of_a_missing_root_is_empty_and_creates_nothing(zk, raw, sent):
    assert json.loads(dump("zk")[0])["dicts"]["zk"] == {}
    assert set(sent) <= READS and raw.exists(zk) is None


def test_a_load_is_one_transaction(zk, raw, hosts, sent, tmp_path):
    dicts["zk"]._apply({f"k{i}": i for i in range(50)}, [])
    other = ZookeeperDict(zk, raw, autosync=False)
    new = {f"k{i}": -i for i in range(25, 75)}
    path = write_document(tmp_path / "f.json", {"zk": new})
    sent.clear()
    load(path, "--no-input", "--prune")
    writes = [r for r in sent if r not in READS]
    assert writes == ["Transaction"], sent
    flush(raw)
    other.sync()
    assert other.copy() == new == dicts["zk"].copy()
    other.close()


@pytest.mark.parametrize(
    "key, message",
    [
        ("a/b", "contains '/'"),
        ("zookeeper", "reserved"),
        ("emoji \U0001f600", "U+1F600"),
        ("", "reserved"),
    ],
)
def test_keys_zookeeper_refuses_change_nothing(zk, raw, tmp_path, key, message):
    path = write_document(tmp_path / "f.json", {"zk": {"fine": 1, key: 2}})
    with pytest.raises(CommandError) as error:
        load(path, "--no-input")
    assert message in str(error.value)
    assert raw.exists(zk) is None


def test_a_load_too_large_for_one_transaction_is_refused(zk, raw, tmp_path):
    values = {f"k{i:04d}": "x" * 1000 for i in range(1100)}
    path = write_document(tmp_path / "f.json", {"zk": values})
    with pytest.raises(CommandError, match="more than one ZooKeeper transaction"):
        load(path, "--no-input")
    assert raw.exists(zk) is None


def test_an_unreachable_ensemble_is_a_command_error(roots, tmp_path):
    port = servers.free_port()
    entry = {
        "BACKEND": BACKEND,
        "HOSTS": f"127.0.0.1:{port}",
        "PATH": roots(),
        "OPTIONS": {"operation_timeout": 0.5},
        "CLIENT_OPTIONS": {"timeout": 1.0},
    }
    with override_settings(DURABLEDICTS={"down": entry}):
        with pytest.raises(CommandError, match="'down'"):
            dump("down")
        path = write_document(tmp_path / "f.json", {"down": {"a": 1}})
        with pytest.raises(CommandError, match="The store of dict 'down'"):
            load(path, "--no-input")
        dicts.close_all()


def test_a_reader_in_another_process_never_sees_a_half_applied_load(
    zk, hosts, tmp_path
):
    old, new = states(1500)
    dicts["zk"]._apply(old, [])
    path = write_document(tmp_path / "f.json", {"zk": new})
    reader = Reader({"kind": "zookeeper", "hosts": hosts, "path": zk, "count": 1500})
    reader.wait_ready()
    load(path, "--no-input", "--prune")
    seen = reader.result()
    assert seen.get("mixed", 0) == 0, seen
    assert seen.get("old", 0) >= 1 and seen.get("new", 0) >= 1, seen


def test_an_empty_apply_creates_no_root(zk, raw):
    dicts["zk"]._apply({}, ["absent"])
    assert raw.exists(zk) is None
