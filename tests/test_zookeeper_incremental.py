"""ZookeeperDict's incremental sync against a full reload, driven by hypothesis,
and what an incremental sync costs.

Two writers and a reader share one client (as dicts of one process do, so every
write's watch events have run for all three when it returns); another client
writes and deletes behind their backs, and deletes the whole root. After every
step, each dict's snapshot, built from what its watches said changed, must
equal a full read of the store, if nothing changed since its last load."""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from django_durabledict.backends.zookeeper import ZookeeperDict
from tests import servers
from tests.zookeeper_helpers import (
    count_requests,
    delete_tree,
    flush,
    started,
    stop,
    unique_root,
    write_raw,
)

pytestmark = pytest.mark.services("zookeeper")

keys = st.sampled_from(["a", "b", "c", "d"])
values = st.none() | st.integers(-2, 2) | st.text("xy", max_size=2)


def hosts():
    return "{}:{}".format(*servers.address("zookeeper"))


class IncrementalMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.client, self.other = started(hosts()), started(hosts())
        self.root = unique_root()
        self.reader = ZookeeperDict(self.root, self.client, autosync=False)
        self.writers = [ZookeeperDict(self.root, self.client, False) for _ in "ab"]

    def teardown(self):
        delete_tree(self.other, self.root)
        for client in (self.client, self.other):
            stop(client)

    def settle(self):
        """Until this process's client has run every event of the other's writes."""
        self.other.sync(self.root)
        self.client.sync(self.root)
        flush(self.client)

    @rule(writer=st.integers(0, 1), key=keys, value=values)
    def set(self, writer, key, value):
        self.writers[writer][key] = value

    @rule(writer=st.integers(0, 1), key=keys)
    def pop(self, writer, key):
        self.writers[writer].pop(key, None)

    @rule(writer=st.integers(0, 1), key=keys, value=values)
    def setdefault(self, writer, key, value):
        self.writers[writer].setdefault(key, value)

    @rule(writer=st.integers(0, 1), updates=st.dictionaries(keys, values, max_size=3))
    def apply(self, writer, updates):
        removals = [key for key in "abcd" if key not in updates][:1]
        self.writers[writer]._apply(updates, removals)

    @rule(key=keys, data=st.sampled_from([b"1", b'"z"', b"null"]))
    def other_client_writes(self, key, data):
        write_raw(self.other, f"{self.root}/{key}", data)
        self.settle()

    @rule(key=keys)
    def other_client_deletes(self, key):
        delete_tree(self.other, f"{self.root}/{key}")
        self.settle()

    @rule()
    def other_client_deletes_the_root(self):
        delete_tree(self.other, self.root)
        self.settle()

    @rule()
    def sync(self):
        self.reader.sync()

    @invariant()
    def every_current_view_is_a_full_read(self):
        full = ZookeeperDict(self.root, self.client, autosync=False)
        for durable in (self.reader, *self.writers):
            if durable.last_updated() == durable.last_synced:
                assert durable._stored == full._stored
        full.close()


@pytest.fixture(scope="module", autouse=True)
def _shared_zookeeper():
    if servers.address("zookeeper") is None:
        pytest.skip("ZooKeeper is not available")


IncrementalMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestIncrementalMachine = IncrementalMachine.TestCase


def test_an_incremental_sync_reads_only_what_changed():
    """1,000 keys; a change to one costs the reader one request, a new key two
    (the listing and the key, pipelined: one round trip), and unchanged keys
    keep their decoded objects."""
    client, other, root = started(hosts()), started(hosts()), unique_root()
    try:
        writer = ZookeeperDict(root, other, autosync=False)
        writer._apply({f"k{i:04d}": [i] for i in range(1000)}, [])
        reader = ZookeeperDict(root, client, autosync=False)
        kept = reader["k0001"]
        sent = count_requests(client)
        for change, requests in (
            (lambda: writer.__setitem__("k0002", "new"), ["GetData"]),
            (lambda: writer.__setitem__("fresh", 1), ["GetChildren2", "GetData"]),
            (lambda: writer.pop("k0003"), ["GetChildren2", "GetData"]),
        ):
            change()
            other.sync(root)
            client.sync(root)
            flush(client)
            sent.clear()
            reader.sync()
            assert sent == requests
            assert reader.copy() == ZookeeperDict(root, other, False).copy()
        assert reader["k0001"] is kept
    finally:
        delete_tree(other, root)
        stop(client)
        stop(other)


def test_a_write_after_another_process_wrote_shows_both():
    """Issue 15's reproduction on ZooKeeper: another client writes ``theirs``,
    this dict (autosync off) writes ``mine``: it shows {theirs, mine}. The
    other write's watch event reaches this client before the reply to its own
    write; the write then reads what the events named."""
    client, other, root = started(hosts()), started(hosts()), unique_root()
    try:
        mine = ZookeeperDict(root, client, autosync=False)
        theirs = ZookeeperDict(root, other, autosync=False)
        mine["a"] = theirs["b"] = 0
        client.sync(root)  # the event of "b" has reached mine's client
        flush(client)
        mine.sync()
        sent = count_requests(client)
        mine["a"] = 1  # nobody else wrote: the write, then its own key
        assert sent == ["SetData", "GetData"]
        theirs["theirs"] = "1"
        sent.clear()
        mine["mine"] = "2"
        assert mine.copy() == {"a": 1, "b": 0, "theirs": "1", "mine": "2"}
        # The listing and "mine" in one round trip, then the new "theirs".
        assert sent == ["Create", "GetChildren2", "GetData", "GetData"]
        theirs["b"] = 5
        sent.clear()
        mine["a"] = 2
        assert mine.copy() == {"a": 2, "b": 5, "theirs": "1", "mine": "2"}
        assert sorted(sent) == ["GetData", "GetData", "SetData"]  # one round trip
    finally:
        delete_tree(other, root)
        stop(client)
        stop(other)
