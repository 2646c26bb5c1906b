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

The change log (incremental sync). Each change also appends one entry to a
stream (``keyspace + "changelog"``) whose ID is ``<counter after>-0`` and whose
fields are ``p <counter before>`` then ``k <field>`` for each field changed or
deleted (``c ""`` for a clear; a change of more than 1,000 fields continues in
entries ``<counter>-1``, ``-2``...). The stream is trimmed to ``MAXLEN`` entries.
A reader holding token T reads the entries after T and checks that they chain
(the first one's ``p`` is T, each next one's ``p`` the previous ID, the last ID
the counter now): then exactly those fields changed, and it ``HMGET``s just them,
all in one read-only script. Anything else (entries trimmed away, a counter that
was re-seeded, which also deletes the log, a write by the original durabledict,
which bumps the counter without logging, a flush) breaks the chain and the
reader reloads the whole hash. The hash and counter keep the original's layout.

Every change script returns ``{counter before, counter after, result}`` (the
counter as stored, as text): the writer patches its own snapshot only when the
counter before is the token it holds (base.py, rule 6).
"""

from __future__ import annotations

import secrets
from typing import Any

SEED_LOW, SEED_HIGH = 2**32, 2**62
STEP_HIGH = 2**31
#: Fields per change-log entry (Lua's unpack() takes a few thousand at most).
LOG_CHUNK = 1000

# KEYS: hash, counter, log. ARGV: seed, step, log length, then each script's own
# (for the first three: the field, then the encoded value if any).
# The scripts read first and call bump() before changing the hash: an error
# reading (WRONGTYPE) then aborts them before anything is written. bump() returns
# the counter before (false if it was missing or unusable) and after, as text
# (INCRBY's integer reply would be rounded to a Lua double). change() also
# announces the change on a channel named after the counter (see
# push/redischannel.py): subscribers hear of it only once the script has ended.
_BUMP = """
local function bump()
  local raw = redis.call('GET', KEYS[2])
  if raw and string.match(raw, '^%d+$') and tonumber(raw) < 4611686018427387904 then
    redis.call('INCRBY', KEYS[2], ARGV[2])
  else
    redis.call('SET', KEYS[2], ARGV[1])
    redis.call('DEL', KEYS[3])  -- a new counter starts a new log
    raw = false
  end
  return raw, redis.call('GET', KEYS[2])
end

