"""The Lua scripts through which RedisDict changes its store.

Each change (set, pop, setdefault) is one script, run with ``EVALSHA``: Redis
runs a script atomically, so the data and the counter change together or not at
all, and a reader's ``MULTI GET HGETALL EXEC`` sees both or neither.

How the counter moves (the version token; see DESIGN.md, rule 4):

* it exists and holds a decimal integer below 2**62: it grows by a random step
  in [1, 2**31]. Not by 1: a counter can go *back* without vanishing (a failover
  to a replica that missed writes, a restart from an old RDB snapshot), and with
  steps of 1 the next writes would walk it back onto the very token a reader
  holds for the lost data, and that reader would not reload;
* it is missing (or holds something else): it is set to a fresh random value in
  [2**32, 2**62), never 1 or any small number a restarted counter could reach.
  Below 2**62 INCRBY cannot overflow (2**63 - 1) for about 2**31 changes; a
  counter that gets there is re-created the same way.

Randomness comes from the client (``secrets``), passed as arguments, so the
scripts stay deterministic for replication.
"""

from __future__ import annotations

import secrets
from typing import Any

SEED_LOW, SEED_HIGH = 2**32, 2**62
STEP_HIGH = 2**31

# KEYS: hash, counter. ARGV: seed, step, then each script's own (for the first
# three: the field, then the encoded value if any).
# The scripts read first and call bump() before changing the hash: an error
# reading (WRONGTYPE) then aborts them before anything is written.
# bump() also announces the change on a channel named after the counter (see
# push/redischannel.py): subscribers hear of it only once the script has ended.
_BUMP = """
local function bump()
  local raw = redis.call('GET', KEYS[2])
  if raw and string.match(raw, '^%d+$') and tonumber(raw) < 4611686018427387904 then
    redis.call('INCRBY', KEYS[2], ARGV[2])
  else
    redis.call('SET', KEYS[2], ARGV[1])
  end
  redis.call('PUBLISH', KEYS[2], '')
end
"""

SET = (
    _BUMP
    + """
bump()
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
return 1
"""
)

# Returns the removed value, or nil (changing nothing) when the field is absent.
POP = (
    _BUMP
    + """
local value = redis.call('HGET', KEYS[1], ARGV[3])
if not value then return false end
bump()
redis.call('HDEL', KEYS[1], ARGV[3])
return value
"""
)

# Returns the stored value; stores (and bumps) only when the field is absent.
SETDEFAULT = (
    _BUMP
    + """
local value = redis.call('HGET', KEYS[1], ARGV[3])
if value then return value end
bump()
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
return ARGV[4]
"""
)

# ARGV after seed and step: n, then n field/value pairs, then fields to delete.
# One bump for the lot, and none when nothing would change.
APPLY = (
    _BUMP
    + """
local n = tonumber(ARGV[3])
local gone = {}
for i = 4 + 2 * n, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then gone[#gone + 1] = ARGV[i] end
end
if n == 0 and #gone == 0 then return 0 end
bump()
for i = 4, 2 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for _, field in ipairs(gone) do redis.call('HDEL', KEYS[1], field) end
return 1
"""
)

# Deletes the whole hash, with one bump; nothing at all when it is empty.
CLEAR = (
    _BUMP
    + """
if redis.call('HLEN', KEYS[1]) == 0 then return 0 end
bump()
redis.call('DEL', KEYS[1])
return 1
"""
)


def fresh_seed() -> int:
    """A value for a counter that is missing: random in [2**32, 2**62)."""
    return SEED_LOW + secrets.randbelow(SEED_HIGH - SEED_LOW)


class ChangeScripts:
    """The scripts, registered on one client for one hash and counter.

    Registering computes each script's SHA locally; the first call on a server
    that does not know a script loads it (``SCRIPT LOAD``) and calls again."""

    def __init__(self, connection: Any, keyspace: str, counter_key: str) -> None:
        self.keys = [keyspace, counter_key]
        sources = (SET, POP, SETDEFAULT, APPLY, CLEAR)
        self._set, self._pop, self._setdefault, self._apply, self._clear = (
            connection.register_script(source) for source in sources
        )

    def set(self, field: str, encoded: Any) -> None:
        self._run(self._set, field, encoded)

    def pop(self, field: str) -> Any:
        """The removed value as stored, or ``None`` when *field* was absent."""
        return self._run(self._pop, field)

    def setdefault(self, field: str, encoded: Any) -> Any:
        """The value stored for *field* after the call, as stored."""
        return self._run(self._setdefault, field, encoded)

    def apply(self, updates: dict[str, Any], removals: list[str]) -> None:
        """Set every update and delete every removal, as one change."""
        pairs = [item for pair in updates.items() for item in pair]
        self._run(self._apply, len(updates), *pairs, *removals)

    def clear(self) -> None:
        self._run(self._clear)

    def _run(self, script: Any, *args: Any) -> Any:
        step = 1 + secrets.randbelow(STEP_HIGH)
        return script(keys=self.keys, args=[fresh_seed(), step, *args])
