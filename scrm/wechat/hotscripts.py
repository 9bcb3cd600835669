"""The hot path's two Redis round trips as Lua scripts: one EVALSHA each instead of a pipeline.

A script is atomic, so each step's commands see one consistent Redis; and one command costs
redis-py a fraction of the Python time a pipeline of five spends packing and parsing.
"""

from __future__ import annotations

from typing import Any

import redis as redis_lib

# KEYS: claim, lock, conversation, profile, version tokens...
# ARGV: pending marker, claim TTL (s), lock token, lock TTL (ms)
# Returns {claimed, locked, conversation, profile, token...} (absent values as nil).
BEGIN = """
local claimed = redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) and 1 or 0
local locked = redis.call('set', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) and 1 or 0
if locked == 1 and claimed == 0 then
  redis.call('del', KEYS[2])
  locked = 0
end
local out = {claimed, locked, redis.call('get', KEYS[3]), redis.call('get', KEYS[4])}
for i = 5, #KEYS do
  out[i] = redis.call('get', KEYS[i])
end
return out
"""

# KEYS: claim, conversation, profile, lock
# ARGV: claim op ('set' | 'del' | ''), reply body, claim TTL (s),
#       conversation op ('set' | 'del' | ''), conversation JSON, conversation TTL (ms),
#       profile op ('cas' | ''), profile read ('' = absent), profile to set, profile TTL (s),
#       lock token
FINISH = """
if ARGV[1] == 'set' then
  redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3])
elseif ARGV[1] == 'del' then
  redis.call('del', KEYS[1])
end
if ARGV[4] == 'set' then
  redis.call('set', KEYS[2], ARGV[5], 'PX', ARGV[6])
elseif ARGV[4] == 'del' then
  redis.call('del', KEYS[2])
end
if ARGV[7] == 'cas' then
  local v = redis.call('get', KEYS[3])
  if (v == false and ARGV[8] == '') or v == ARGV[8] then
    redis.call('set', KEYS[3], ARGV[9], 'EX', ARGV[10])
  end
end
if redis.call('get', KEYS[4]) == ARGV[11] then
  redis.call('del', KEYS[4])
end
return 1
"""


class Script:
    """One Lua script run by EVALSHA, re-sent with EVAL when Redis forgot it (a restart or flush)."""

    def __init__(self, redis: redis_lib.Redis, source: str) -> None:
        self.redis, self.source = redis, source
        self.sha: str | None = None

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        """Run the script; the reply as redis-py returns it."""
        sha = self.sha
        if sha is None:
            sha = self.sha = str(self.redis.script_load(self.source))
        try:
            return self.redis.evalsha(sha, len(keys), *keys, *args)
        except redis_lib.exceptions.NoScriptError:
            self.sha = None
            return self.redis.eval(self.source, len(keys), *keys, *args)
