"""RedisDict's incremental sync against a full reload, driven by hypothesis.

Two writers and a reader share a keyspace on the shared Redis; the rules write,
delete, clear, bulk-apply, delete or reset the counter and delete the change log,
and let the reader sync. After every step the reader's snapshot (built from the
change log when it can be) must equal a full reload at the same counter, and
each writer's own view must too: a state the store held."""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from django_durabledict.backends.redis import RedisDict
from django_durabledict.base import _MISSING
from tests import servers
from tests.redis_helpers import new_keyspace, shared_client

pytestmark = pytest.mark.services("redis")

keys = st.sampled_from(["a", "b", "c", "d"])
values = st.none() | st.integers(-2, 2) | st.text(max_size=2)


class IncrementalMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.client = shared_client()
        self.keyspace = new_keyspace()
        self.reader = RedisDict(self.keyspace, self.client, False, changelog_length=3)
        self.writers = [
            RedisDict(self.keyspace, self.client, False, changelog_length=5),
            RedisDict(self.keyspace, self.client, False),
        ]

    def teardown(self):
        self.client.delete(
            self.keyspace, self.keyspace + "last_updated", self.keyspace + "changelog"
        )
        self.client.close()

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

    @rule(writer=st.integers(0, 1))
    def clear(self, writer):
        self.writers[writer].clear()

    @rule()
    def reset_counter(self):
        self.client.delete(self.keyspace + "last_updated")

    @rule()
    def delete_log(self):
        self.client.delete(self.keyspace + "changelog")

    @rule()
    def sync(self):
        """The changes since the reader's token, applied to its snapshot, are the
        full reload read right after them (no write can come in between)."""
        reader = self.reader
        changes = (
            reader._load_changes(reader.last_synced) if reader.last_synced else None
        )
        if changes is not None:
            token, changed = changes
            patched = {**reader._stored, **changed}
            patched = {k: v for k, v in patched.items() if v is not _MISSING}
            assert (token, patched) == reader._read(seed=False)
        reader.sync()

    @invariant()
    def every_view_is_a_full_reload(self):
        for durable in (self.reader, *self.writers):
            token, values = durable._read(seed=False)
            if durable.last_synced == token:
                assert durable._stored == values


@pytest.fixture(scope="module", autouse=True)
def _shared_redis():
    if not servers.shared_available("redis"):
        pytest.skip("the shared Redis is not available")


IncrementalMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestIncrementalMachine = IncrementalMachine.TestCase
