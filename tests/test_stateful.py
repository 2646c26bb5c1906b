"""A MemoryDict and a plain dict driven by the same random operations must agree.

A second instance on the same store plays another process; it writes too, and the
model follows its writes once the instance under test has synced, or has written
itself: a write that replaced a version other than the one the instance holds
loads the store first, so the instance shows a state the store held."""

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from django_durabledict import MemoryDict
from django_durabledict.backends.memory import MemoryStore
from django_durabledict.encoding import JSONEncoding

keys = st.sampled_from(["a", "b", "c", "d", "e"])
values = st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=3)
defaults = st.none() | st.just(0) | st.just("") | st.just(False) | st.just("dflt")
MISSING = object()


class DictMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.store = MemoryStore()
        self.d = MemoryDict(store=self.store, encoding=JSONEncoding, autosync=True)
        self.other = MemoryDict(store=self.store, encoding=JSONEncoding)
        self.model = {}  # what self.d must show
        self.stored = {}  # what the store holds
        self.behind = False  # the other instance wrote since self.d last loaded

    def outcome(self, call):
        try:
            return call()
        except KeyError:
            return KeyError

    def wrote(self):
        """self.d changed the store (or asked it to): it shows the store now."""
        if self.behind:
            self.model, self.behind = dict(self.stored), False

    @rule(key=keys, value=values)
    def set(self, key, value):
        self.d[key] = value
        self.model[key] = self.stored[key] = value
        self.wrote()

    @rule(key=keys, value=values)
    def other_process_sets(self, key, value):
        self.other[key] = value
        self.stored[key] = value
        self.behind = True
        if self.d.autosync:
            self.model, self.behind = dict(self.stored), False

    @rule(key=keys)
    def delete(self, key):
        expected = KeyError if key not in self.stored else None
        assert self.outcome(lambda: self.d.__delitem__(key)) is expected
        if expected is None:
            self.stored.pop(key)
            self.model.pop(key, None)
            self.wrote()

    @rule(key=keys, default=defaults, use_default=st.booleans())
    def pop(self, key, default, use_default):
        args = (key, default) if use_default else (key,)
        expected = self.outcome(lambda: dict(self.stored).pop(*args))
        assert self.outcome(lambda: self.d.pop(*args)) == expected
        if key in self.stored:
            self.stored.pop(key)
            self.model.pop(key, None)
            self.wrote()

    @rule(key=keys, default=values)
    def setdefault(self, key, default):
        expected = self.stored.setdefault(key, default)
        assert self.d.setdefault(key, default) == expected
        self.model[key] = expected
        self.wrote()

    @rule(items=st.dictionaries(keys, values, max_size=3))
    def update(self, items):
        self.d.update(items)
        self.model.update(items)
        self.stored.update(items)
        if items:
            self.wrote()

    @rule()
    def clear(self):
        self.d.clear()  # syncs first
        self.model.clear()
        self.stored.clear()
        self.behind = False

    @precondition(lambda self: self.stored)
    @rule()
    def popitem(self):
        key, value = self.d.popitem()
        assert self.stored.pop(key) == value
        self.model, self.behind = dict(self.stored), False

    @rule()
    def sync(self):
        self.d.sync()
        self.model, self.behind = dict(self.stored), False

    @rule(autosync=st.booleans())
    def toggle_autosync(self, autosync):
        self.d.autosync = autosync
        if autosync:
            self.model, self.behind = dict(self.stored), False

    @invariant()
    def agrees_with_model(self):
        assert self.d.copy() == self.model
        assert sorted(self.d) == sorted(self.model)
        assert len(self.d) == len(self.model)
        for key in ("a", "b", "z"):
            assert (key in self.d) == (key in self.model)
            assert self.d.get(key, MISSING) == self.model.get(key, MISSING)

    @invariant()
    def store_agrees(self):
        assert {k: JSONEncoding.decode(v) for k, v in self.store.values.items()} == (
            self.stored
        )


DictMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],  # the first text draw is slow
)
TestDictMachine = DictMachine.TestCase
