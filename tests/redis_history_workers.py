"""The processes of test_redis_history.py (multiprocessing "spawn").

Each change script of a :class:`RecordingDict` also appends, in the same script
(so atomically with the change), ``[counter before, counter after, HGETALL]`` to
the list ``<keyspace>:history``: the store's versions in the order Redis applied
them. A process reads ``(epoch, LLEN history)`` before each sync or write: the
newest version acknowledged before it started (the test bumps ``epoch`` in the
transaction that flushes the server).
"""

from __future__ import annotations

import json
import random
from typing import Any

import redis

from django_durabledict.backends.redis import RedisDict
from django_durabledict.backends.redis_scripts import CHANGES, ChangeScripts

KEYS = [f"k{i}" for i in range(8)]

# The production script becomes a function; its reply is passed on unchanged.
_RECORD = """
local function change()
%s
end
local reply = change()
if reply[1] ~= reply[2] then
  local state = redis.call('HGETALL', KEYS[1])
  redis.call('RPUSH', KEYS[1] .. ':history',
    cjson.encode({reply[1] or '', reply[2], state}))
end
return reply
"""


class RecordingScripts(ChangeScripts):
    def source(self, text: str) -> str:
        return text if text == CHANGES else _RECORD % text

    def _run(self, script: Any, *args: Any):
        reply = super()._run(script, *args)
        self.last_reply = reply
        return reply


class RecordingDict(RedisDict):
    """Counts its reloads: ``incremental`` (from the change log) and ``full``."""

    scripts_class = RecordingScripts

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.loads = {"incremental": 0, "full": 0}
        super().__init__(*args, **kwargs)

    def _load_changes(self, since: Any):
        changes = super()._load_changes(since)
        self.loads["incremental"] += changes is not None
        return changes

    def _load(self, token: Any):
        self.loads["full"] += 1
        return super()._load(token)


def history_key(keyspace: str) -> str:
    return keyspace + ":history"


def parse_entry(raw: str) -> tuple[Any, str, dict]:
    before, after, flat = json.loads(raw)
    flat = flat or []  # cjson writes an empty table as {}
    state = {flat[i]: json.loads(flat[i + 1]) for i in range(0, len(flat), 2)}
    return before or None, after, state


def _floor(meta: redis.Redis, keyspace: str) -> tuple[int, int]:
    with meta.pipeline(transaction=True) as pipe:
        pipe.get("epoch")
        pipe.llen(history_key(keyspace))
        epoch, length = pipe.execute()
    return int(epoch or 0), length


def _write(durable: RedisDict, rng: random.Random) -> bool:
    """One random change (or a sync: then True)."""
    key, roll = rng.choice(KEYS), rng.random()
    value = rng.choice([rng.randrange(100), f"s{rng.randrange(100)}", None])
    if roll < 0.45:
        durable[key] = value
    elif roll < 0.65:
        durable.pop(key, None)
    elif roll < 0.75:
        durable.setdefault(key, value)
    elif roll < 0.85:
        durable.update({k: rng.randrange(100) for k in rng.sample(KEYS, 2)})
    elif roll < 0.95:
        updates = {k: rng.randrange(100) for k in rng.sample(KEYS, 2)}
        durable._apply(updates, [k for k in rng.sample(KEYS, 2) if k not in updates])
    elif roll < 0.98:
        durable.sync()
        return True
    else:
        durable.clear()
    return False


def run(
    role: str, host: str, port: int, keyspace: str, seed: int, operations: int, **kw
) -> tuple[list[tuple], dict]:
    """Run *operations* writes (role "writer") or syncs ("reader"); return the
    observations ``(epoch, floor, own write or None, token, values)`` and the
    counts of reloads."""
    rng = random.Random(seed)
    client = redis.Redis(host=host, port=port, decode_responses=True)
    meta = redis.Redis(host=host, port=port, decode_responses=True)
    durable = RecordingDict(keyspace, client, **kw)
    durable.retry_interval = 0.0
    seen = []
    for _ in range(operations):
        floor = _floor(meta, keyspace)
        own = None
        if role == "writer":
            durable._scripts.last_reply = None
            synced = _write(durable, rng)
            reply = durable._scripts.last_reply
            if reply is not None and reply[0] != reply[1]:
                own = reply[1]  # the counter this write set
            elif not synced:
                # A write that changed nothing need not sync: only its values
                # and its order are checked, not how recent it is.
                floor = (-1, 0)
        else:
            durable.sync()
        seen.append((*floor, own, durable.last_synced, dict(durable._stored)))
    client.close()
    meta.close()
    return seen, durable.loads