local function xadd(id, fields)
  local args = {'XADD', KEYS[3], 'MAXLEN', ARGV[3], id}
  for _, item in ipairs(fields) do args[#args + 1] = item end
  local reply = redis.pcall(unpack(args))
  if type(reply) == 'table' and reply.err then
    -- An ID not above the log's last: the counter was moved under the log
    -- (deleted and re-created by a reader, set by hand). Start a new log.
    redis.call('DEL', KEYS[3])
    redis.call(unpack(args))
  end
end

-- Log one change: keys is a list of fields, or false for a clear.
local function log(before, after, keys)
  if ARGV[3] == '0' then return end
  if not keys then
    xadd(after .. '-0', {'p', before or '', 'c', ''})
    return
  end
  local part, fields = 0, {'p', before or ''}
  for i, key in ipairs(keys) do
    fields[#fields + 1] = 'k'
    fields[#fields + 1] = key
    if i % LOG_CHUNK == 0 or i == #keys then
      xadd(after .. '-' .. part, fields)
      part, fields = part + 1, {}
    end
  end
end

local function change(keys)
  local before, after = bump()
  log(before, after, keys)
  redis.call('PUBLISH', KEYS[2], '')
  return before, after
end
""".replace("LOG_CHUNK", str(LOG_CHUNK))

SET = (
    _BUMP
    + """
local before, after = change({ARGV[4]})
redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
return {before, after, 1}
"""
)

# The removed value, or nil (changing nothing) when the field is absent.
POP = (
    _BUMP
    + """
local value = redis.call('HGET', KEYS[1], ARGV[4])
if not value then
  local now = redis.call('GET', KEYS[2])
  return {now, now, false}
end
local before, after = change({ARGV[4]})
redis.call('HDEL', KEYS[1], ARGV[4])
return {before, after, value}
"""
)

# The stored value; stores (and bumps) only when the field is absent.
SETDEFAULT = (
    _BUMP
    + """
local value = redis.call('HGET', KEYS[1], ARGV[4])
if value then
  local now = redis.call('GET', KEYS[2])
  return {now, now, value}
end
local before, after = change({ARGV[4]})
redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
return {before, after, ARGV[5]}
"""
)

# The work of a bulk change, its arguments from ARGV[first]: n, then n field/value
# pairs, then fields to delete. One bump for the lot, and none when nothing would
# change. Shared by APPLY and CHECKED_APPLY.
_APPLY_FROM = """
local function apply_from(first)
  local n = tonumber(ARGV[first])
  local keys, gone = {}, {}
  for i = first + 1, first - 1 + 2 * n, 2 do keys[#keys + 1] = ARGV[i] end
  for i = first + 1 + 2 * n, #ARGV do
    if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
      gone[#gone + 1] = ARGV[i]
      keys[#keys + 1] = ARGV[i]
    end
  end
  if #keys == 0 then
    local now = redis.call('GET', KEYS[2])
    return {now, now, 0}
  end
  local before, after = change(keys)
  for i = first + 1, first - 1 + 2 * n, 2 do
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
  for _, field in ipairs(gone) do redis.call('HDEL', KEYS[1], field) end
  return {before, after, 1}
end
"""

# ARGV after seed, step and log length: the bulk change (see _APPLY_FROM).
APPLY = _BUMP + _APPLY_FROM + "return apply_from(4)\n"

# A checked changeset: APPLY, if the counter still holds the token the changeset
# was based on. ARGV after seed, step and log length: the expected counter ('' for
# missing), 'all' or 'some', k, k fields to report, then APPLY's arguments.
# Applied, it returns what APPLY does; otherwise it changes nothing and returns
# {'conflict', counter, values}: the fields' values (the whole hash for 'all') at
# that counter, for the client to compare and send again.
CHECKED_APPLY = (
    _BUMP
    + _APPLY_FROM
    + """
local counter = redis.call('GET', KEYS[2]) or ''
if counter ~= ARGV[4] then
  if ARGV[5] == 'all' then
    return {'conflict', counter, redis.call('HGETALL', KEYS[1])}
  end
  local values = {}
  for i = 1, tonumber(ARGV[6]) do
    values[i] = redis.call('HGET', KEYS[1], ARGV[6 + i])
  end
  return {'conflict', counter, values}
end
return apply_from(7 + tonumber(ARGV[6]))
"""
)
#: The first item of CHECKED_APPLY's reply when the counter had moved on.
CONFLICT = "conflict"

# Deletes the whole hash, with one bump; nothing at all when it is empty.
CLEAR = (
    _BUMP
    + """
if redis.call('HLEN', KEYS[1]) == 0 then
  local now = redis.call('GET', KEYS[2])
  return {now, now, 0}
end
local before, after = change(false)
redis.call('DEL', KEYS[1])
return {before, after, 1}
"""
)

# The reader's side: KEYS as above; ARGV: the token held, the most fields worth
# fetching. Returns {counter, fields, values, cleared} (a value nil: deleted;
# cleared 1: the hash was cleared in between, so every key not in fields is
# gone), or {nil} when the log cannot say what changed: reload everything.
# Read-only, so it runs on replicas and under a user allowed only reads and
# EVALSHA.
CHANGES = """#!lua flags=no-writes
local now = redis.call('GET', KEYS[2])
if not now or not string.match(now, '^%d+$') then return {false} end
if not string.match(ARGV[1], '^%d+$') then return {false} end
if now == ARGV[1] then return {now, {}, {}, 0} end
-- Every entry after all of the held change's own entries.
local entries = redis.pcall('XRANGE', KEYS[3], ARGV[1] .. '-18446744073709551615', '+')
if entries.err then return {false} end
local expect, seen, fields, cleared = ARGV[1], {}, {}, 0
local most = tonumber(ARGV[2])
for _, entry in ipairs(entries) do
  local id, items = entry[1], entry[2]
  local counter, part = string.match(id, '^(%d+)-(%d+)$')
  local first = 1
  if part == '0' then
    if items[1] ~= 'p' or items[2] ~= expect then return {false} end
    expect, first = counter, 3
  elseif counter ~= expect then
    return {false}
  end
  for i = first, #items, 2 do
    if items[i] == 'c' then  -- a clear: every key before it is gone
      seen, fields, cleared = {}, {}, 1
    elseif items[i] ~= 'k' then
      return {false}
    elseif not seen[items[i + 1]] then
      seen[items[i + 1]] = true
      fields[#fields + 1] = items[i + 1]
    end
  end
  if #fields > most then return {false} end
end
if expect ~= now then return {false} end
local values = {}
for i = 1, #fields, 1000 do
  local last = math.min(i + 999, #fields)
  local chunk = redis.call('HMGET', KEYS[1], unpack(fields, i, last))
  for j = 1, #chunk do values[#values + 1] = chunk[j] end
end
return {now, fields, values, cleared}
"""

SOURCES = (SET, POP, SETDEFAULT, APPLY, CLEAR, CHANGES, CHECKED_APPLY)

#: Change-log entries kept per dict, by default.
DEFAULT_CHANGELOG_LENGTH = 1000


def fresh_seed() -> int:
    """A value for a counter that is missing: random in [2**32, 2**62)."""
    return SEED_LOW + secrets.randbelow(SEED_HIGH - SEED_LOW)


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


class ChangeScripts:
    """The scripts, registered on one client for one hash, counter and log.

    Registering computes each script's SHA locally; the first call on a server
    that does not know a script loads it (``SCRIPT LOAD``) and calls again.
    Each change returns ``(counter before, counter after, result)``, the
    counters as ``str`` (``None`` when missing)."""

    def __init__(
        self,
        connection: Any,
        keys: list[str],
        log_length: int = DEFAULT_CHANGELOG_LENGTH,
    ) -> None:
        self.keys = list(keys)
        self.log_length = log_length
        (
            self._set,
            self._pop,
            self._setdefault,
            self._apply,
            self._clear,
            self._changes,
            self._checked_apply,
        ) = (connection.register_script(self.source(text)) for text in SOURCES)

    def source(self, text: str) -> str:
        """The Lua source registered for *text* (the tests wrap it)."""
        return text

    def set(self, field: str, encoded: Any) -> tuple[Any, Any, Any]:
        return self._run(self._set, field, encoded)

    def pop(self, field: str) -> tuple[Any, Any, Any]:
        """The result is the removed value as stored, or ``None`` when absent."""
        return self._run(self._pop, field)

    def setdefault(self, field: str, encoded: Any) -> tuple[Any, Any, Any]:
        """The result is the value stored for *field* after the call, as stored."""
        return self._run(self._setdefault, field, encoded)

    def apply(self, updates: dict[str, Any], removals: list[str]):
        """Set every update and delete every removal, as one change."""
        pairs = [item for pair in updates.items() for item in pair]
        return self._run(self._apply, len(updates), *pairs, *removals)

    def checked_apply(
        self,
        updates: dict[str, Any],
        removals: list[str],
        counter: str,
        fields: list[str] | None,
    ) -> Any:
        """``apply`` if the counter still holds *counter*, with its reply. Otherwise
        ``(CONFLICT, counter, values)``, changing nothing: the stored values of
        *fields* (``None``: a flat HGETALL of every field)."""
        mode, fields = ("all", []) if fields is None else ("some", fields)
        pairs = [item for pair in updates.items() for item in pair]
        args = [counter, mode, len(fields), *fields, len(updates), *pairs, *removals]
        return self._run(self._checked_apply, *args)

    def clear(self) -> tuple[Any, Any, Any]:
        return self._run(self._clear)

    def changes(self, since: str, most: int) -> tuple[Any, list, list, bool] | None:
        """``(counter, fields, values, cleared)`` changed since the counter
        *since* (a value ``None``: deleted; *cleared*: every other field is gone
        too), or ``None`` when a full reload is needed."""
        reply = self._changes(keys=self.keys, args=[since, most])
        if reply[0] is None:
            return None
        fields = [_text(field) for field in reply[1]]
        return _text(reply[0]), fields, reply[2], bool(reply[3])

    def _run(self, script: Any, *args: Any) -> tuple[Any, Any, Any]:
        step = 1 + secrets.randbelow(STEP_HIGH)
        args = (fresh_seed(), step, self.log_length, *args)
        before, after, result = script(keys=self.keys, args=args)
        return _text(before), _text(after), result
